package tcp

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/kizuna-hpc/kizuna/transport"
)

// connectBeats builds a loopback mesh in which rank r uses heartbeat
// interval beats[r].
func connectBeats(t *testing.T, impl string, beats []time.Duration) []transport.Endpoint {
	t.Helper()
	size := len(beats)
	ls := make([]*Listener, size)
	addrs := make([]string, size)
	for r := range size {
		l, err := Listen(Config{Rank: r, Size: size, BindAddr: "127.0.0.1", JobID: "hb", Impl: impl, Heartbeat: beats[r], Logger: quiet})
		if err != nil {
			t.Fatalf("Listen(rank %d) = %v", r, err)
		}
		ls[r], addrs[r] = l, l.Addr()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	eps := make([]transport.Endpoint, size)
	errs := make([]error, size)
	var wg sync.WaitGroup
	for r := range size {
		wg.Add(1)
		go func() {
			defer wg.Done()
			eps[r], errs[r] = ls[r].Connect(ctx, addrs)
		}()
	}
	wg.Wait()
	t.Cleanup(func() {
		for _, ep := range eps {
			if ep != nil {
				_ = ep.Close()
			}
		}
	})
	for r, err := range errs {
		if err != nil {
			t.Fatalf("Connect(rank %d) = %v", r, err)
		}
	}
	return eps
}

// lossWatch records the peer-lost reports of a Mux.
type lossWatch struct {
	mu   sync.Mutex
	lost map[int]error
	ch   chan struct{}
}

func watchLoss(m *transport.Mux) *lossWatch {
	w := &lossWatch{lost: map[int]error{}, ch: make(chan struct{}, 16)}
	m.SetPeerLostHandler(func(peer int, err error) {
		w.mu.Lock()
		w.lost[peer] = err
		w.mu.Unlock()
		w.ch <- struct{}{}
	})
	return w
}

func (w *lossWatch) get() map[int]error {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make(map[int]error, len(w.lost))
	for k, v := range w.lost {
		out[k] = v
	}
	return out
}

// TestHeartbeatSilentPeer: a peer that sends one frame and then nothing
// (its heartbeats are off and it is idle) is declared lost with ErrSilent by a rank whose
// heartbeat is on, which fails a receive pending from it and reports it to
// the peer-lost handler, well before a generous bound; the silent rank
// itself, with heartbeats off, declares nobody lost.
func TestHeartbeatSilentPeer(t *testing.T) {
	for _, impl := range impls() {
		t.Run(impl, func(t *testing.T) {
			const hb = 50 * time.Millisecond
			eps := connectBeats(t, impl, []time.Duration{hb, -1})
			w0, w1 := watchLoss(eps[0].Mux()), watchLoss(eps[1].Mux())
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			first := &transport.Recv{Key: transport.Key{Kind: transport.KindP2P, Src: 1, Tag: 6}, Buf: make([]byte, 2)}
			if err := eps[0].Mux().Post(first); err != nil {
				t.Fatal(err)
			}
			if err := eps[1].Send(ctx, 0, &transport.Header{Kind: transport.KindP2P, Tag: 6}, []byte("hi")); err != nil {
				t.Fatal(err)
			}
			if err := eps[0].Mux().Wait(ctx, first); err != nil {
				t.Fatalf("first frame: %v", err)
			}
			r := &transport.Recv{Key: transport.Key{Kind: transport.KindP2P, Src: 1, Tag: 7}, Buf: make([]byte, 4)}
			if err := eps[0].Mux().Post(r); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			err := eps[0].Mux().Wait(ctx, r)
			d := time.Since(start)
			var pe *transport.PeerError
			if !errors.As(err, &pe) || pe.Peer != 1 || !errors.Is(err, transport.ErrSilent) {
				t.Fatalf("Recv from the silent rank 1 = %v; want a *PeerError for rank 1 wrapping ErrSilent", err)
			}
			if d < hb {
				t.Errorf("silent peer declared lost after %v; want more than one interval (%v)", d, hb)
			}
			t.Logf("silent peer detected after %v (heartbeat %v)", d, hb)
			select {
			case <-w0.ch:
			case <-ctx.Done():
				t.Fatal("peer-lost handler never called")
			}
			if got := w0.get(); len(got) != 1 || !errors.Is(got[1], transport.ErrSilent) {
				t.Errorf("rank 0 lost %v; want rank 1 with ErrSilent", got)
			}
			if err := eps[0].Send(ctx, 1, &transport.Header{Kind: transport.KindP2P}, nil); !errors.Is(err, transport.ErrSilent) {
				t.Errorf("Send to the lost rank = %v; want ErrSilent", err)
			}
			// Rank 1 sees its link to rank 0 drop (a broken connection).
			if got := w1.get(); got[0] != nil && errors.Is(got[0], transport.ErrSilent) {
				t.Errorf("rank 1 (heartbeats off) declared rank 0 silent: %v", got[0])
			}
		})
	}
}

// TestHeartbeatKeepsIdleLinks: ranks that heartbeat stay linked through an
// idle stretch many intervals long, and then still exchange frames.
func TestHeartbeatKeepsIdleLinks(t *testing.T) {
	// 100ms, not less: a loaded 2-core machine under -race can hold a
	// goroutine off the CPU for tens of milliseconds, which a 20ms interval
	// (loss after 40ms of silence) mistook for a silent peer about once in
	// 15 runs. Twelve intervals idle is six loss windows: without
	// heartbeats every link would be declared lost.
	const hb = 100 * time.Millisecond
	eps := connectBeats(t, ImplNet, []time.Duration{hb, hb, hb})
	ws := make([]*lossWatch, len(eps))
	for r, ep := range eps {
		ws[r] = watchLoss(ep.Mux())
	}
	time.Sleep(12 * hb)
	for r, w := range ws {
		if got := w.get(); len(got) != 0 {
			t.Errorf("rank %d lost %v during an idle stretch with heartbeats on", r, got)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for src := range eps {
		dst := (src + 1) % len(eps)
		r := &transport.Recv{Key: transport.Key{Kind: transport.KindP2P, Src: int32(src), Tag: 1}, Buf: make([]byte, 3)}
		if err := eps[dst].Mux().Post(r); err != nil {
			t.Fatal(err)
		}
		if err := eps[src].Send(ctx, dst, &transport.Header{Kind: transport.KindP2P, Tag: 1}, []byte("abc")); err != nil {
			t.Fatalf("Send(%d -> %d) after idling = %v", src, dst, err)
		}
		if err := eps[dst].Mux().Wait(ctx, r); err != nil || string(r.Buf) != "abc" {
			t.Fatalf("Recv(%d -> %d) after idling = %q, %v; want \"abc\"", src, dst, r.Buf, err)
		}
	}
}

// TestHeartbeatFromEnv: KIZUNA_HEARTBEAT's forms.
func TestHeartbeatFromEnv(t *testing.T) {
	tests := []struct {
		env     string
		want    time.Duration
		wantErr bool
	}{
		{"", DefaultHeartbeat, false},
		{"off", -1, false},
		{"0", -1, false},
		{"500ms", 500 * time.Millisecond, false},
		{"-1s", 0, true},
		{"often", 0, true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%q", tt.env), func(t *testing.T) {
			t.Setenv(EnvHeartbeat, tt.env)
			got, err := HeartbeatFromEnv()
			if (err != nil) != tt.wantErr || err == nil && got != tt.want {
				t.Errorf("HeartbeatFromEnv() = %v, %v; want %v (error %v)", got, err, tt.want, tt.wantErr)
			}
		})
	}
}
