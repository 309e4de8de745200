package tcp_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"

	"github.com/kizuna-hpc/kizuna/transport"
	"github.com/kizuna-hpc/kizuna/transport/tcp"
)

// Two ranks on loopback: each listens, the addresses are exchanged (by the
// rendezvous, in a real job), and each connects to the other.
func ExampleListen() {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	const size = 2
	ls := make([]*tcp.Listener, size)
	addrs := make([]string, size)
	for r := range size {
		l, err := tcp.Listen(tcp.Config{Rank: r, Size: size, BindAddr: "127.0.0.1", JobID: "example", Logger: quiet})
		if err != nil {
			fmt.Println(err)
			return
		}
		ls[r], addrs[r] = l, l.Addr()
	}
	ctx := context.Background()
	eps := make([]transport.Endpoint, size)
	var wg sync.WaitGroup
	for r := range size {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ep, err := ls[r].Connect(ctx, addrs)
			if err != nil {
				fmt.Println(err)
				return
			}
			eps[r] = ep
		}()
	}
	wg.Wait()
	defer eps[0].Close()
	defer eps[1].Close()

	r := &transport.Recv{Key: transport.Key{Kind: transport.KindP2P, Src: 0}, Buf: make([]byte, 5)}
	_ = eps[1].Mux().Post(r)
	h := transport.Header{Kind: transport.KindP2P}
	if err := eps[0].Send(ctx, 1, &h, []byte("hello")); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(eps[1].Mux().Wait(ctx, r), string(r.Buf), eps[1].Name())
	// Output: <nil> hello tcp
}
