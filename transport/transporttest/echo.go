package transporttest

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/kizuna-hpc/kizuna/transport"
)

// Echo exchanges rounds frames of size bytes between eps[0] and eps[1]:
// rank 0 posts its receive, sends a frame with a new pattern each round
// and waits for it back; rank 1 receives each frame and sends it back. It
// fails t if a call fails or an echo differs from what was sent. Tests of
// a transport's receive paths (which goroutine read a frame, say) run it
// and then look at their own counters.
func Echo(t *testing.T, eps []transport.Endpoint, rounds, size int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { // rank 1 echoes every frame back
		buf := make([]byte, size)
		for i := range rounds {
			r := &transport.Recv{Key: transport.Key{Kind: transport.KindP2P, Src: 0, Seq: uint64(i)}, Buf: buf}
			if err := eps[1].Mux().Post(r); err != nil {
				done <- err
				return
			}
			if err := eps[1].Mux().Wait(ctx, r); err != nil {
				done <- err
				return
			}
			h := transport.Header{Kind: transport.KindP2P, Seq: uint64(i)}
			if err := eps[1].Send(ctx, 0, &h, buf); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	in := make([]byte, size)
	for i := range rounds {
		out := Pattern(uint64(i), size)
		r := &transport.Recv{Key: transport.Key{Kind: transport.KindP2P, Src: 1, Seq: uint64(i)}, Buf: in}
		if err := eps[0].Mux().Post(r); err != nil {
			t.Fatalf("Post(round %d) = %v", i, err)
		}
		h := transport.Header{Kind: transport.KindP2P, Seq: uint64(i)}
		if err := eps[0].Send(ctx, 1, &h, out); err != nil {
			t.Fatalf("Send(round %d) = %v", i, err)
		}
		if err := eps[0].Mux().Wait(ctx, r); err != nil {
			t.Fatalf("Wait(round %d) = %v", i, err)
		}
		if !bytes.Equal(in, out) {
			t.Fatalf("round %d: %d B echo differs from what was sent", i, size)
		}
	}
	if err := <-done; err != nil {
		t.Fatalf("echo rank: %v", err)
	}
}
