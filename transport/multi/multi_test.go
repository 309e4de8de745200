package multi

import (
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/kizuna-hpc/kizuna/transport"
	"github.com/kizuna-hpc/kizuna/transport/inproc"
	"github.com/kizuna-hpc/kizuna/transport/shm"
	"github.com/kizuna-hpc/kizuna/transport/tcp"
	"github.com/kizuna-hpc/kizuna/transport/transporttest"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// mixed builds size ranks where ranks of equal parity link over shared
// memory and the others over TCP (a TCP mesh without the shared-memory
// pairs), each rank behind one Endpoint with one Mux.
func mixed(t *testing.T, size int) []transport.Endpoint {
	t.Helper()
	job, token := "multi-"+rand.Text()[:8], rand.Text()
	ls := make([]*tcp.Listener, size)
	addrs := make([]string, size)
	for r := range size {
		l, err := tcp.Listen(tcp.Config{Rank: r, Size: size, BindAddr: "127.0.0.1", JobID: job, Token: token, Logger: quiet})
		if err != nil {
			t.Fatalf("tcp.Listen(rank %d) = %v", r, err)
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
			eps[r], errs[r] = connectMixed(ctx, r, size, ls[r], addrs, job, token)
		}()
	}
	wg.Wait()
	for r, err := range errs {
		if err != nil {
			for _, ep := range eps {
				if ep != nil {
					ep.Close()
				}
			}
			t.Fatalf("connect(rank %d) = %v", r, err)
		}
	}
	t.Cleanup(func() {
		for _, ep := range eps {
			ep.Close()
		}
	})
	return eps
}

func connectMixed(ctx context.Context, r, size int, l *tcp.Listener, addrs []string, job, token string) (transport.Endpoint, error) {
	var local []int
	tcpAddrs := append([]string(nil), addrs...)
	for p := range size {
		if p != r && p%2 == r%2 {
			local = append(local, p)
			tcpAddrs[p] = ""
		}
	}
	prep, err := shm.Prepare(shm.Config{Rank: r, Size: size, Peers: local, IDs: addrs, JobID: job, Token: token, RingBytes: 64 << 10, Logger: quiet})
	if err != nil {
		l.Close()
		return nil, err
	}
	tep, err := l.Connect(ctx, tcpAddrs)
	if err != nil {
		prep.Close()
		return nil, err
	}
	sep, err := prep.Connect(ctx, tep.Mux())
	if err != nil {
		tep.Close()
		return nil, err
	}
	routes := make([]transport.Endpoint, size)
	for p := range size {
		routes[p] = tep
		if p%2 == r%2 {
			routes[p] = sep
		}
	}
	return New(tep.Mux(), routes)
}

func TestConformance(t *testing.T) {
	transporttest.Run(t, mixed)
}

func TestName(t *testing.T) {
	eps := mixed(t, 3)
	tests := []struct {
		rank int
		want string
	}{
		{0, "shm+tcp"}, // shm to 2, tcp to 1
		{1, "tcp"},     // tcp to 0 and 2
	}
	for _, tt := range tests {
		if got := eps[tt.rank].Name(); got != tt.want {
			t.Errorf("rank %d: Name() = %q; want %q", tt.rank, got, tt.want)
		}
	}
	if got := eps[0].(*Endpoint).Route(2).Name(); got != "shm" {
		t.Errorf("rank 0: Route(2).Name() = %q; want shm", got)
	}
}

func TestNewErrors(t *testing.T) {
	f := inproc.NewFabric(2)
	defer f.Close()
	other := transport.NewMux(0, 2)
	tests := []struct {
		name   string
		mux    *transport.Mux
		routes []transport.Endpoint
	}{
		{"too few routes", f.Endpoint(0).Mux(), []transport.Endpoint{nil}},
		{"no route", f.Endpoint(0).Mux(), []transport.Endpoint{nil, nil}},
		{"route to another mux", other, []transport.Endpoint{nil, f.Endpoint(0)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(tt.mux, tt.routes); err == nil {
				t.Fatalf("New(%s) = nil error; want one", tt.name)
			}
		})
	}
}
