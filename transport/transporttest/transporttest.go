package transporttest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/kizuna-hpc/kizuna/transport"
)

// NewFabric builds size connected endpoints, ranks 0..size-1 in order. The
// suite closes them; a NewFabric may also register cleanups with t.
type NewFabric func(t *testing.T, size int) []transport.Endpoint

// IgnoreGoroutines lists process-wide goroutines that are not leaks: the
// event-loop pollers of github.com/cloudwego/netpoll, which start on first
// use and live as long as the process. Pass them to goleak.VerifyTestMain.
var IgnoreGoroutines = []goleak.Option{
	goleak.IgnoreAnyFunction("github.com/cloudwego/netpoll.(*defaultPoll).Wait"),
}

// Run runs the conformance suite against the endpoints newFabric builds. The
// subtests run one after another, each on a fabric of its own.
func Run(t *testing.T, newFabric func(t *testing.T, size int) []transport.Endpoint) {
	tests := []struct {
		name string
		fn   func(t *testing.T, nf NewFabric)
	}{
		{"Sizes", testSizes},
		{"ManyConcurrent", testManyConcurrent},
		{"MatchByKeyNotOrder", testMatchByKey},
		{"ZeroLength", testZeroLength},
		{"LengthMismatch", testLengthMismatch},
		{"WaitCancelled", testWaitCancelled},
		{"PeerClose", testPeerClose},
		{"CloseFailsPending", testCloseFailsPending},
		{"FailComm", testFailComm},
		{"Mismatch", testMismatch},
		{"Control", testControl},
		{"SendMisuse", testSendMisuse},
		{"NoLeaks", testNoLeaks},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, newFabric) })
	}
}

const waitLimit = 20 * time.Second // guards against hangs; never reached when passing

// fabric builds size endpoints and closes them when t ends.
func fabric(t *testing.T, nf NewFabric, size int) []transport.Endpoint {
	t.Helper()
	eps := nf(t, size)
	if len(eps) != size {
		t.Fatalf("NewFabric(%d) returned %d endpoints", size, len(eps))
	}
	for i, ep := range eps {
		if ep.Rank() != i || ep.Size() != size {
			t.Fatalf("endpoint %d: Rank(), Size() = %d, %d; want %d, %d", i, ep.Rank(), ep.Size(), i, size)
		}
	}
	t.Cleanup(func() { closeAll(t, eps) })
	return eps
}

func closeAll(t *testing.T, eps []transport.Endpoint) {
	for _, ep := range eps {
		if err := ep.Close(); err != nil && !errors.Is(err, transport.ErrClosed) {
			t.Errorf("rank %d: Close() = %v", ep.Rank(), err)
		}
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	t.Cleanup(cancel)
	return ctx
}

// Pattern returns n bytes that depend on seed and on the position, so a
// shifted, truncated or mixed-up payload is detected.
func Pattern(seed uint64, n int) []byte {
	b := make([]byte, n)
	x := seed*0x9E3779B97F4A7C15 + 1
	for i := range b {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b[i] = byte(x)
	}
	return b
}

func p2p(tag uint32, seq uint64) transport.Header {
	return transport.Header{Kind: transport.KindP2P, Comm: 0, Tag: tag, Seq: seq, Op: 9, Count: 1}
}

func keyFrom(h transport.Header, src int) transport.Key {
	h.Src = int32(src)
	return h.Key()
}

// waitUnexpected waits until m holds at least n complete unexpected frames.
func waitUnexpected(t *testing.T, m *transport.Mux, n int) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for m.Stats().Unexpected < n {
		if time.Now().After(deadline) {
			t.Fatalf("Mux holds %+v; want %d unexpected frames", m.Stats(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

func send(t *testing.T, ep transport.Endpoint, peer int, h transport.Header, p []byte) {
	t.Helper()
	if err := ep.Send(ctxT(t), peer, &h, p); err != nil {
		t.Fatalf("rank %d: Send(to %d, tag %d) = %v", ep.Rank(), peer, h.Tag, err)
	}
}

func recvOK(t *testing.T, ep transport.Endpoint, r *transport.Recv, want []byte) {
	t.Helper()
	if err := ep.Mux().Wait(ctxT(t), r); err != nil {
		t.Fatalf("rank %d: Wait(%+v) = %v", ep.Rank(), r.Key, err)
	}
	if !bytes.Equal(r.Buf, want) {
		i := 0
		for i < len(want) && i < len(r.Buf) && r.Buf[i] == want[i] {
			i++
		}
		t.Fatalf("rank %d: Recv(%+v).Buf differs from the payload sent at byte %d of %d", ep.Rank(), r.Key, i, len(want))
	}
	if r.Hdr.Len != uint32(len(want)) || r.Hdr.Key() != r.Key {
		t.Fatalf("rank %d: Recv.Hdr = %+v; want key %+v, length %d", ep.Rank(), r.Hdr, r.Key, len(want))
	}
}

func testSizes(t *testing.T, nf NewFabric) {
	eps := fabric(t, nf, 2)
	sizes := []int{0, 1, 7, 4096, 1<<20 + 3, 8 << 20}
	for _, posted := range []bool{true, false} {
		for i, n := range sizes {
			name := fmt.Sprintf("%d/posted=%v", n, posted)
			t.Run(name, func(t *testing.T) {
				h := p2p(uint32(i), 1)
				if !posted {
					h.Seq = 2
				}
				want := Pattern(uint64(n), n)
				r := &transport.Recv{Key: keyFrom(h, 0), Buf: make([]byte, n)}
				m := eps[1].Mux()
				if posted {
					if err := m.Post(r); err != nil {
						t.Fatal(err)
					}
					send(t, eps[0], 1, h, want)
				} else {
					send(t, eps[0], 1, h, want)
					waitUnexpected(t, m, 1)
					if err := m.Post(r); err != nil {
						t.Fatal(err)
					}
				}
				recvOK(t, eps[1], r, want)
				// The same in the other direction.
				r2 := &transport.Recv{Key: keyFrom(h, 1), Buf: make([]byte, n)}
				if err := eps[0].Mux().Post(r2); err != nil {
					t.Fatal(err)
				}
				send(t, eps[1], 0, h, want)
				recvOK(t, eps[0], r2, want)
			})
		}
	}
}

// testManyConcurrent: every rank sends many messages with random tags and
// sizes (fixed seed) to every other rank from several goroutines, and
// receives them in a random order, some posted before and some after they
// arrive.
func testManyConcurrent(t *testing.T, nf NewFabric) {
	const (
		size    = 4
		perPair = 40
	)
	eps := fabric(t, nf, size)
	type msg struct {
		h transport.Header
		p []byte
	}
	// msgs[src][dst]
	msgs := make([][][]msg, size)
	rng := rand.New(rand.NewPCG(42, 7))
	for s := range size {
		msgs[s] = make([][]msg, size)
		for d := range size {
			if s == d {
				continue
			}
			for i := range perPair {
				n := rng.IntN(16 << 10)
				if rng.IntN(10) == 0 {
					n = rng.IntN(300 << 10)
				}
				h := p2p(rng.Uint32(), uint64(i))
				msgs[s][d] = append(msgs[s][d], msg{h, Pattern(rng.Uint64(), n)})
			}
		}
	}
	ctx := ctxT(t)
	var wg sync.WaitGroup
	// Two sender goroutines per rank, each taking every other message.
	for s := range size {
		for half := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := half; i < perPair; i += 2 {
					for d := range size {
						if d == s {
							continue
						}
						m := msgs[s][d][i]
						h := m.h
						if err := eps[s].Send(ctx, d, &h, m.p); err != nil {
							t.Errorf("rank %d: Send(to %d) = %v", s, d, err)
							return
						}
					}
				}
			}()
		}
	}
	// One receiver goroutine per (dst, src).
	for d := range size {
		for s := range size {
			if s == d {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				mux := eps[d].Mux()
				order := rand.New(rand.NewPCG(uint64(s), uint64(d))).Perm(perPair)
				recvs := make([]transport.Recv, perPair)
				check := func(i int) bool {
					m := msgs[s][d][i]
					r := &recvs[i]
					if err := mux.Wait(ctx, r); err != nil {
						t.Errorf("rank %d: Wait(%+v) = %v", d, r.Key, err)
						return false
					}
					if !bytes.Equal(r.Buf, m.p) {
						t.Errorf("rank %d: message %d from %d differs from the one sent", d, i, s)
						return false
					}
					return true
				}
				batch := (s+d)%2 == 0 // post everything first, or one at a time
				for _, i := range order {
					m := msgs[s][d][i]
					recvs[i].Key = keyFrom(m.h, s)
					recvs[i].Buf = make([]byte, len(m.p))
					if err := mux.Post(&recvs[i]); err != nil {
						t.Errorf("rank %d: Post() = %v", d, err)
						return
					}
					if !batch && !check(i) {
						return
					}
				}
				if batch {
					for _, i := range order {
						if !check(i) {
							return
						}
					}
				}
			}()
		}
	}
	wg.Wait()
}

func testMatchByKey(t *testing.T, nf NewFabric) {
	eps := fabric(t, nf, 2)
	m := eps[1].Mux()
	hA, hB := p2p(1, 1), p2p(2, 1)
	a, b := Pattern(1, 100), Pattern(2, 100)
	// Both unexpected, received in the opposite order.
	send(t, eps[0], 1, hA, a)
	send(t, eps[0], 1, hB, b)
	rB := &transport.Recv{Key: keyFrom(hB, 0), Buf: make([]byte, 100)}
	rA := &transport.Recv{Key: keyFrom(hA, 0), Buf: make([]byte, 100)}
	_ = m.Post(rB)
	recvOK(t, eps[1], rB, b)
	_ = m.Post(rA)
	recvOK(t, eps[1], rA, a)
	// Both posted in the opposite order of sending.
	hA.Seq, hB.Seq = 2, 2
	rB.Key, rA.Key = keyFrom(hB, 0), keyFrom(hA, 0)
	_ = m.Post(rB)
	_ = m.Post(rA)
	send(t, eps[0], 1, hA, a)
	send(t, eps[0], 1, hB, b)
	recvOK(t, eps[1], rA, a)
	recvOK(t, eps[1], rB, b)
}

func testZeroLength(t *testing.T, nf NewFabric) {
	eps := fabric(t, nf, 3)
	m := eps[2].Mux()
	var posted []*transport.Recv
	for src := range 2 {
		for tag := range uint32(5) {
			h := transport.Header{Kind: transport.KindColl, Comm: 4, Tag: tag, Seq: 7, Op: 3, DType: 2, Root: 1, Count: int64(tag)}
			r := &transport.Recv{Key: keyFrom(h, src)}
			if tag%2 == 0 {
				_ = m.Post(r)
			}
			send(t, eps[src], 2, h, nil)
			posted = append(posted, r)
		}
	}
	for _, r := range posted {
		if r.Key.Tag%2 == 1 {
			_ = m.Post(r)
		}
	}
	for _, r := range posted {
		recvOK(t, eps[2], r, nil)
		if r.Hdr.Count != int64(r.Key.Tag) || r.Hdr.Op != 3 || r.Hdr.DType != 2 || r.Hdr.Root != 1 {
			t.Fatalf("Recv.Hdr = %+v; want the descriptor sent (Op 3, DType 2, Root 1, Count %d)", r.Hdr, r.Key.Tag)
		}
	}
}

func testLengthMismatch(t *testing.T, nf NewFabric) {
	eps := fabric(t, nf, 2)
	m := eps[1].Mux()
	tests := []struct {
		name       string
		frame, buf int
		want       error
		posted     bool
	}{
		{"longer posted", 70000, 1000, transport.ErrTooLarge, true},
		{"longer unexpected", 70000, 1000, transport.ErrTooLarge, false},
		{"shorter posted", 10, 20, transport.ErrShortFrame, true},
		{"shorter unexpected", 10, 20, transport.ErrShortFrame, false},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			backing := bytes.Repeat([]byte{0xA5}, tt.buf+64)
			h := p2p(uint32(i), 1)
			r := &transport.Recv{Key: keyFrom(h, 0), Buf: backing[32 : 32+tt.buf : 32+tt.buf]}
			if tt.posted {
				_ = m.Post(r)
			}
			send(t, eps[0], 1, h, Pattern(9, tt.frame))
			if !tt.posted {
				waitUnexpected(t, m, 1)
				_ = m.Post(r)
			}
			err := m.Wait(ctxT(t), r)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Wait() = %v; want %v", err, tt.want)
			}
			if !bytes.Equal(backing, bytes.Repeat([]byte{0xA5}, len(backing))) {
				t.Fatal("the receive buffer or the memory around it was written")
			}
			// The link still works.
			h2 := p2p(uint32(i)+100, 1)
			r2 := &transport.Recv{Key: keyFrom(h2, 0), Buf: make([]byte, 5)}
			_ = m.Post(r2)
			send(t, eps[0], 1, h2, []byte("after"))
			recvOK(t, eps[1], r2, []byte("after"))
		})
	}
}

func testWaitCancelled(t *testing.T, nf NewFabric) {
	eps := fabric(t, nf, 2)
	m := eps[1].Mux()
	h := p2p(3, 3)
	r := &transport.Recv{Key: keyFrom(h, 0), Buf: make([]byte, 64)}
	if err := m.Post(r); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := m.Wait(ctx, r); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait(cancelled) = %v; want context.Canceled", err)
	}
	// A Wait that is waiting when the context ends.
	if err := m.Post(r); err != nil {
		t.Fatalf("Post(reused) = %v", err)
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel2()
	if err := m.Wait(ctx2, r); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait(deadline) = %v; want context.DeadlineExceeded", err)
	}
	// The frame arrives after the cancellation; the reused Recv gets it.
	want := Pattern(3, 64)
	send(t, eps[0], 1, h, want)
	if err := m.Post(r); err != nil {
		t.Fatalf("Post(reused) = %v", err)
	}
	recvOK(t, eps[1], r, want)
}

func testPeerClose(t *testing.T, nf NewFabric) {
	eps := fabric(t, nf, 3)
	h := p2p(1, 1)
	r0 := &transport.Recv{Key: keyFrom(h, 2)}
	r1 := &transport.Recv{Key: keyFrom(h, 2)}
	_ = eps[0].Mux().Post(r0)
	_ = eps[1].Mux().Post(r1)
	if err := eps[2].Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	for i, r := range []*transport.Recv{r0, r1} {
		var pe *transport.PeerError
		err := eps[i].Mux().Wait(ctxT(t), r)
		if !errors.As(err, &pe) || pe.Peer != 2 {
			t.Fatalf("rank %d: Wait(recv from closed rank 2) = %v; want *PeerError naming rank 2", i, err)
		}
	}
	// Later receives from it fail too, and so do sends to it.
	r0.Key.Seq = 2
	_ = eps[0].Mux().Post(r0)
	var pe *transport.PeerError
	if err := eps[0].Mux().Wait(ctxT(t), r0); !errors.As(err, &pe) || pe.Peer != 2 {
		t.Fatalf("Wait(later recv from rank 2) = %v; want *PeerError naming rank 2", err)
	}
	hs := p2p(5, 5)
	if err := eps[0].Send(ctxT(t), 2, &hs, []byte("x")); !errors.As(err, &pe) || pe.Peer != 2 {
		t.Fatalf("Send(to closed rank 2) = %v; want *PeerError naming rank 2", err)
	}
	// Ranks 0 and 1 still talk.
	rr := &transport.Recv{Key: keyFrom(hs, 0), Buf: make([]byte, 2)}
	_ = eps[1].Mux().Post(rr)
	send(t, eps[0], 1, hs, []byte("ok"))
	recvOK(t, eps[1], rr, []byte("ok"))
}

func testCloseFailsPending(t *testing.T, nf NewFabric) {
	eps := fabric(t, nf, 2)
	h := p2p(1, 1)
	r := &transport.Recv{Key: keyFrom(h, 0)}
	_ = eps[1].Mux().Post(r)
	if err := eps[1].Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	if err := eps[1].Mux().Wait(ctxT(t), r); !errors.Is(err, transport.ErrClosed) {
		t.Fatalf("Wait() after Close = %v; want ErrClosed", err)
	}
	if err := eps[1].Close(); err != nil && !errors.Is(err, transport.ErrClosed) {
		t.Fatalf("second Close() = %v", err)
	}
	var pe *transport.PeerError
	if err := eps[1].Send(ctxT(t), 0, &h, nil); !errors.As(err, &pe) {
		t.Fatalf("Send() after Close = %v; want *PeerError", err)
	}
}

func testFailComm(t *testing.T, nf NewFabric) {
	eps := fabric(t, nf, 2)
	m := eps[1].Mux()
	coll := func(comm uint32) transport.Header {
		return transport.Header{Kind: transport.KindColl, Comm: comm, Tag: 1, Seq: 1, Op: 1, Count: 4}
	}
	h3, h4 := coll(3), coll(4)
	r3 := &transport.Recv{Key: keyFrom(h3, 0), Buf: make([]byte, 4)}
	r4 := &transport.Recv{Key: keyFrom(h4, 0), Buf: make([]byte, 4)}
	_ = m.Post(r3)
	_ = m.Post(r4)
	abort := errors.New("comm 3 aborted")
	m.FailComm(3, abort)
	if err := m.Wait(ctxT(t), r3); !errors.Is(err, abort) {
		t.Fatalf("Wait(on comm 3) = %v; want %v", err, abort)
	}
	send(t, eps[0], 1, h4, []byte("four"))
	recvOK(t, eps[1], r4, []byte("four"))
	m.ResetComm(3)
	_ = m.Post(r3)
	send(t, eps[0], 1, h3, []byte("back"))
	recvOK(t, eps[1], r3, []byte("back"))
}

func testMismatch(t *testing.T, nf NewFabric) {
	eps := fabric(t, nf, 3)
	m := eps[1].Mux()
	// Room for more calls than expected, so that an extra call is counted
	// rather than blocking the reader that makes it.
	handled := make(chan *transport.MismatchError, 4)
	m.SetMismatchHandler(func(e *transport.MismatchError) { handled <- e })
	local := transport.Header{Kind: transport.KindColl, Comm: 1, Seq: 5, Op: 1, DType: 1, Algo: 1, Count: 12}
	remote := local
	remote.Op, remote.Count, remote.Tag = 4, 10, 2

	// Rank 2's differing frame arrives before rank 1 starts the operation.
	send(t, eps[2], 1, remote, []byte("early"))
	waitUnexpected(t, m, 1)
	other := transport.Header{Kind: transport.KindColl, Comm: 2, Seq: 5, Op: 7, Tag: 2}
	rOther := &transport.Recv{Key: keyFrom(other, 0), Buf: make([]byte, 5)}
	_ = m.Post(rOther)
	rPending := &transport.Recv{Key: keyFrom(local, 0), Buf: make([]byte, 3)}
	_ = m.Post(rPending)
	m.Expect(local)
	var me *transport.MismatchError
	if err := m.Wait(ctxT(t), rPending); !errors.As(err, &me) {
		t.Fatalf("Wait(on comm 1) = %v; want *MismatchError", err)
	}
	if me.Remote.Src != 2 || me.Remote.Op != 4 || me.Remote.Count != 10 || me.Local.Src != 1 || me.Local.Op != 1 {
		t.Fatalf("MismatchError = {Local %+v, Remote %+v}; want rank 2 op 4 count 10 vs rank 1 op 1", me.Local, me.Remote)
	}
	select {
	case e := <-handled:
		if e != me {
			t.Fatalf("mismatch handler got %v; want the error Wait returned", e)
		}
	case <-ctxT(t).Done():
		t.Fatal("mismatch handler not called")
	}
	// Comm 2 is unaffected.
	send(t, eps[0], 1, other, []byte("other"))
	recvOK(t, eps[1], rOther, []byte("other"))

	// After Expect: a differing frame from rank 0 on comm 3.
	local.Comm, remote.Comm = 3, 3
	m.Expect(local)
	r3 := &transport.Recv{Key: keyFrom(local, 0), Buf: make([]byte, 3)}
	_ = m.Post(r3)
	send(t, eps[0], 1, remote, []byte("bad"))
	if err := m.Wait(ctxT(t), r3); !errors.As(err, &me) || me.Remote.Src != 0 {
		t.Fatalf("Wait(on comm 3) = %v; want *MismatchError naming rank 0", err)
	}
	<-handled
	m.Unexpect(1, 5)
	m.Unexpect(3, 5)
	if len(handled) != 0 {
		t.Fatalf("mismatch handler called %d extra times", len(handled))
	}
}

func testControl(t *testing.T, nf NewFabric) {
	eps := fabric(t, nf, 2)
	type ctl struct {
		src  int32
		comm uint32
		body string
	}
	got := make(chan ctl, 1)
	eps[1].Mux().SetControlHandler(func(h *transport.Header, p []byte) {
		got <- ctl{h.Src, h.Comm, string(p)} // p is copied: it is valid only during the call
	})
	// A posted receive with the same key must not take the control frame.
	h := transport.Header{Kind: transport.KindControl, Comm: 6}
	r := &transport.Recv{Key: transport.Key{Kind: transport.KindP2P, Comm: 6, Src: 0}, Buf: make([]byte, 5)}
	_ = eps[1].Mux().Post(r)
	send(t, eps[0], 1, h, []byte("abort"))
	select {
	case c := <-got:
		if c != (ctl{0, 6, "abort"}) {
			t.Fatalf("control handler got %+v; want {src 0, comm 6, abort}", c)
		}
	case <-ctxT(t).Done():
		t.Fatal("control frame did not reach the handler")
	}
	if st := eps[1].Mux().Stats(); st.Posted != 1 {
		t.Fatalf("Stats() = %+v; want the P2P receive still posted", st)
	}
	eps[1].Mux().Cancel(r)
}

func testSendMisuse(t *testing.T, nf NewFabric) {
	eps := fabric(t, nf, 2)
	for _, peer := range []int{0, -1, 2} {
		h := p2p(1, 1)
		if err := eps[0].Send(ctxT(t), peer, &h, nil); err == nil {
			t.Errorf("rank 0: Send(to %d) = nil; want error", peer)
		}
	}
	h := p2p(1, 1)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := eps[0].Send(ctx, 1, &h, []byte("x")); !errors.Is(err, context.Canceled) {
		t.Errorf("Send(cancelled ctx) = %v; want context.Canceled", err)
	}
}

func testNoLeaks(t *testing.T, nf NewFabric) {
	eps := nf(t, 3)
	// Some traffic, a pending receive and an unexpected frame at Close.
	h := p2p(1, 1)
	r := &transport.Recv{Key: keyFrom(h, 0), Buf: make([]byte, 1000)}
	_ = eps[1].Mux().Post(r)
	send(t, eps[0], 1, h, Pattern(1, 1000))
	recvOK(t, eps[1], r, Pattern(1, 1000))
	send(t, eps[0], 2, h, Pattern(1, 1000))
	_ = eps[2].Mux().Post(&transport.Recv{Key: keyFrom(h, 1)})
	closeAll(t, eps)
	goleak.VerifyNone(t, IgnoreGoroutines...)
}
