package collective

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// vcounts returns the count patterns tested at size n: uneven, with zeros
// for some ranks, all zero, everything on one rank.
func vcounts(n int, rng *rand.Rand) [][]int {
	uneven := make([]int, n)
	zeros := make([]int, n)
	for i := range uneven {
		uneven[i] = rng.IntN(40)
		if i%3 == 1 {
			zeros[i] = 0
		} else {
			zeros[i] = 1 + rng.IntN(70)
		}
	}
	one := make([]int, n)
	one[n-1] = 57
	return [][]int{uneven, zeros, make([]int, n), one}
}

// TestVCollectivesOracle: AllGatherV and ReduceScatterV against a
// sequential oracle at several world sizes, counts with zeros, in and out
// of place, over both transports, with a chunk size small enough to
// pipeline.
func TestVCollectivesOracle(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	for _, tr := range []string{TransportInproc, TransportTCP, TransportShm} {
		for _, n := range []int{1, 2, 3, 4, 5, 7} {
			cases := vcounts(n, rng)
			t.Run(fmt.Sprintf("%s/n=%d", tr, n), func(t *testing.T) {
				err := RunLocal(context.Background(), n, func(ctx context.Context, c *Comm) error {
					r := c.Rank()
					for _, counts := range cases {
						total, displ := 0, 0
						for i, k := range counts {
							if i == r {
								displ = total
							}
							total += k
						}
						// input of rank q, element i
						val := func(q, i int) float64 { return float64(1000*q + i + 1) }
						for _, inPlace := range []bool{false, true} {
							// AllGatherV: block q of the result is rank q's input.
							want := make([]float64, 0, total)
							for q, k := range counts {
								for i := range k {
									want = append(want, val(q, i))
								}
							}
							recv := make([]float64, total)
							send := make([]float64, counts[r])
							if inPlace {
								send = recv[displ : displ+counts[r]]
							}
							for i := range send {
								send[i] = val(r, i)
							}
							if err := AllGatherV(ctx, c, send, recv, counts); err != nil {
								return err
							}
							if !slices.Equal(recv, want) {
								return fmt.Errorf("AllGatherV(counts=%v, inPlace=%v) = %v; want %v", counts, inPlace, recv, want)
							}
							// ReduceScatterV: element i of the result is the sum over ranks.
							in := make([]float64, total)
							for i := range in {
								in[i] = val(r, i)
							}
							wantRS := make([]float64, counts[r])
							for i := range wantRS {
								for q := range n {
									wantRS[i] += val(q, displ+i)
								}
							}
							out := make([]float64, counts[r])
							if inPlace {
								out = in[displ : displ+counts[r]]
							}
							if err := ReduceScatterV(ctx, c, in, out, counts, Sum); err != nil {
								return err
							}
							if !slices.Equal(out, wantRS) {
								return fmt.Errorf("ReduceScatterV(counts=%v, inPlace=%v) = %v; want %v", counts, inPlace, out, wantRS)
							}
						}
						// Integer average truncates like the equal-block form.
						in := make([]int32, total)
						for i := range in {
							in[i] = int32(r*7 + i)
						}
						out := make([]int32, counts[r])
						if err := ReduceScatterV(ctx, c, in, out, counts, Avg); err != nil {
							return err
						}
						for i := range out {
							var s int32
							for q := range n {
								s += int32(q*7 + displ + i)
							}
							if out[i] != s/int32(n) {
								return fmt.Errorf("ReduceScatterV(Avg, counts=%v)[%d] = %d; want %d", counts, i, out[i], s/int32(n))
							}
						}
					}
					return nil
				}, WithTransport(tr), WithConfig(func(cfg *Config) { cfg.ChunkBytes = 64 }))
				if err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}

// TestVCollectivesMisuse: bad counts and buffers fail at once with
// ErrInvalid; counts that differ between ranks fail with ErrMismatch.
func TestVCollectivesMisuse(t *testing.T) {
	errs := eachRank(t, TransportInproc, 2, 10*time.Second, func(ctx context.Context, c *Comm) error {
		f := make([]float32, 8)
		tests := []struct {
			name string
			call func() error
		}{
			{"short counts", func() error { return AllGatherV(ctx, c, f[:2], f[:4], []int{2}) }},
			{"negative count", func() error { return AllGatherV(ctx, c, f[:2], f[:4], []int{-1, 5}) }},
			{"send length", func() error { return AllGatherV(ctx, c, f[:3], f[:4], []int{2, 2}) }},
			{"recv length", func() error { return ReduceScatterV(ctx, c, f[:4], f[:1], []int{2, 2}, Sum) }},
			{"overlap", func() error { return AllGatherV(ctx, c, f[1:3], f[:4], []int{2, 2}) }},
			{"algo", func() error { return AllGatherV(ctx, c, f[:2], f[4:8], []int{2, 2}, WithAlgo(Tree)) }},
		}
		for _, tt := range tests {
			if err := tt.call(); !errors.Is(err, ErrInvalid) {
				return fmt.Errorf("%s: err = %v; want ErrInvalid", tt.name, err)
			}
		}
		// Same total, different split: the counts digest tells them apart.
		counts := []int{3, 1}
		if c.Rank() == 1 {
			counts = []int{2, 2}
		}
		in := make([]float32, 4)
		return ReduceScatterV(ctx, c, in, make([]float32, counts[c.Rank()]), counts, Sum)
	})
	for r, err := range errs {
		if !errors.Is(err, ErrMismatch) {
			t.Errorf("rank %d: err = %v; want ErrMismatch", r, err)
		}
	}
}

// TestVSteadyStateAllocs: repeating a per-rank-count call, or a collective
// on a split communicator, allocates nothing once the schedule is cached.
func TestVSteadyStateAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector's sync.Pool drops items at random; run without -race")
	}
	const runs = 50
	var avg [3]float64
	err := RunLocal(context.Background(), 3, func(ctx context.Context, c *Comm) error {
		sub, err := c.Split(ctx, 0, -c.Rank())
		if err != nil {
			return err
		}
		defer sub.Close()
		counts := []int{3000, 0, 1234}
		in := make([]float32, 4234)
		out := make([]float32, counts[c.Rank()])
		calls := []func() error{
			func() error { return ReduceScatterV(ctx, c, in, out, counts, Sum) },
			func() error { return AllGatherV(ctx, c, out, in, counts) },
			func() error { return AllReduce(ctx, sub, in, in, Sum) },
		}
		for k, call := range calls {
			var err error
			f := func() {
				if e := call(); e != nil && err == nil {
					err = e
				}
			}
			for range 3 {
				f()
			}
			if err := c.Barrier(ctx); err != nil {
				return err
			}
			if c.Rank() == 0 {
				avg[k] = testing.AllocsPerRun(runs, f)
			} else {
				for range runs + 1 {
					f()
				}
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for k, name := range []string{"ReduceScatterV", "AllGatherV", "AllReduce on a split communicator"} {
		if avg[k] >= 1 {
			t.Errorf("%s allocates %v times per call in steady state; want 0", name, avg[k])
		}
	}
}
