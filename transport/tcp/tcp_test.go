package tcp

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/kizuna-hpc/kizuna/transport"
	"github.com/kizuna-hpc/kizuna/transport/transporttest"
)

// impls are the socket implementations available here.
func impls() []string {
	if netpollSupported {
		return []string{ImplNet, ImplNetpoll}
	}
	return []string{ImplNet}
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// connect builds a loopback mesh of size ranks with the given options; the
// ranks share a token, so every link is authenticated.
func connect(tb testing.TB, size int, impl string, sockets int, job string) []transport.Endpoint {
	tb.Helper()
	ls := make([]*Listener, size)
	addrs := make([]string, size)
	for r := range size {
		l, err := Listen(Config{Rank: r, Size: size, BindAddr: "127.0.0.1", SocketsPerPeer: sockets, JobID: job, Token: job + "-token", Impl: impl, Logger: quiet})
		if err != nil {
			tb.Fatalf("Listen(rank %d) = %v", r, err)
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
	for r, err := range errs {
		if err != nil {
			for _, ep := range eps {
				if ep != nil {
					_ = ep.Close()
				}
			}
			tb.Fatalf("Connect(rank %d) = %v", r, err)
		}
	}
	tb.Cleanup(func() {
		for _, ep := range eps {
			_ = ep.Close()
		}
	})
	return eps
}

func TestConformance(t *testing.T) {
	for _, impl := range impls() {
		for _, sockets := range []int{1, 3} {
			t.Run(fmt.Sprintf("%s/sockets=%d", impl, sockets), func(t *testing.T) {
				transporttest.Run(t, func(t *testing.T, size int) []transport.Endpoint {
					return connect(t, size, impl, sockets, "conformance")
				})
			})
		}
	}
}
