package inproc

import (
	"bytes"
	"context"
	"testing"

	"github.com/kizuna-hpc/kizuna/transport"
)

// TestSendYieldsForStartedReceive: a large collective frame whose receive
// the peer has not posted, in an operation the peer has started, gives the
// peer's goroutine one chance (a yield) to post it, and then lands straight
// in the receive buffer instead of an unexpected one; other frames are
// delivered at once without yielding.
func TestSendYieldsForStartedReceive(t *testing.T) {
	tests := []struct {
		name       string
		size       int
		started    bool // peer called Expect for the operation
		postFirst  bool // peer posted the receive before the send
		postInHook bool // the yield lets the peer post it
		wantYields int
		wantUnexp  int // frames held as unexpected right after Send
	}{
		{name: "started, posted during the yield", size: postWaitMin, started: true, postInHook: true, wantYields: 1, wantUnexp: 0},
		{name: "started, peer still busy", size: postWaitMin, started: true, wantYields: 1, wantUnexp: 1},
		{name: "not started", size: postWaitMin, started: false, postInHook: true, wantYields: 0, wantUnexp: 1},
		{name: "small payload", size: postWaitMin - 1, started: true, postInHook: true, wantYields: 0, wantUnexp: 1},
		{name: "already posted", size: 1 << 20, started: true, postFirst: true, wantYields: 0, wantUnexp: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := NewFabric(2)
			defer f.Close()
			dst := f.eps[1]
			desc := transport.Header{Kind: transport.KindColl, Op: 1, DType: 1, Comm: 7, Seq: 3, Count: int64(tt.size)}
			payload := bytes.Repeat([]byte{0xab}, tt.size)
			r := &transport.Recv{Key: transport.Key{Kind: transport.KindColl, Comm: 7, Src: 0, Tag: 5, Seq: 3}, Buf: make([]byte, tt.size)}
			if tt.started {
				dst.mux.Expect(desc)
			}
			post := func() {
				if err := dst.mux.Post(r); err != nil {
					t.Fatalf("Post(...) = %v; want nil", err)
				}
			}
			if tt.postFirst {
				post()
			}
			posted := tt.postFirst
			yields := 0
			f.yield = func() {
				yields++
				if tt.postInHook && !posted {
					post()
					posted = true
				}
			}
			h := desc
			h.Tag = 5
			if err := f.eps[0].Send(context.Background(), 1, &h, payload); err != nil {
				t.Fatalf("Send(...) = %v; want nil", err)
			}
			if yields != tt.wantYields {
				t.Errorf("Send yielded %d times; want %d", yields, tt.wantYields)
			}
			if got := dst.mux.Stats().Unexpected; got != tt.wantUnexp {
				t.Errorf("after Send, peer holds %d unexpected frames; want %d", got, tt.wantUnexp)
			}
			if !posted {
				post()
			}
			if err := dst.mux.Wait(context.Background(), r); err != nil {
				t.Fatalf("Wait(...) = %v; want nil", err)
			}
			if !bytes.Equal(r.Buf, payload) {
				t.Errorf("received payload differs from the one sent")
			}
		})
	}
}
