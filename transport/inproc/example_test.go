package inproc_test

import (
	"context"
	"fmt"

	"github.com/kizuna-hpc/kizuna/transport"
	"github.com/kizuna-hpc/kizuna/transport/inproc"
)

func ExampleNewFabric() {
	f := inproc.NewFabric(2)
	defer f.Close()
	ctx := context.Background()
	a, b := f.Endpoint(0), f.Endpoint(1)

	r := &transport.Recv{Key: transport.Key{Kind: transport.KindP2P, Src: 0, Tag: 7}, Buf: make([]byte, 2)}
	_ = b.Mux().Post(r)
	h := transport.Header{Kind: transport.KindP2P, Tag: 7}
	if err := a.Send(ctx, 1, &h, []byte("hi")); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(b.Mux().Wait(ctx, r), string(r.Buf), r.Hdr.Src)

	// A closed rank looks dead to its peers.
	_ = b.Close()
	fmt.Println(a.Send(ctx, 1, &h, []byte("hi")))
	// Output:
	// <nil> hi 0
	// transport: send rank 1: transport: closed
}
