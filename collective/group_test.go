package collective

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/kizuna-hpc/kizuna/collective/schedule"
)

// members returns, on every rank of c, the world ranks of c's members in
// c's rank order (an all-gather of each member's world rank).
func members(ctx context.Context, c *Comm, world int) ([]int, error) {
	all := make([]int64, c.Size())
	if err := AllGather(ctx, c, []int64{int64(world)}, all); err != nil {
		return nil, err
	}
	out := make([]int, len(all))
	for i, v := range all {
		out[i] = int(v)
	}
	return out, nil
}

// TestSplit: ranks with equal colors form a communicator ordered by (key,
// old rank) whose collectives reach exactly its members; NoColor opts out.
func TestSplit(t *testing.T) {
	tests := []struct {
		name  string
		n     int
		color func(r int) int
		key   func(r int) int
		want  map[int][]int // color -> world ranks in new rank order
	}{
		{"halves", 4, func(r int) int { return r / 2 }, func(r int) int { return 0 },
			map[int][]int{0: {0, 1}, 1: {2, 3}}},
		{"parity reversed keys", 5, func(r int) int { return r % 2 }, func(r int) int { return -r },
			map[int][]int{0: {4, 2, 0}, 1: {3, 1}}},
		{"equal keys keep rank order", 3, func(r int) int { return 7 }, func(r int) int { return 1 },
			map[int][]int{7: {0, 1, 2}}},
		{"no color", 5, func(r int) int {
			if r == 1 || r == 3 {
				return NoColor
			}
			return 0
		}, func(r int) int { return 0 }, map[int][]int{0: {0, 2, 4}}},
		{"singletons", 3, func(r int) int { return r }, func(r int) int { return 0 },
			map[int][]int{0: {0}, 1: {1}, 2: {2}}},
	}
	for _, tr := range []string{TransportInproc, TransportTCP, TransportShm} {
		for _, tt := range tests {
			t.Run(tr+"/"+tt.name, func(t *testing.T) {
				err := RunLocal(context.Background(), tt.n, func(ctx context.Context, c *Comm) error {
					r := c.Rank()
					sub, err := c.Split(ctx, tt.color(r), tt.key(r))
					if err != nil {
						return err
					}
					if tt.color(r) == NoColor {
						if sub != nil {
							return fmt.Errorf("Split(NoColor) = %v; want nil", sub)
						}
						y := []int64{1}
						if err := AllReduce(ctx, c, y, y, Sum); err != nil {
							return err
						}
						return c.Barrier(ctx)
					}
					defer sub.Close()
					want := tt.want[tt.color(r)]
					got, err := members(ctx, sub, r)
					if err != nil {
						return err
					}
					if !slices.Equal(got, want) {
						return fmt.Errorf("Split(%d, %d) members = %v; want %v", tt.color(r), tt.key(r), got, want)
					}
					if sub.Size() != len(want) || want[sub.Rank()] != r {
						return fmt.Errorf("Split: rank %d of %d; want position of %d in %v", sub.Rank(), sub.Size(), r, want)
					}
					// A reduction over the child sums exactly its members.
					x := []int64{int64(1 + r)}
					if err := AllReduce(ctx, sub, x, x, Sum); err != nil {
						return err
					}
					var sum int64
					for _, w := range want {
						sum += int64(1 + w)
					}
					if x[0] != sum {
						return fmt.Errorf("AllReduce over %v = %d; want %d", want, x[0], sum)
					}
					// The parent still works after (and alongside) the child.
					y := []int64{1}
					if err := AllReduce(ctx, c, y, y, Sum); err != nil {
						return err
					}
					if y[0] != int64(tt.n) {
						return fmt.Errorf("parent AllReduce = %d; want %d", y[0], tt.n)
					}
					return c.Barrier(ctx)
				}, WithTransport(tr))
				if err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}

// TestSplitNested: a split of a split has its own id and numbering, and
// the p2p and collective traffic of parent, child and grandchild do not mix.
func TestSplitNested(t *testing.T) {
	err := RunLocal(context.Background(), 6, func(ctx context.Context, c *Comm) error {
		r := c.Rank()
		half, err := c.Split(ctx, r/3, r) // {0,1,2} {3,4,5}
		if err != nil {
			return err
		}
		defer half.Close()
		pair, err := half.Split(ctx, half.Rank()/2, -half.Rank()) // {1,0} {2} in each half
		if err != nil {
			return err
		}
		defer pair.Close()
		got, err := members(ctx, pair, r)
		if err != nil {
			return err
		}
		var want []int
		base := r / 3 * 3
		if half.Rank() < 2 {
			want = []int{base + 1, base}
		} else {
			want = []int{base + 2}
		}
		if !slices.Equal(got, want) {
			return fmt.Errorf("nested Split members = %v; want %v", got, want)
		}
		if pair.id == half.id || pair.id == c.id || half.id == 0 {
			return fmt.Errorf("ids world %d half %d pair %d; want distinct, non-zero below the world", c.id, half.id, pair.id)
		}
		// Point-to-point on the child uses child ranks.
		if pair.Size() == 2 {
			v := []int32{int32(r)}
			peer := 1 - pair.Rank()
			if err := Send(ctx, pair, v, peer, 9); err != nil {
				return err
			}
			w := make([]int32, 1)
			if err := Recv(ctx, pair, w, peer, 9); err != nil {
				return err
			}
			if int(w[0]) != want[peer] {
				return fmt.Errorf("Recv from pair rank %d = %d; want world rank %d", peer, w[0], want[peer])
			}
		}
		return c.Barrier(ctx)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestSplitInvalid: a bad color fails at once and breaks nothing.
func TestSplitInvalid(t *testing.T) {
	err := RunLocal(context.Background(), 2, func(ctx context.Context, c *Comm) error {
		if _, err := c.Split(ctx, -2, 0); !errors.Is(err, ErrInvalid) {
			return fmt.Errorf("Split(-2) = %v; want ErrInvalid", err)
		}
		return c.Barrier(ctx)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestSplitMismatch: a rank that runs another collective where the others
// split gets ErrMismatch, and so do they, well before the timeout.
func TestSplitMismatch(t *testing.T) {
	start := time.Now()
	errs := eachRank(t, TransportInproc, 3, 30*time.Second, func(ctx context.Context, c *Comm) error {
		if c.Rank() == 2 {
			return c.Barrier(ctx)
		}
		sub, err := c.Split(ctx, 0, 0)
		if err == nil {
			sub.Close()
		}
		return err
	})
	for r, err := range errs {
		if !errors.Is(err, ErrMismatch) {
			t.Errorf("rank %d: err = %v; want ErrMismatch", r, err)
		}
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("mismatched Split took %v to fail", d)
	}
}

// TestSplitSiblingsIndependent: two overlapping communicators split from
// one progress independently: while rank 0's asynchronous operations on one
// of them wait for rank 1, rank 0 completes many operations on the other,
// synchronous and asynchronous, from another goroutine too.
func TestSplitSiblingsIndependent(t *testing.T) {
	for _, tr := range []string{TransportInproc, TransportTCP, TransportShm} {
		t.Run(tr, func(t *testing.T) {
			const ops = 20
			err := RunLocal(context.Background(), 4, func(ctx context.Context, c *Comm) error {
				r := c.Rank()
				a, err := c.Split(ctx, r/2, 0) // {0,1} {2,3}
				if err != nil {
					return err
				}
				defer a.Close()
				b, err := c.Split(ctx, r%2, 0) // {0,2} {1,3}
				if err != nil {
					return err
				}
				defer b.Close()
				// Rank 1 joins A only after all B traffic: rank 0's A
				// operations stay pending meanwhile.
				abufs := make([][]float64, ops)
				ahs := make([]*Handle, ops)
				issueA := func() {
					for i := range ops {
						abufs[i] = []float64{float64(i + r)}
						ahs[i] = AllReduceAsync(a, abufs[i], abufs[i], Sum)
					}
				}
				if r != 1 {
					issueA()
				}
				var wg sync.WaitGroup
				var errB error
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range ops {
						x := []float64{float64(i * r)}
						var err error
						if i%2 == 0 {
							err = AllReduce(ctx, b, x, x, Sum)
						} else {
							err = AllReduceAsync(b, x, x, Sum).Wait(ctx)
						}
						if err != nil {
							errB = err
							return
						}
						if want := float64(i * (2*(r%2) + 2)); x[0] != want {
							errB = fmt.Errorf("B AllReduce #%d = %v; want %v", i, x[0], want)
							return
						}
					}
				}()
				wg.Wait()
				if errB != nil {
					return errB
				}
				if r == 0 && ahs[0].Err() == nil {
					select {
					case <-ahs[0].Done():
						return fmt.Errorf("A AllReduce finished before rank 1 issued it")
					default:
					}
				}
				// B is done everywhere before rank 1 starts A.
				if err := c.Barrier(ctx); err != nil {
					return err
				}
				if r == 1 {
					issueA()
				}
				for i, h := range ahs {
					if err := h.Wait(ctx); err != nil {
						return err
					}
					if want := float64(2*i + r/2*4 + 1); abufs[i][0] != want {
						return fmt.Errorf("A AllReduce #%d = %v; want %v", i, abufs[i][0], want)
					}
				}
				return c.Barrier(ctx)
			}, WithTransport(tr))
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestSplitChildFailureIsolated: a mismatch in one child breaks that child
// only; the parent and a sibling keep working.
func TestSplitChildFailureIsolated(t *testing.T) {
	err := RunLocal(context.Background(), 4, func(ctx context.Context, c *Comm) error {
		r := c.Rank()
		a, err := c.Split(ctx, r/2, 0)
		if err != nil {
			return err
		}
		defer a.Close()
		if r < 2 {
			buf := make([]float32, 4+r) // mismatched counts in child {0,1}
			if err := AllReduce(ctx, a, buf, buf, Sum); !errors.Is(err, ErrMismatch) {
				return fmt.Errorf("mismatched child AllReduce = %v; want ErrMismatch", err)
			}
			if err := a.Barrier(ctx); !errors.Is(err, ErrBroken) {
				return fmt.Errorf("child Barrier after failure = %v; want ErrBroken", err)
			}
		} else {
			buf := []float32{1}
			if err := AllReduce(ctx, a, buf, buf, Sum); err != nil || buf[0] != 2 {
				return fmt.Errorf("sibling AllReduce = %v, %v; want 2, nil", buf[0], err)
			}
		}
		x := []int32{1}
		if err := AllReduce(ctx, c, x, x, Sum); err != nil || x[0] != 4 {
			return fmt.Errorf("parent AllReduce after child failure = %v, %v; want 4, nil", x[0], err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestSplitMemberLost: a rank that dies fails the child communicators it
// is in (naming it), not the ones it is not in.
func TestSplitMemberLost(t *testing.T) {
	for _, tr := range []string{TransportInproc, TransportTCP, TransportShm} {
		t.Run(tr, func(t *testing.T) {
			const dead = 1
			start := time.Now()
			errs := eachRank(t, tr, 4, 30*time.Second, func(ctx context.Context, c *Comm) error {
				r := c.Rank()
				sub, err := c.Split(ctx, r/2, 0) // {0,1} {2,3}
				if err != nil {
					return err
				}
				if r == dead {
					c.Close() // the process is gone
					return nil
				}
				defer sub.Close()
				buf := make([]float32, 1<<10)
				for i := 0; i < 50 || r < 2; i++ {
					if err := AllReduce(ctx, sub, buf, buf, Sum); err != nil {
						return err
					}
				}
				return nil
			})
			if err := errs[0]; err == nil || !contains(err.Error(), fmt.Sprintf("rank %d", dead)) {
				t.Errorf("rank 0: err = %v; want an error naming rank %d", err, dead)
			}
			for _, r := range []int{2, 3} {
				if errs[r] != nil {
					t.Errorf("rank %d (other child): err = %v; want nil", r, errs[r])
				}
			}
			if d := time.Since(start); d > 20*time.Second {
				t.Errorf("member loss took %v to surface", d)
			}
		})
	}
}

// TestSplitClose: closing a child leaves the parent usable; closing the
// parent closes its children, whose operations then fail with ErrClosed.
func TestSplitClose(t *testing.T) {
	comms, err := NewLocal(context.Background(), 2)
	if err != nil {
		t.Fatal(err)
	}
	subs := make([]*Comm, 2)
	subs2 := make([]*Comm, 2)
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for r, c := range comms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := context.Background()
			if subs[r], errs[r] = c.Split(ctx, 0, 0); errs[r] != nil {
				return
			}
			if subs2[r], errs[r] = c.Split(ctx, 0, 0); errs[r] != nil {
				return
			}
			errs[r] = subs[r].Close()
			if errs[r] == nil {
				errs[r] = c.Barrier(ctx)
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if err := subs[0].Barrier(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Barrier on closed child = %v; want ErrClosed", err)
	}
	for r := 1; r >= 0; r-- {
		comms[r].Close()
	}
	if err := subs2[0].Barrier(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Barrier on child of closed parent = %v; want ErrClosed", err)
	}
	if h := AllReduceAsync(subs2[1], []int32{1}, make([]int32, 1), Sum); !errors.Is(h.Wait(context.Background()), ErrClosed) {
		t.Errorf("AllReduceAsync on child of closed parent = %v; want ErrClosed", h.Err())
	}
}

// TestSplitIDCollision: when the derived id of a new communicator is
// already in use on one member, Split agrees on another one.
func TestSplitIDCollision(t *testing.T) {
	err := RunLocal(context.Background(), 3, func(ctx context.Context, c *Comm) error {
		if c.Rank() == 1 {
			// Occupy the id the first split of color 0 would get.
			c.grp.reg.reserve(splitID(c.id, 1, 0, 0))
		}
		sub, err := c.Split(ctx, 0, 0)
		if err != nil {
			return err
		}
		defer sub.Close()
		if sub.id == splitID(c.id, 1, 0, 0) {
			return fmt.Errorf("Split took id %d, which rank 1 holds", sub.id)
		}
		ids := make([]int64, 3)
		if err := AllGather(ctx, sub, []int64{int64(sub.id)}, ids); err != nil {
			return err
		}
		if ids[0] != ids[1] || ids[1] != ids[2] {
			return fmt.Errorf("ranks disagree on the id: %v", ids)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestSplitAbort: aborting a child fails its pending operations on every
// member and leaves the parent usable; aborting the parent aborts its
// children.
func TestSplitAbort(t *testing.T) {
	err := RunLocal(context.Background(), 2, func(ctx context.Context, c *Comm) error {
		a, err := c.Split(ctx, 0, 0)
		if err != nil {
			return err
		}
		defer a.Close()
		b, err := c.Split(ctx, 0, 0)
		if err != nil {
			return err
		}
		defer b.Close()
		buf := []float32{1}
		if c.Rank() == 0 {
			a.Abort()
		}
		if err := AllReduce(ctx, a, buf, buf, Sum); !errors.Is(err, ErrAborted) {
			return fmt.Errorf("AllReduce on aborted child = %v; want ErrAborted", err)
		}
		x := []float32{1}
		if err := AllReduce(ctx, c, x, x, Sum); err != nil || x[0] != 2 {
			return fmt.Errorf("parent AllReduce after child abort = %v, %v; want 2, nil", x[0], err)
		}
		if err := c.Barrier(ctx); err != nil {
			return err
		}
		if c.Rank() == 0 {
			c.Abort()
			if err := b.Err(); !errors.Is(err, ErrAborted) {
				return fmt.Errorf("child of aborted parent: Err() = %v; want ErrAborted", err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestSplitTimeout: a split communicator's own timeout ends its stalled
// operation (naming the rank waited for) and leaves the parent, whose
// timeout is longer, working.
func TestSplitTimeout(t *testing.T) {
	errs := eachRank(t, TransportInproc, 2, 30*time.Second, func(ctx context.Context, c *Comm) error {
		sub, err := c.Split(ctx, 0, 0)
		if err != nil {
			return err
		}
		defer sub.Close()
		if err := sub.SetTimeout(0); !errors.Is(err, ErrInvalid) {
			return fmt.Errorf("SetTimeout(0) = %v; want ErrInvalid", err)
		}
		if err := sub.SetTimeout(200 * time.Millisecond); err != nil {
			return err
		}
		if c.Timeout() != 30*time.Second || sub.Timeout() != 200*time.Millisecond {
			return fmt.Errorf("timeouts parent %v child %v; want 30s and 200ms", c.Timeout(), sub.Timeout())
		}
		if c.Rank() == 0 { // rank 1 never joins
			buf := []float32{1}
			err := AllReduce(ctx, sub, buf, buf, Sum)
			if !errors.Is(err, context.DeadlineExceeded) || !contains(err.Error(), "rank 1") {
				return fmt.Errorf("stalled AllReduce on the child = %v; want a deadline error naming rank 1", err)
			}
		}
		x := []float32{1}
		if err := AllReduce(ctx, c, x, x, Sum); err != nil || x[0] != 2 {
			return fmt.Errorf("parent AllReduce after the child timed out = %v, %v; want 2, nil", x[0], err)
		}
		return nil
	})
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
}

// TestSplitUnderTopology: with a topology layout on the world, a split
// communicator (which has no layout: the topology describes the world) runs
// the plain algorithms and gets the right answers, and the world keeps its
// topology-aware ones.
func TestSplitUnderTopology(t *testing.T) {
	err := RunLocal(context.Background(), 6, func(ctx context.Context, c *Comm) error {
		sub, err := c.Split(ctx, c.Rank()%2, 0)
		if err != nil {
			return err
		}
		defer sub.Close()
		if got, want := sub.Available(schedule.AllReduce), Available(schedule.AllReduce); !slices.Equal(got, want) {
			return fmt.Errorf("split communicator Available(allreduce) = %v; want %v", got, want)
		}
		for _, algo := range sub.Available(schedule.AllReduce) {
			x := []float64{float64(c.Rank()), 1}
			if err := AllReduce(ctx, sub, x, x, Sum, WithAlgo(algo)); err != nil {
				return err
			}
			if want := float64(c.Rank()%2*3 + 6); x[0] != want || x[1] != 3 {
				return fmt.Errorf("AllReduce(%s) on the split = %v; want [%v 3]", algo, x, want)
			}
		}
		if n := len(c.Available(schedule.AllReduce)); n <= len(Available(schedule.AllReduce)) {
			return fmt.Errorf("world offers %d all-reduce algorithms; want the topology-aware ones too", n)
		}
		return nil
	}, WithConfig(func(cfg *Config) { cfg.Topology, cfg.Placement = "torus:2x3", "linear" }))
	if err != nil {
		t.Fatal(err)
	}
}

// TestSplitParentClosePending: closing the parent while its child has
// asynchronous operations queued and a synchronous one blocked (rank 1
// never joins them) fails all of them with ErrClosed, ends the child's
// worker and does not hang; the child's own Close afterwards is a no-op.
func TestSplitParentClosePending(t *testing.T) {
	comms, err := NewLocal(context.Background(), 2)
	if err != nil {
		t.Fatal(err)
	}
	subs := make([]*Comm, 2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for r, c := range comms {
		wg.Go(func() { subs[r], errs[r] = c.Split(context.Background(), 0, 0) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	var hs []*Handle
	for range 5 {
		buf := make([]float64, 256)
		hs = append(hs, AllReduceAsync(subs[0], buf, buf, Sum))
	}
	syncErr := make(chan error, 1)
	go func() {
		buf := make([]float64, 256)
		syncErr <- AllReduce(context.Background(), subs[0], buf, buf, Sum) // queues behind the async ones
	}()
	time.Sleep(20 * time.Millisecond)
	done := make(chan struct{})
	go func() {
		comms[0].Close()
		comms[1].Close()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("parent Close with the child's operations pending hangs")
	}
	for i, h := range hs {
		if err := h.Wait(context.Background()); !errors.Is(err, ErrClosed) {
			t.Errorf("child's async op %d after parent Close: err = %v; want ErrClosed", i, err)
		}
	}
	select {
	case err := <-syncErr:
		if !errors.Is(err, ErrClosed) {
			t.Errorf("child's AllReduce after parent Close = %v; want ErrClosed", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("child's synchronous AllReduce still blocked after parent Close")
	}
	for r, s := range subs {
		if err := s.Close(); err != nil {
			t.Errorf("child %d Close after parent Close = %v; want nil", r, err)
		}
	}
}
