package collective_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/kizuna-hpc/kizuna/collective"
	"github.com/kizuna-hpc/kizuna/collective/reduce"
	"github.com/kizuna-hpc/kizuna/collective/schedule"
	"github.com/kizuna-hpc/kizuna/internal/oracle"
	"github.com/kizuna-hpc/kizuna/transport"
	"github.com/kizuna-hpc/kizuna/transport/faulty"
)

// soakOp is one step of the soak: a collective case, or (p2p) a ring of
// Send/Recv of P2PBytes bytes.
type soakOp struct {
	tc       oracle.Case
	p2p      bool
	p2pBytes int
}

// soakOps draws the soak's operations from seed: every collective, random
// algorithms (AlgoAuto included), dtypes, reductions, counts, roots and
// in-place, and an occasional Send/Recv ring.
func soakOps(seed uint64, total, size int) []soakOp {
	rng := rand.New(rand.NewPCG(seed, 0))
	counts := []int{0, 1, 7, size + 1, 1000, 4099, 20000}
	ops := make([]soakOp, total)
	for i := range ops {
		if rng.IntN(10) == 0 {
			ops[i] = soakOp{p2p: true, p2pBytes: rng.IntN(100000)}
			continue
		}
		coll := allColls[rng.IntN(len(allColls))]
		algos := append([]Algo{AlgoAuto}, Available(coll)...)
		tc := oracle.Case{
			Coll:    coll,
			Algo:    algos[rng.IntN(len(algos))],
			DType:   allDTypes[rng.IntN(len(allDTypes))],
			Op:      allOps[rng.IntN(len(allOps))],
			Count:   counts[rng.IntN(len(counts))],
			Root:    rng.IntN(size),
			InPlace: rng.IntN(2) == 0,
		}
		if coll == schedule.Barrier {
			tc.Count, tc.InPlace = 0, false
		}
		ops[i] = soakOp{tc: tc}
	}
	return ops
}

// soakStep runs op i on c and checks its answer. A wrong answer is
// reported as wrong (never expected); a failed operation returns its error.
func soakStep(ctx context.Context, c *Comm, op soakOp, seed uint64) (wrong, err error) {
	if op.p2p {
		n, r := c.Size(), c.Rank()
		msg := make([]byte, op.p2pBytes)
		reduce.Fill(Uint8, msg, r, seed, Sum)
		got := make([]byte, op.p2pBytes)
		next, prev := (r+1)%n, (r+n-1)%n
		if err := c.SendBytes(ctx, msg, Uint8, next, 9); err != nil {
			return nil, err
		}
		if err := c.RecvBytes(ctx, got, Uint8, prev, 9); err != nil {
			return nil, err
		}
		want := make([]byte, op.p2pBytes)
		reduce.Fill(Uint8, want, prev, seed, Sum)
		if !bytes.Equal(got, want) {
			return fmt.Errorf("recv from rank %d: wrong bytes", prev), nil
		}
		return nil, nil
	}
	got, err := oracle.Do(ctx, c, op.tc, seed)
	if err != nil {
		return nil, err
	}
	want := oracle.Expected(op.tc, c.Rank(), c.Size(), seed)
	if i, ok := reduce.Equal(op.tc.DType, got, want); len(got) != len(want) || !ok {
		return fmt.Errorf("%v on rank %d of %d: wrong at element %d", op.tc, c.Rank(), c.Size(), i), nil
	}
	return nil, nil
}

// documented reports whether err is one of the errors the package
// documents for a fault: a lost or dropped peer, a corrupted payload, an
// announced failure, or the broken communicator they leave; and it must
// name a rank.
func documented(err error) bool {
	var (
		oe *OpError
		re *RemoteError
		pe *transport.PeerError
	)
	if !errors.As(err, &oe) || !strings.Contains(err.Error(), "rank ") {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return false // a fault must be detected, not waited out
	}
	return errors.Is(err, ErrCorrupt) || errors.Is(err, ErrBroken) || errors.As(err, &re) || errors.As(err, &pe)
}

// soakLen is the number of operations of TestSoak: KIZUNA_SOAK_OPS, else a
// few hundred (enough to hit every kind of fault several times, fast
// enough under -race on two cores).
func soakLen(t *testing.T) int {
	if v := os.Getenv("KIZUNA_SOAK_OPS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("KIZUNA_SOAK_OPS=%q: want a positive count", v)
		}
		return n
	}
	return 300
}

// TestSoak runs thousands of random operations (KIZUNA_SOAK_OPS; 300 by
// default) on 4 goroutine ranks through a fault-injecting transport, from
// a fixed seed (KIZUNA_SOAK_SEED to vary it): frames are delayed, links
// dropped and payloads corrupted (with checksums on). Every operation
// either returns the oracle's answer or fails on every rank that has not
// finished it with a documented error naming a rank, promptly (never by
// the timeout). After a dropped link the ranks build a new set of
// communicators; after a corruption (nobody lost) they Shrink the broken
// communicator, which keeps every rank (no faults are injected into the
// agreement unless KIZUNA_SOAK_SHRINK_FAULTS=1; then Shrink may fail with a
// documented error, and they start over). Goroutines and heap stay flat.
func TestSoak(t *testing.T) {
	const n = 4
	total := soakLen(t)
	seed := uint64(1)
	if v := os.Getenv("KIZUNA_SOAK_SEED"); v != "" {
		s, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("KIZUNA_SOAK_SEED=%q: %v", v, err)
		}
		seed = s
	}
	ops := soakOps(seed, total, n)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	goroutines := runtime.NumGoroutine()
	var (
		heapMid     uint64
		rebuilds    int
		shrinks     int
		shrinkFails int
		failedOps   int
		faultsTotal faulty.Stats
	)
	start := time.Now()
	next := 0
	for epoch := 0; next < total; epoch++ {
		fab := faulty.New(n, faulty.Config{
			Seed: seed + uint64(epoch), DelayProb: 0.01, MaxDelay: 2 * time.Millisecond,
			DropProb: 0.002, CorruptProb: 0.002,
		})
		fab.SetArmed(false) // start cleanly
		comms, err := NewLocalWrapped(ctx, n, func(_ int, c *Config) {
			c.Checksum = ChecksumCRC32C
			c.Timeout = 20 * time.Second
		}, func(ep transport.Endpoint) (transport.Endpoint, error) { return fab.Wrap(ep) })
		if err != nil {
			t.Fatalf("epoch %d: %v", epoch, err)
		}
		fab.SetArmed(true)
		cur := comms
		for next < total {
			// Every rank runs the sequence on its own, as a program would.
			reached := make([]int, n)
			errs := make([]error, n)
			var wg sync.WaitGroup
			for r, c := range cur {
				wg.Add(1)
				go func() {
					defer wg.Done()
					i := next
					for ; i < total; i++ {
						wrong, err := soakStep(ctx, c, ops[i], seed+uint64(i))
						if wrong != nil {
							t.Errorf("op %d: %v", i, wrong)
						}
						if err != nil {
							errs[r] = fmt.Errorf("op %d: %w", i, err)
							break
						}
					}
					reached[r] = i
				}()
			}
			wg.Wait()
			if t.Failed() {
				t.FailNow()
			}
			low, lost := total, false
			for r, err := range errs {
				low = min(low, reached[r])
				if err == nil {
					continue
				}
				failedOps++
				if !documented(err) {
					t.Fatalf("rank %d: %v; want a documented fault error naming a rank", r, err)
				}
				if errors.Is(err, faulty.ErrDropped) {
					lost = true
				}
				var re *RemoteError
				if errors.As(err, &re) && re.Lost >= 0 {
					lost = true
				}
			}
			if next < total && low == total {
				next = total
				break
			}
			// The ranks that failed stopped at the op they failed in; the
			// others may have finished it. Start again where the first
			// rank stopped, on a working communicator.
			next = low
			if heapMid == 0 && next > total/3 {
				heapMid = heapInuse()
			}
			// A dropped link that a rank's first error did not name
			// (another fault got there first) still leaves two ranks
			// unable to talk: start over on a new fabric then too.
			if lost || fab.Stats().Dropped > 0 {
				rebuilds++
				break
			}
			shrinks++
			shrunk := make([]*Comm, n)
			serrs := make([]error, n)
			// Faults during the agreement itself are left out unless
			// KIZUNA_SOAK_SHRINK_FAULTS=1: Shrink then fails (or, rarely,
			// a rank waits for its timeout; see Shrink's documentation).
			fab.SetArmed(os.Getenv("KIZUNA_SOAK_SHRINK_FAULTS") == "1")
			for r, c := range cur {
				wg.Add(1)
				go func() {
					defer wg.Done()
					shrunk[r], serrs[r] = c.Shrink(ctx)
				}()
			}
			wg.Wait()
			fab.SetArmed(true)
			if err := errors.Join(serrs...); err != nil {
				// A fault hit the agreement itself: the ranks that saw it
				// gave up with a documented error, promptly, and broke the
				// new communicator of any that had finished; start over.
				for r, err := range serrs {
					if err == nil {
						buf := []int32{1}
						if aerr := AllReduce(ctx, shrunk[r], buf, buf, Sum); aerr == nil || !documented(aerr) {
							t.Fatalf("rank %d: AllReduce on a communicator whose Shrink failed elsewhere = %v; want a documented fault error", r, aerr)
						}
						continue
					}
					if !documented(err) {
						t.Fatalf("Shrink after a corruption, rank %d: %v; want success or a documented fault error (every rank: %v)", r, err, serrs)
					}
				}
				shrinkFails++
				rebuilds++
				break
			}
			for r := range shrunk {
				if shrunk[r].Size() != n || shrunk[r].Rank() != r {
					t.Fatalf("Shrink with nobody lost = rank %d of %d; want %d of %d", shrunk[r].Rank(), shrunk[r].Size(), r, n)
				}
			}
			cur = shrunk
		}
		st := fab.Stats()
		faultsTotal.Frames += st.Frames
		faultsTotal.Delayed += st.Delayed
		faultsTotal.Dropped += st.Dropped
		faultsTotal.Corrupted += st.Corrupted
		for _, c := range comms {
			c.Close()
		}
	}
	heapEnd := heapInuse()
	t.Logf("%d ops in %v: %d frames, %d delayed, %d links dropped (%d rebuilds), %d corrupted (%d shrinks, %d of them hit by a fault themselves), %d rank-operations failed with documented errors; heap in use %d KiB at a third, %d KiB at the end",
		total, time.Since(start).Round(time.Millisecond), faultsTotal.Frames, faultsTotal.Delayed, faultsTotal.Dropped, rebuilds, faultsTotal.Corrupted, shrinks, shrinkFails, failedOps, heapMid>>10, heapEnd>>10)
	if heapMid > 0 && heapEnd > heapMid+64<<20 {
		t.Errorf("heap in use grew from %d KiB to %d KiB over the soak; want flat", heapMid>>10, heapEnd>>10)
	}
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > goroutines && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if g := runtime.NumGoroutine(); g > goroutines {
		t.Errorf("goroutines: %d before the soak, %d after; want no more", goroutines, g)
	}
}

func heapInuse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}
