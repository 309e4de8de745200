package transport_test

import (
	"context"
	"fmt"

	"github.com/kizuna-hpc/kizuna/transport"
)

// A receive posted before its frame arrives gets the payload copied straight
// into its buffer; one posted after finds the frame buffered as unexpected.
func ExampleMux() {
	m := transport.NewMux(0, 2) // rank 0 of 2
	ctx := context.Background()

	posted := &transport.Recv{Key: transport.Key{Kind: transport.KindP2P, Src: 1, Tag: 1}, Buf: make([]byte, 5)}
	if err := m.Post(posted); err != nil {
		fmt.Println(err)
		return
	}
	h := transport.Header{Kind: transport.KindP2P, Src: 1, Tag: 1, Len: 5}
	m.Deliver(&h, []byte("hello")) // what a transport does when a frame arrives
	fmt.Println(m.Wait(ctx, posted), string(posted.Buf))

	h2 := transport.Header{Kind: transport.KindP2P, Src: 1, Tag: 2, Len: 5}
	m.Deliver(&h2, []byte("early"))
	fmt.Printf("%+v\n", m.Stats())
	late := &transport.Recv{Key: h2.Key(), Buf: make([]byte, 5)}
	_ = m.Post(late)
	fmt.Println(m.Wait(ctx, late), string(late.Buf))
	// Output:
	// <nil> hello
	// {Posted:0 Unexpected:1 UnexpectedBytes:5}
	// <nil> early
}
