package collective_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	. "github.com/kizuna-hpc/kizuna/collective"
	"github.com/kizuna-hpc/kizuna/collective/schedule"
	"github.com/kizuna-hpc/kizuna/internal/oracle"
)

var allDTypes = []DType{Float32, Float64, Float16, BFloat16, Int8, Uint8, Int32, Int64}
var allOps = []Op{Sum, Prod, Min, Max, Avg}
var allColls = []schedule.Coll{
	schedule.AllReduce, schedule.Broadcast, schedule.Reduce, schedule.AllGather, schedule.ReduceScatter,
	schedule.AllToAll, schedule.Gather, schedule.Scatter, schedule.Barrier,
}

func isReduction(c schedule.Coll) bool {
	return c == schedule.AllReduce || c == schedule.Reduce || c == schedule.ReduceScatter
}

// casesFor lists the oracle matrix for one world size.
func casesFor(size int, counts []int, dtypes []DType, ops []Op, inPlace bool) []oracle.Case {
	var out []oracle.Case
	for _, coll := range allColls {
		for _, algo := range Available(coll) {
			for _, count := range counts {
				if coll == schedule.Barrier && count != 0 {
					continue
				}
				for _, dt := range dtypes {
					for _, op := range ops {
						if !isReduction(coll) && op != ops[0] {
							continue
						}
						roots := []int{0}
						if size > 1 && (coll == schedule.Broadcast || coll == schedule.Reduce || coll == schedule.Gather || coll == schedule.Scatter) {
							roots = append(roots, size-1)
						}
						for _, root := range roots {
							out = append(out, oracle.Case{Coll: coll, Algo: algo, DType: dt, Op: op, Count: count, Root: root})
							if inPlace && coll != schedule.Barrier {
								out = append(out, oracle.Case{Coll: coll, Algo: algo, DType: dt, Op: op, Count: count, Root: root, InPlace: true})
							}
						}
					}
				}
			}
		}
	}
	return out
}

// runCases runs every case on n local ranks over transport and fails t on
// the first wrong answer.
func runCases(t *testing.T, transport string, n int, cases []oracle.Case) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	err := RunLocal(ctx, n, func(ctx context.Context, c *Comm) error {
		for i, tc := range cases {
			if err := oracle.Check(ctx, c, tc, uint64(i)+1); err != nil {
				return err
			}
		}
		return nil
	}, WithTransport(transport), WithConfig(func(cfg *Config) { cfg.ChunkBytes = 4096 }))
	if err != nil {
		t.Fatal(err)
	}
}

var worldSizes = []int{1, 2, 3, 4, 5, 7, 8}

// TestOracleMatrix: every collective x algorithm x world size x small
// count (0, 1, size-1, size+1) x in-place, float32 sum, over inproc and TCP.
func TestOracleMatrix(t *testing.T) {
	for _, tr := range []string{TransportInproc, TransportTCP} {
		for _, n := range worldSizes {
			t.Run(fmt.Sprintf("%s/np=%d", tr, n), func(t *testing.T) {
				counts := []int{0, 1, max(n-1, 0), n + 1, 1000}
				runCases(t, tr, n, casesFor(n, counts, []DType{Float32}, []Op{Sum}, true))
			})
		}
	}
}

// TestOracleTypes: every dtype x op for the reducing collectives and every
// dtype for the others: over inproc at every world size and the small
// counts, over TCP at uneven counts.
func TestOracleTypes(t *testing.T) {
	for _, n := range worldSizes {
		t.Run(fmt.Sprintf("inproc/np=%d", n), func(t *testing.T) {
			runCases(t, TransportInproc, n, casesFor(n, []int{0, 1, max(n-1, 0), n + 1}, allDTypes, allOps, false))
		})
	}
	for _, n := range []int{3, 4} {
		t.Run(fmt.Sprintf("tcp/np=%d", n), func(t *testing.T) {
			runCases(t, TransportTCP, n, casesFor(n, []int{n + 1, 257}, allDTypes, allOps, false))
		})
	}
}

// TestOracleLarge: counts near 10^5 and 10^6 (primes) for every collective
// and algorithm.
func TestOracleLarge(t *testing.T) {
	counts := []int{100003}
	if !testing.Short() {
		counts = append(counts, 1000003)
	}
	for _, tr := range []string{TransportInproc, TransportTCP} {
		for _, n := range []int{4, 5} {
			t.Run(fmt.Sprintf("%s/np=%d", tr, n), func(t *testing.T) {
				var cases []oracle.Case
				for _, tc := range casesFor(n, counts, []DType{Float32}, []Op{Sum}, false) {
					big := tc.Count > 200000
					// The 10^6 case once per (collective, algorithm): per-rank blocks
					// of AllGather-like collectives are already n times larger.
					if big && (tr == TransportTCP || n != 4 || tc.Root != 0) {
						continue
					}
					cases = append(cases, tc)
				}
				runCases(t, tr, n, cases)
			})
		}
	}
}
