package collective

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/kizuna-hpc/kizuna/collective/reduce"
	"github.com/kizuna-hpc/kizuna/rendezvous"
)

// eachRank runs fn on every local rank and returns each rank's error (not
// joined), closing the communicators afterwards.
func eachRank(t *testing.T, transport string, n int, timeout time.Duration, fn func(ctx context.Context, c *Comm) error) []error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	comms, err := NewLocal(ctx, n, WithTransport(transport), WithConfig(func(cfg *Config) { cfg.Timeout = timeout }))
	if err != nil {
		t.Fatal(err)
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for r, c := range comms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[r] = fn(ctx, c)
		}()
	}
	wg.Wait()
	for r := n - 1; r >= 0; r-- {
		comms[r].Close()
	}
	return errs
}

// TestMismatch: ranks that call different operations all get ErrMismatch
// naming the other call, well before the timeout.
func TestMismatch(t *testing.T) {
	tests := []struct {
		name string
		call func(ctx context.Context, c *Comm) error
	}{
		{"count", func(ctx context.Context, c *Comm) error {
			buf := make([]float32, 10+c.Rank()%2)
			return AllReduce(ctx, c, buf, buf, Sum)
		}},
		{"dtype", func(ctx context.Context, c *Comm) error {
			if c.Rank() == 1 {
				buf := make([]int32, 16)
				return AllReduce(ctx, c, buf, buf, Sum)
			}
			buf := make([]float32, 16)
			return AllReduce(ctx, c, buf, buf, Sum)
		}},
		{"op", func(ctx context.Context, c *Comm) error {
			buf := make([]float32, 16)
			op := Sum
			if c.Rank() == 2 {
				op = Max
			}
			return AllReduce(ctx, c, buf, buf, op)
		}},
		{"collective", func(ctx context.Context, c *Comm) error {
			buf := make([]float32, 16)
			if c.Rank() == 0 {
				return AllGather(ctx, c, buf[:4], buf)
			}
			return AllReduce(ctx, c, buf, buf, Sum)
		}},
		{"algorithm", func(ctx context.Context, c *Comm) error {
			buf := make([]float32, 64)
			a := Ring
			if c.Rank() == 3 {
				a = Tree
			}
			return AllReduce(ctx, c, buf, buf, Sum, WithAlgo(a))
		}},
		{"root", func(ctx context.Context, c *Comm) error {
			buf := make([]float32, 64)
			root := 0
			if c.Rank() == 1 {
				root = 2
			}
			return Broadcast(ctx, c, buf, buf, root)
		}},
	}
	for _, tr := range []string{TransportInproc, TransportTCP} {
		for _, tt := range tests {
			t.Run(tr+"/"+tt.name, func(t *testing.T) {
				start := time.Now()
				errs := eachRank(t, tr, 4, 20*time.Second, func(ctx context.Context, c *Comm) error {
					err := tt.call(ctx, c)
					if err == nil {
						// A rank that finished its part before the conflict
						// reached it learns of it on its next call.
						err = c.Barrier(ctx)
					}
					return err
				})
				for r, err := range errs {
					if !errors.Is(err, ErrMismatch) {
						t.Errorf("rank %d: %s mismatch: err = %v; want ErrMismatch", r, tt.name, err)
					}
				}
				if d := time.Since(start); d > 15*time.Second {
					t.Errorf("mismatch took %v to surface; want well under the 20s timeout", d)
				}
			})
		}
	}
}

// TestMismatchMessage: the error names both ranks and both calls.
func TestMismatchMessage(t *testing.T) {
	errs := eachRank(t, TransportInproc, 2, 20*time.Second, func(ctx context.Context, c *Comm) error {
		buf := make([]float32, 10+2*c.Rank())
		return AllReduce(ctx, c, buf, buf, Sum, WithAlgo(Ring))
	})
	var me *MismatchError
	found := false
	for _, err := range errs {
		if errors.As(err, &me) {
			found = true
			msg := me.Error()
			for _, want := range []string{"count=10", "count=12", "allreduce"} {
				if !contains(msg, want) {
					t.Errorf("MismatchError = %q; want it to mention %q", msg, want)
				}
			}
		}
	}
	if !found {
		t.Fatalf("no rank got a *MismatchError: %v", errs)
	}
}

func contains(s, sub string) bool {
	return len(sub) == 0 || (len(s) >= len(sub) && (s[:len(sub)] == sub || contains(s[1:], sub)))
}

// TestPeerLost: a rank that dies mid-operation fails every other rank's
// operation with an error naming it, promptly.
func TestPeerLost(t *testing.T) {
	for _, tr := range []string{TransportInproc, TransportTCP} {
		t.Run(tr, func(t *testing.T) {
			const dead = 2
			start := time.Now()
			errs := eachRank(t, tr, 4, 30*time.Second, func(ctx context.Context, c *Comm) error {
				buf := make([]float32, 1<<16)
				if c.Rank() == dead {
					c.Close() // the process is gone: its links drop
					return nil
				}
				for {
					if err := AllReduce(ctx, c, buf, buf, Sum, WithAlgo(Ring)); err != nil {
						return err
					}
				}
			})
			for r, err := range errs {
				if r == dead {
					continue
				}
				if err == nil || !contains(err.Error(), fmt.Sprintf("rank %d", dead)) {
					t.Errorf("rank %d: err = %v; want an error naming rank %d", r, err, dead)
				}
			}
			if d := time.Since(start); d > 20*time.Second {
				t.Errorf("peer loss took %v to surface; want well under the 30s timeout", d)
			}
		})
	}
}

// TestContextCancelled: one rank's cancelled context ends the operation on
// every rank, not only its own.
func TestContextCancelled(t *testing.T) {
	for _, tr := range []string{TransportInproc, TransportTCP} {
		t.Run(tr, func(t *testing.T) {
			start := time.Now()
			errs := eachRank(t, tr, 3, 30*time.Second, func(ctx context.Context, c *Comm) error {
				buf := make([]float32, 1000)
				if c.Rank() == 1 {
					// Rank 1 never joins; its context ends while others wait.
					cctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
					defer cancel()
					<-cctx.Done()
					return AllReduce(cctx, c, buf, buf, Sum)
				}
				return AllReduce(ctx, c, buf, buf, Sum)
			})
			for r, err := range errs {
				if err == nil {
					t.Errorf("rank %d: err = nil; want an error", r)
				}
			}
			if !errors.Is(errs[1], context.DeadlineExceeded) {
				t.Errorf("rank 1: err = %v; want context.DeadlineExceeded", errs[1])
			}
			if d := time.Since(start); d > 20*time.Second {
				t.Errorf("cancellation took %v to reach every rank", d)
			}
		})
	}
}

// TestTimeout: with no context deadline, Config.Timeout bounds the wait and
// names the rank waited for.
func TestTimeout(t *testing.T) {
	errs := eachRank(t, TransportInproc, 2, 300*time.Millisecond, func(ctx context.Context, c *Comm) error {
		if c.Rank() == 1 {
			time.Sleep(time.Second)
			return nil
		}
		buf := make([]float32, 8)
		return AllReduce(ctx, c, buf, buf, Sum)
	})
	if !errors.Is(errs[0], context.DeadlineExceeded) || !contains(errs[0].Error(), "rank 1") {
		t.Errorf("rank 0: err = %v; want a deadline error naming rank 1", errs[0])
	}
}

// TestTimeoutAfterEarlierOperations: the timeout counts from the start of
// the operation that hangs, not from the earlier operations that set the
// timer (it is set once and set again when it fires early), and a
// shortened timeout takes effect at the next operation. Each row runs
// quick operations for a while, then one that rank 1 does not join.
func TestTimeoutAfterEarlierOperations(t *testing.T) {
	const ms = time.Millisecond
	tests := []struct {
		name    string
		timeout time.Duration // the communicator's
		busy    time.Duration // quick all-reduces before the hang
		setTo   time.Duration // SetTimeout before the hang; 0: leave it
		wantMin time.Duration // the hanging all-reduce fails after at least this
	}{
		{"first operation hangs", 400 * ms, 0, 0, 400 * ms},
		{"after most of a timeout", 400 * ms, 300 * ms, 0, 400 * ms},
		{"after more than a timeout", 400 * ms, 700 * ms, 0, 400 * ms},
		// The timer was set for 3 s by the first operation.
		{"shortened", 3 * time.Second, 100 * ms, 200 * ms, 200 * ms},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var took time.Duration
			errs := eachRank(t, TransportInproc, 2, tt.timeout, func(ctx context.Context, c *Comm) error {
				buf := make([]float32, 8)
				// The same number of operations on both ranks, spread
				// over busy.
				const gap = 10 * time.Millisecond
				for range int(tt.busy / gap) {
					if err := AllReduce(ctx, c, buf, buf, Sum); err != nil {
						return err
					}
					time.Sleep(gap)
				}
				if tt.setTo > 0 {
					if err := c.SetTimeout(tt.setTo); err != nil {
						return err
					}
				}
				if c.Rank() == 1 {
					time.Sleep(tt.wantMin + 400*ms)
					return nil
				}
				start := time.Now()
				err := AllReduce(ctx, c, buf, buf, Sum)
				took = time.Since(start)
				return err
			})
			if !errors.Is(errs[0], context.DeadlineExceeded) {
				t.Fatalf("rank 0: err = %v; want a deadline error", errs[0])
			}
			if took < tt.wantMin || took > tt.wantMin+time.Second {
				t.Errorf("the hanging all-reduce failed after %v; want %v to %v", took, tt.wantMin, tt.wantMin+time.Second)
			}
		})
	}
}

// TestLocalMisuse: invalid arguments fail at once with ErrInvalid and leave
// the communicator usable.
func TestLocalMisuse(t *testing.T) {
	errs := eachRank(t, TransportInproc, 2, 10*time.Second, func(ctx context.Context, c *Comm) error {
		f := make([]float32, 8)
		tests := []struct {
			name string
			err  error
		}{
			{"allreduce length", AllReduce(ctx, c, f, f[:4], Sum)},
			{"broadcast root", Broadcast(ctx, c, f, f, 2)},
			{"broadcast negative root", Broadcast(ctx, c, f, f, -1)},
			{"allgather length", AllGather(ctx, c, f[:4], f[:7])},
			{"reducescatter length", ReduceScatter(ctx, c, f[:7], f[:4], Sum)},
			{"alltoall uneven", AllToAll(ctx, c, f[:7], make([]float32, 7))},
			{"overlap", AllReduce(ctx, c, f[:6], f[2:8], Sum)},
			{"bad op", AllReduce(ctx, c, f, f, Op(42))},
			{"bytes not whole", c.AllReduceBytes(ctx, make([]byte, 7), make([]byte, 7), Float32, Sum)},
			{"send peer", Send(ctx, c, f, 5, 0)},
			{"unavailable algo", Broadcast(ctx, c, f, f, 0, WithAlgo(HalvingDoubling))},
		}
		for _, tt := range tests {
			if !errors.Is(tt.err, ErrInvalid) {
				return fmt.Errorf("%s: err = %v; want ErrInvalid", tt.name, tt.err)
			}
		}
		// Still usable.
		for i := range f {
			f[i] = 1
		}
		if err := AllReduce(ctx, c, f, f, Sum); err != nil {
			return err
		}
		if f[0] != 2 {
			return fmt.Errorf("AllReduce after misuse = %v; want 2", f[0])
		}
		return nil
	})
	for r, err := range errs {
		if err != nil {
			t.Errorf("rank %d: %v", r, err)
		}
	}
}

// TestClosed: operations on a closed communicator fail with ErrClosed.
func TestClosed(t *testing.T) {
	comms, err := NewLocal(context.Background(), 2)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range comms {
		c.Close()
	}
	buf := make([]float32, 4)
	if err := AllReduce(context.Background(), comms[0], buf, buf, Sum); !errors.Is(err, ErrClosed) {
		t.Errorf("AllReduce after Close = %v; want ErrClosed", err)
	}
	if err := Send(context.Background(), comms[0], buf, 1, 0); !errors.Is(err, ErrClosed) {
		t.Errorf("Send after Close = %v; want ErrClosed", err)
	}
}

// TestAbort: Abort from another goroutine unblocks a pending operation on
// every rank.
func TestAbort(t *testing.T) {
	errs := eachRank(t, TransportInproc, 3, time.Minute, func(ctx context.Context, c *Comm) error {
		buf := make([]float32, 8)
		if c.Rank() == 2 {
			time.Sleep(100 * time.Millisecond)
			c.Abort()
			return AllReduce(ctx, c, buf, buf, Sum)
		}
		return AllReduce(ctx, c, buf, buf, Sum)
	})
	for r, err := range errs {
		if !errors.Is(err, ErrAborted) {
			t.Errorf("rank %d: err = %v; want ErrAborted", r, err)
		}
	}
}

// TestRendezvousErrors: a duplicate rank and a wrong world size are named
// clearly on the offending process, and nobody hangs.
func TestRendezvousErrors(t *testing.T) {
	tests := []struct {
		name  string
		ranks []int
		sizes []int
		want  any
	}{
		{"duplicate rank", []int{0, 1, 1}, []int{3, 3, 3}, new(*rendezvous.DuplicateRankError)},
		{"world size", []int{0, 1, 2}, []int{3, 3, 4}, new(*rendezvous.WorldSizeError)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store, err := rendezvous.Listen("127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer store.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			errs := make([]error, len(tt.ranks))
			var wg sync.WaitGroup
			for i := range tt.ranks {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if i > 0 && tt.ranks[i] == tt.ranks[i-1] || tt.sizes[i] != tt.sizes[0] {
						time.Sleep(200 * time.Millisecond) // let the first claim win
					}
					c, err := New(ctx, Config{Rank: tt.ranks[i], Size: tt.sizes[i], MasterAddr: store.Addr(), ExternalStore: true, Timeout: 10 * time.Second})
					if c != nil {
						c.Close()
					}
					errs[i] = err
				}()
			}
			wg.Wait()
			last := errs[len(errs)-1]
			switch want := tt.want.(type) {
			case **rendezvous.DuplicateRankError:
				if !errors.As(last, want) {
					t.Errorf("duplicate rank: err = %v; want *DuplicateRankError", last)
				}
			case **rendezvous.WorldSizeError:
				if !errors.As(last, want) {
					t.Errorf("world size: err = %v; want *WorldSizeError", last)
				}
			}
			for i, err := range errs {
				if err == nil {
					t.Errorf("process %d: New succeeded in a broken job", i)
				}
			}
		})
	}
}

// TestDeterminism: with random (non-exact) floats, every rank gets the same
// bits, and a second run gives the same bits again, for every algorithm.
func TestDeterminism(t *testing.T) {
	const n, count = 5, 10007
	for _, algo := range []Algo{Ring, Tree, HalvingDoubling, RecursiveDoubling} {
		t.Run(algo.String(), func(t *testing.T) {
			results := make([][][]float32, 2)
			for run := range results {
				results[run] = make([][]float32, n)
				err := RunLocal(context.Background(), n, func(ctx context.Context, c *Comm) error {
					rng := rand.New(rand.NewPCG(uint64(c.Rank()), 7))
					buf := make([]float32, count)
					for i := range buf {
						buf[i] = float32(rng.NormFloat64() * math.Pow(10, float64(rng.IntN(12)-6)))
					}
					err := AllReduce(ctx, c, buf, buf, Sum, WithAlgo(algo))
					results[run][c.Rank()] = buf
					return err
				}, WithConfig(func(cfg *Config) { cfg.ChunkBytes = 8192 }))
				if err != nil {
					t.Fatal(err)
				}
			}
			ref := reduce.AsBytes(results[0][0])
			for run := range results {
				for r := range n {
					if i, ok := reduce.Equal(Float32, reduce.AsBytes(results[run][r]), ref); !ok {
						t.Fatalf("run %d rank %d element %d = %v; rank 0 run 0 has %v", run, r, i, results[run][r][i], results[0][0][i])
					}
				}
			}
		})
	}
}

// TestSendRecv: tagged point-to-point in both directions, out of tag order,
// including to oneself.
func TestSendRecv(t *testing.T) {
	for _, tr := range []string{TransportInproc, TransportTCP} {
		t.Run(tr, func(t *testing.T) {
			err := RunLocal(context.Background(), 3, func(ctx context.Context, c *Comm) error {
				next, prev := (c.Rank()+1)%3, (c.Rank()+2)%3
				for tag := uint32(0); tag < 3; tag++ {
					msg := []int64{int64(c.Rank()), int64(tag), 42}
					if err := Send(ctx, c, msg, next, tag); err != nil {
						return err
					}
				}
				if err := Send(ctx, c, []int64{7}, c.Rank(), 9); err != nil {
					return err
				}
				for _, tag := range []uint32{2, 0, 1} {
					got := make([]int64, 3)
					if err := Recv(ctx, c, got, prev, tag); err != nil {
						return err
					}
					if got[0] != int64(prev) || got[1] != int64(tag) || got[2] != 42 {
						return fmt.Errorf("Recv(from %d, tag %d) = %v; want [%d %d 42]", prev, tag, got, prev, tag)
					}
				}
				self := make([]int64, 1)
				if err := Recv(ctx, c, self, c.Rank(), 9); err != nil || self[0] != 7 {
					return fmt.Errorf("Recv(self) = %v, %v; want [7]", self, err)
				}
				// A message of the wrong length is an error, not an overrun.
				if c.Rank() == 0 {
					return Send(ctx, c, make([]int64, 5), 1, 77)
				}
				if c.Rank() == 1 {
					small := make([]int64, 2)
					if err := Recv(ctx, c, small, 0, 77); !errors.Is(err, ErrMismatch) {
						return fmt.Errorf("Recv of a 5-element message into 2 = %v; want ErrMismatch", err)
					}
				}
				return nil
			}, WithTransport(tr))
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestConfigFromEnv: variables are read, malformed ones named.
func TestConfigFromEnv(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		wantErr string
		check   func(Config) bool
	}{
		{"full", map[string]string{EnvRank: "2", EnvWorldSize: "4", EnvMasterAddr: "h:1", EnvJobID: "j", EnvTimeout: "90s", EnvAlgo: "ring"}, "",
			func(c Config) bool {
				return c.Rank == 2 && c.Size == 4 && c.MasterAddr == "h:1" && c.JobID == "j" && c.Timeout == 90*time.Second && c.Algo == "ring"
			}},
		{"seconds", map[string]string{EnvRank: "0", EnvWorldSize: "1", EnvTimeout: "5"}, "", func(c Config) bool { return c.Timeout == 5*time.Second }},
		{"missing rank", map[string]string{EnvWorldSize: "4"}, EnvRank, nil},
		{"bad size", map[string]string{EnvRank: "0", EnvWorldSize: "four"}, EnvWorldSize, nil},
		{"bad timeout", map[string]string{EnvRank: "0", EnvWorldSize: "1", EnvTimeout: "soon"}, EnvTimeout, nil},
		{"bad costs", map[string]string{EnvRank: "0", EnvWorldSize: "1", EnvCosts: "delta=1us"}, EnvCosts, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := configFromLookup(func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok })
			if tt.wantErr != "" {
				if err == nil || !contains(err.Error(), tt.wantErr) {
					t.Fatalf("ConfigFromEnv() err = %v; want one naming %s", err, tt.wantErr)
				}
				return
			}
			if err != nil || !tt.check(cfg) {
				t.Fatalf("ConfigFromEnv() = %+v, %v", cfg, err)
			}
		})
	}
}

// TestCalibrate: measured costs are positive, plausible and identical on
// every rank, and KIZUNA_COSTS=measure applies them.
func TestCalibrate(t *testing.T) {
	for _, tr := range []string{TransportInproc, TransportTCP} {
		t.Run(tr, func(t *testing.T) {
			costs := make([]string, 3)
			err := RunLocal(context.Background(), 3, func(ctx context.Context, c *Comm) error {
				k := c.Costs()
				if k.Alpha <= 0 || k.Alpha > 0.01 || k.Beta <= 0 || k.Beta > 1e-6 || k.Gamma <= 0 || k.Gamma > 1e-6 {
					return fmt.Errorf("rank %d: measured costs %+v are implausible", c.Rank(), k)
				}
				costs[c.Rank()] = FormatCosts(k)
				return nil
			}, WithTransport(tr), WithConfig(func(cfg *Config) { cfg.MeasureCosts = true }))
			if err != nil {
				t.Fatal(err)
			}
			if costs[0] != costs[1] || costs[1] != costs[2] {
				t.Errorf("ranks measured different costs: %q", costs)
			}
		})
	}
}

// TestMismatchZeroCount: a rank whose call moves no data (count 0) still
// learns that its peers called something else, and nobody waits for the
// timeout.
func TestMismatchZeroCount(t *testing.T) {
	for _, tr := range []string{TransportInproc, TransportTCP} {
		t.Run(tr, func(t *testing.T) {
			start := time.Now()
			errs := eachRank(t, tr, 3, 20*time.Second, func(ctx context.Context, c *Comm) error {
				n := 64
				if c.Rank() == 0 {
					n = 0
				}
				buf := make([]float32, n)
				err := AllReduce(ctx, c, buf, buf, Sum, WithAlgo(Ring))
				if err == nil {
					err = c.Barrier(ctx)
				}
				return err
			})
			wantAllMismatch(t, errs, start)
		})
	}
}

// TestMismatchSkipped: a rank that called an operation which sends nothing
// (count 0) while the others called Barrier still gets ErrMismatch, over
// links that keep each peer's frames in order, before the timeout.
func TestMismatchSkipped(t *testing.T) {
	for _, tr := range []string{TransportInproc, TransportTCP} {
		t.Run(tr, func(t *testing.T) {
			start := time.Now()
			errs := eachRank(t, tr, 3, 20*time.Second, func(ctx context.Context, c *Comm) error {
				var err error
				if c.Rank() == 1 {
					err = c.Barrier(ctx)
				} else {
					err = AllReduce(ctx, c, []float32{}, []float32{}, Sum)
					if err == nil {
						err = c.Barrier(ctx)
					}
				}
				if err == nil {
					err = c.Barrier(ctx)
				}
				return err
			})
			wantAllMismatch(t, errs, start)
		})
	}
}

// TestRunAhead: a root that runs many broadcasts ahead of a late rank is
// held back by the receiver's bound on buffered frames instead of being
// buffered without limit, and every broadcast still arrives intact.
func TestRunAhead(t *testing.T) {
	const rounds, n = 16, 2 << 20 // 16 x 8 MiB, more than the 64 MiB bound
	for _, tr := range []string{TransportInproc, TransportTCP} {
		t.Run(tr, func(t *testing.T) {
			err := RunLocal(context.Background(), 2, func(ctx context.Context, c *Comm) error {
				buf := make([]float32, n)
				if c.Rank() == 1 {
					time.Sleep(300 * time.Millisecond) // the root runs ahead meanwhile
				}
				for i := range rounds {
					if c.Rank() == 0 {
						buf[0], buf[n-1] = float32(i), float32(-i)
					}
					if err := Broadcast(ctx, c, buf, buf, 0, WithAlgo(Ring)); err != nil {
						return err
					}
					if buf[0] != float32(i) || buf[n-1] != float32(-i) {
						return fmt.Errorf("broadcast %d: got %v, %v", i, buf[0], buf[n-1])
					}
				}
				return nil
			}, WithTransport(tr))
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestRootedMisuse: rooted block collectives reject a bad root on every
// rank, root or not.
func TestRootedMisuse(t *testing.T) {
	errs := eachRank(t, TransportInproc, 2, 10*time.Second, func(ctx context.Context, c *Comm) error {
		f := make([]float32, 4)
		for _, root := range []int{-1, 2} {
			if err := Gather(ctx, c, f[:2], f, root); !errors.Is(err, ErrInvalid) {
				return fmt.Errorf("Gather(root %d) = %v; want ErrInvalid", root, err)
			}
			if err := Scatter(ctx, c, f, f[:2], root); !errors.Is(err, ErrInvalid) {
				return fmt.Errorf("Scatter(root %d) = %v; want ErrInvalid", root, err)
			}
		}
		if c.Rank() == 0 {
			if err := Gather(ctx, c, f[:2], f[:3], 0); !errors.Is(err, ErrInvalid) {
				return fmt.Errorf("Gather with a short root buffer = %v; want ErrInvalid", err)
			}
		}
		return nil
	})
	for r, err := range errs {
		if err != nil {
			t.Errorf("rank %d: %v", r, err)
		}
	}
}

// wantAllMismatch checks that every rank got ErrMismatch, well before the
// 20 s timeout the tests use.
func wantAllMismatch(t *testing.T, errs []error, start time.Time) {
	t.Helper()
	for r, err := range errs {
		if !errors.Is(err, ErrMismatch) {
			t.Errorf("rank %d: err = %v; want ErrMismatch", r, err)
		}
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("took %v; want well under the timeout", d)
	}
}
