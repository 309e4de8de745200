package transporttest

import (
	"context"
	"sync"
	"testing"

	"github.com/kizuna-hpc/kizuna/transport"
)

// BenchPingPong measures round trips of n-byte frames between eps[0] and
// eps[1]: rank 0 sends, rank 1 receives and sends the frame back. Receives
// are posted before the frame is sent, so it measures the posted-receive
// path; it reports bytes moved (2n per op) and allocations.
func BenchPingPong(b *testing.B, eps []transport.Endpoint, n int) {
	ctx := context.Background()
	iters := b.N
	h0, h1 := transport.Header{Kind: transport.KindP2P}, transport.Header{Kind: transport.KindP2P}
	r0 := &transport.Recv{Key: transport.Key{Kind: transport.KindP2P, Src: 1}, Buf: make([]byte, n)}
	r1 := &transport.Recv{Key: transport.Key{Kind: transport.KindP2P, Src: 0}, Buf: make([]byte, n)}
	payload := make([]byte, n)
	m0, m1 := eps[0].Mux(), eps[1].Mux()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range iters {
			r1.Key.Seq = uint64(i)
			if err := m1.Post(r1); err != nil {
				b.Error(err)
				return
			}
			if err := m1.Wait(ctx, r1); err != nil {
				b.Error(err)
				return
			}
			h1.Seq = uint64(i)
			if err := eps[1].Send(ctx, 0, &h1, r1.Buf); err != nil {
				b.Error(err)
				return
			}
		}
	}()
	b.SetBytes(int64(2 * n))
	b.ReportAllocs()
	b.ResetTimer()
	for i := range iters {
		r0.Key.Seq = uint64(i)
		if err := m0.Post(r0); err != nil {
			b.Fatal(err)
		}
		h0.Seq = uint64(i)
		if err := eps[0].Send(ctx, 1, &h0, payload); err != nil {
			b.Fatal(err)
		}
		if err := m0.Wait(ctx, r0); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	wg.Wait()
}

// BenchStream measures one-way throughput of n-byte frames from eps[0] to
// eps[1]. The receiver keeps a window of receives posted, and the sender
// sends frame i only once receive i is posted (credits through a channel,
// as both ranks run in this process), so it measures the posted-receive
// path at full pipeline depth; it reports bytes per op and allocations.
func BenchStream(b *testing.B, eps []transport.Endpoint, n int) {
	const window = 16
	ctx := context.Background()
	iters := b.N
	// One credit per posted receive: the buffer is the window, so that the
	// receiver can run a whole window ahead of the sender.
	credits := make(chan struct{}, window)
	var recvs [window]transport.Recv
	for i := range recvs {
		recvs[i].Buf = make([]byte, n)
	}
	payload := make([]byte, n)
	m := eps[1].Mux()
	stopped := make(chan struct{}) // closed when the receiver returns
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(stopped)
		post := func(i int) bool {
			r := &recvs[i%window]
			r.Key = transport.Key{Kind: transport.KindP2P, Src: 0, Seq: uint64(i)}
			if err := m.Post(r); err != nil {
				b.Error(err)
				return false
			}
			credits <- struct{}{}
			return true
		}
		for i := 0; i < window && i < iters; i++ {
			if !post(i) {
				return
			}
		}
		for i := range iters {
			if err := m.Wait(ctx, &recvs[i%window]); err != nil {
				b.Error(err)
				return
			}
			if i+window < iters && !post(i+window) {
				return
			}
		}
	}()
	h := transport.Header{Kind: transport.KindP2P}
	b.SetBytes(int64(n))
	b.ReportAllocs()
	b.ResetTimer()
	for i := range iters {
		select {
		case <-credits:
		case <-stopped:
			b.Fatal("receiver stopped early")
		}
		h.Seq = uint64(i)
		if err := eps[0].Send(ctx, 1, &h, payload); err != nil {
			b.Fatal(err)
		}
	}
	wg.Wait()
	b.StopTimer()
}
