package transport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// pattern returns n bytes that depend on seed and position.
func pattern(seed, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(seed*131 + i*7 + i>>8)
	}
	return b
}

func dataHeader(src int, tag uint32, n int) Header {
	return Header{Kind: KindP2P, Comm: 1, Src: int32(src), Tag: tag, Seq: 1, Len: uint32(n)}
}

// deliverer abstracts the two delivery paths.
type deliverer struct {
	name string
	fn   func(m *Mux, h *Header, p []byte) error
}

var deliverers = []deliverer{
	{"Deliver", func(m *Mux, h *Header, p []byte) error { m.Deliver(h, p); return nil }},
	{"DeliverFrom", func(m *Mux, h *Header, p []byte) error { return m.DeliverFrom(h, bytes.NewReader(p)) }},
}

func TestMuxDelivery(t *testing.T) {
	tests := []struct {
		name       string
		n          int
		postBefore bool
	}{
		{"empty posted", 0, true},
		{"empty unexpected", 0, false},
		{"1 posted", 1, true},
		{"1 unexpected", 1, false},
		{"100 posted", 100, true},
		{"100 unexpected", 100, false},
		{"70000 posted", 70000, true},
		{"70000 unexpected", 70000, false},
		{"3 chunks unexpected", 2*unexpChunk + 5, false},
	}
	for _, d := range deliverers {
		for _, tt := range tests {
			t.Run(d.name+"/"+tt.name, func(t *testing.T) {
				m := NewMux(0, 2)
				h := dataHeader(1, 5, tt.n)
				want := pattern(tt.n, tt.n)
				r := &Recv{Key: h.Key(), Buf: make([]byte, tt.n)}
				if tt.postBefore {
					if err := m.Post(r); err != nil {
						t.Fatalf("Post() = %v", err)
					}
				}
				if err := d.fn(m, &h, want); err != nil {
					t.Fatalf("%s() = %v", d.name, err)
				}
				if !tt.postBefore {
					if got, want := m.Stats(), (MuxStats{Unexpected: 1, UnexpectedBytes: int64(tt.n)}); got != want {
						t.Fatalf("Stats() = %+v; want %+v", got, want)
					}
					if err := m.Post(r); err != nil {
						t.Fatalf("Post() = %v", err)
					}
				}
				if err := m.Wait(context.Background(), r); err != nil {
					t.Fatalf("Wait() = %v", err)
				}
				if got := m.Stats(); got != (MuxStats{}) {
					t.Fatalf("Stats() after Wait = %+v; want zero", got)
				}
				if !bytes.Equal(r.Buf, want) {
					t.Fatalf("Recv.Buf = %x...; want %x...", head(r.Buf), head(want))
				}
				if r.Hdr != h {
					t.Fatalf("Recv.Hdr = %+v; want %+v", r.Hdr, h)
				}
			})
		}
	}
}

func head(b []byte) []byte { return b[:min(len(b), 16)] }

func TestMuxMatchesByKey(t *testing.T) {
	for _, d := range deliverers {
		t.Run(d.name, func(t *testing.T) {
			m := NewMux(0, 3)
			keys := []Header{
				{Kind: KindColl, Comm: 0, Src: 1, Tag: 1, Seq: 1, Len: 8},
				{Kind: KindColl, Comm: 0, Src: 1, Tag: 2, Seq: 1, Len: 8},
				{Kind: KindColl, Comm: 0, Src: 2, Tag: 1, Seq: 1, Len: 8},
				{Kind: KindColl, Comm: 0, Src: 1, Tag: 1, Seq: 2, Len: 8},
				{Kind: KindColl, Comm: 3, Src: 1, Tag: 1, Seq: 1, Len: 8},
				{Kind: KindP2P, Comm: 0, Src: 1, Tag: 1, Seq: 1, Len: 8},
			}
			recvs := make([]*Recv, len(keys))
			// Post half, deliver all in reverse, post the rest.
			for i := range keys {
				recvs[i] = &Recv{Key: keys[i].Key(), Buf: make([]byte, 8)}
				if i%2 == 0 {
					if err := m.Post(recvs[i]); err != nil {
						t.Fatal(err)
					}
				}
			}
			for i := len(keys) - 1; i >= 0; i-- {
				if err := d.fn(m, &keys[i], pattern(i, 8)); err != nil {
					t.Fatal(err)
				}
			}
			for i := range keys {
				if i%2 == 1 {
					if err := m.Post(recvs[i]); err != nil {
						t.Fatal(err)
					}
				}
			}
			for i, r := range recvs {
				if err := m.Wait(context.Background(), r); err != nil {
					t.Fatalf("Wait(%+v) = %v", r.Key, err)
				}
				if !bytes.Equal(r.Buf, pattern(i, 8)) {
					t.Errorf("Recv(%+v).Buf = %x; want %x", r.Key, r.Buf, pattern(i, 8))
				}
			}
		})
	}
}

func TestMuxSameKeyInOrder(t *testing.T) {
	m := NewMux(0, 2)
	h := dataHeader(1, 1, 4)
	// Two frames buffered, then two posted; one posted, then two frames.
	m.Deliver(&h, []byte("aaaa"))
	m.Deliver(&h, []byte("bbbb"))
	for _, want := range []string{"aaaa", "bbbb"} {
		r := &Recv{Key: h.Key(), Buf: make([]byte, 4)}
		if err := m.Post(r); err != nil {
			t.Fatal(err)
		}
		if err := m.Wait(context.Background(), r); err != nil || string(r.Buf) != want {
			t.Fatalf("Wait() = %v, Buf %q; want nil, %q", err, r.Buf, want)
		}
	}
	r1 := &Recv{Key: h.Key(), Buf: make([]byte, 4)}
	r2 := &Recv{Key: h.Key(), Buf: make([]byte, 4)}
	_ = m.Post(r1)
	_ = m.Post(r2)
	m.Deliver(&h, []byte("cccc"))
	m.Deliver(&h, []byte("dddd"))
	for i, c := range []struct {
		r    *Recv
		want string
	}{{r1, "cccc"}, {r2, "dddd"}} {
		if err := m.Wait(context.Background(), c.r); err != nil || string(c.r.Buf) != c.want {
			t.Fatalf("Wait(r%d) = %v, Buf %q; want nil, %q", i+1, err, c.r.Buf, c.want)
		}
	}
}

func TestMuxLengthMismatch(t *testing.T) {
	tests := []struct {
		name       string
		frame, buf int
		want       error
		postBefore bool
	}{
		{"longer posted", 20, 10, ErrTooLarge, true},
		{"longer unexpected", 20, 10, ErrTooLarge, false},
		{"shorter posted", 5, 10, ErrShortFrame, true},
		{"shorter unexpected", 5, 10, ErrShortFrame, false},
		{"big into small", 100000, 1, ErrTooLarge, true},
	}
	for _, d := range deliverers {
		for _, tt := range tests {
			t.Run(d.name+"/"+tt.name, func(t *testing.T) {
				m := NewMux(0, 2)
				backing := bytes.Repeat([]byte{0xEE}, tt.buf+16)
				buf := backing[8 : 8+tt.buf : 8+tt.buf]
				h := dataHeader(1, 1, tt.frame)
				r := &Recv{Key: h.Key(), Buf: buf}
				if tt.postBefore {
					_ = m.Post(r)
				}
				// The frame and the one after it come on one stream.
				h2 := dataHeader(1, 2, 3)
				var stream bytes.Buffer
				stream.Write(pattern(1, tt.frame))
				stream.WriteString("xyz")
				if d.name == "DeliverFrom" {
					if err := m.DeliverFrom(&h, &stream); err != nil {
						t.Fatalf("DeliverFrom() = %v; want nil (the stream is intact)", err)
					}
					if err := m.DeliverFrom(&h2, &stream); err != nil {
						t.Fatalf("DeliverFrom(next) = %v", err)
					}
				} else {
					m.Deliver(&h, pattern(1, tt.frame))
					m.Deliver(&h2, []byte("xyz"))
				}
				if !tt.postBefore {
					_ = m.Post(r)
				}
				err := m.Wait(context.Background(), r)
				if !errors.Is(err, tt.want) {
					t.Fatalf("Wait() = %v; want %v", err, tt.want)
				}
				if !bytes.Equal(backing, bytes.Repeat([]byte{0xEE}, len(backing))) {
					t.Fatalf("receive buffer or its neighbours written: %x", head(backing))
				}
				r2 := &Recv{Key: h2.Key(), Buf: make([]byte, 3)}
				_ = m.Post(r2)
				if err := m.Wait(context.Background(), r2); err != nil || string(r2.Buf) != "xyz" {
					t.Fatalf("next frame: Wait() = %v, %q; want nil, \"xyz\"", err, r2.Buf)
				}
			})
		}
	}
}

func TestMuxWaitContext(t *testing.T) {
	m := NewMux(0, 2)
	h := dataHeader(1, 1, 4)
	r := &Recv{Key: h.Key(), Buf: make([]byte, 4)}
	if err := m.Post(r); err != nil {
		t.Fatal(err)
	}
	cause := errors.New("operation aborted")
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(cause)
	if err := m.Wait(ctx, r); !errors.Is(err, cause) {
		t.Fatalf("Wait(cancelled) = %v; want it to wrap %v", err, cause)
	}
	// The frame now arrives and is buffered; reposting r gets it.
	m.Deliver(&h, []byte("late"))
	if err := m.Post(r); err != nil {
		t.Fatalf("Post(reused) = %v", err)
	}
	if err := m.Wait(context.Background(), r); err != nil || string(r.Buf) != "late" {
		t.Fatalf("Wait(reused) = %v, %q; want nil, \"late\"", err, r.Buf)
	}

	ctx2, cancel2 := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel2()
	if err := m.Post(r); err != nil {
		t.Fatal(err)
	}
	if err := m.Wait(ctx2, r); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait(deadline) = %v; want DeadlineExceeded", err)
	}
}

func TestMuxCancel(t *testing.T) {
	m := NewMux(0, 2)
	h := dataHeader(1, 1, 4)
	r := &Recv{Key: h.Key(), Buf: make([]byte, 4)}
	_ = m.Post(r)
	errc := make(chan error, 1)
	go func() { errc <- m.Wait(context.Background(), r) }()
	m.Cancel(r)
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait() after Cancel = %v; want Canceled", err)
	}
	// Cancel of a completed Recv changes nothing.
	m.Cancel(r)
	if err := m.Wait(context.Background(), r); !errors.Is(err, context.Canceled) {
		t.Fatalf("second Wait() = %v; want the same result", err)
	}
	// Cancel without Wait, then Post again.
	_ = m.Post(r)
	m.Cancel(r)
	if err := m.Post(r); err != nil {
		t.Fatalf("Post() after Cancel = %v", err)
	}
	m.Deliver(&h, []byte("data"))
	if err := m.Wait(context.Background(), r); err != nil || string(r.Buf) != "data" {
		t.Fatalf("Wait() = %v, %q; want nil, \"data\"", err, r.Buf)
	}
}

// TestMuxWithdrawWhileFilling: a Recv that claimed a buffered frame still
// arriving can be cancelled at once; the frame goes back to the queue.
func TestMuxWithdrawWhileFilling(t *testing.T) {
	for _, how := range []string{"Cancel", "Wait"} {
		t.Run(how, func(t *testing.T) {
			m := NewMux(0, 2)
			h := dataHeader(1, 1, 8)
			pr, pw := io.Pipe()
			done := make(chan error, 1)
			go func() { done <- m.DeliverFrom(&h, pr) }()
			if _, err := pw.Write([]byte("abcd")); err != nil { // half the payload: now filling
				t.Fatal(err)
			}
			r := &Recv{Key: h.Key(), Buf: make([]byte, 8)}
			_ = m.Post(r)
			var err error
			if how == "Cancel" {
				m.Cancel(r)
				err = m.Wait(context.Background(), r)
			} else {
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				err = m.Wait(ctx, r)
			}
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("Wait() = %v; want Canceled", err)
			}
			if _, err := pw.Write([]byte("efgh")); err != nil {
				t.Fatal(err)
			}
			if err := <-done; err != nil {
				t.Fatalf("DeliverFrom() = %v", err)
			}
			if err := m.Post(r); err != nil {
				t.Fatal(err)
			}
			if err := m.Wait(context.Background(), r); err != nil || string(r.Buf) != "abcdefgh" {
				t.Fatalf("Wait(reposted) = %v, %q; want nil, \"abcdefgh\"", err, r.Buf)
			}
		})
	}
}

// TestMuxCancelWaitsForCopy: Cancel of a Recv whose payload is being read
// into its buffer returns only once the read is over.
func TestMuxCancelWaitsForCopy(t *testing.T) {
	m := NewMux(0, 2)
	h := dataHeader(1, 1, 8)
	r := &Recv{Key: h.Key(), Buf: make([]byte, 8)}
	_ = m.Post(r)
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- m.DeliverFrom(&h, pr) }()
	if _, err := pw.Write([]byte("abcd")); err != nil {
		t.Fatal(err)
	}
	go func() {
		// Completes the payload while Cancel waits (or before it runs).
		_, _ = pw.Write([]byte("efgh"))
	}()
	m.Cancel(r)
	if got := string(r.Buf); got != "abcdefgh" {
		t.Fatalf("Recv.Buf after Cancel = %q; want the whole payload", got)
	}
	if err := m.Wait(context.Background(), r); err != nil {
		t.Fatalf("Wait() = %v; want nil (the frame had matched)", err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestMuxFailPeer(t *testing.T) {
	m := NewMux(0, 3)
	h1 := dataHeader(1, 1, 2)
	h1b := dataHeader(1, 2, 2)
	h2 := dataHeader(2, 1, 2)
	m.Deliver(&h1b, []byte("ok")) // arrived before the failure
	pending := &Recv{Key: h1.Key(), Buf: make([]byte, 2)}
	other := &Recv{Key: h2.Key(), Buf: make([]byte, 2)}
	_ = m.Post(pending)
	_ = m.Post(other)
	cause := errors.New("connection reset")
	m.FailPeer(1, cause)
	var pe *PeerError
	if err := m.Wait(context.Background(), pending); !errors.As(err, &pe) || pe.Peer != 1 || pe.Op != "recv" || !errors.Is(err, cause) {
		t.Fatalf("Wait(pending from 1) = %v; want *PeerError{Peer: 1, Op: recv} wrapping %v", err, cause)
	}
	buffered := &Recv{Key: h1b.Key(), Buf: make([]byte, 2)}
	_ = m.Post(buffered)
	if err := m.Wait(context.Background(), buffered); err != nil || string(buffered.Buf) != "ok" {
		t.Fatalf("Wait(buffered from 1) = %v, %q; want nil, \"ok\"", err, buffered.Buf)
	}
	later := &Recv{Key: Key{Kind: KindP2P, Comm: 1, Src: 1, Tag: 9}, Buf: nil}
	_ = m.Post(later)
	if err := m.Wait(context.Background(), later); !errors.As(err, &pe) || pe.Peer != 1 {
		t.Fatalf("Wait(later from 1) = %v; want *PeerError naming rank 1", err)
	}
	m.Deliver(&h2, []byte("hi"))
	if err := m.Wait(context.Background(), other); err != nil || string(other.Buf) != "hi" {
		t.Fatalf("Wait(from 2) = %v, %q; want nil, \"hi\"", err, other.Buf)
	}
}

func TestMuxFailComm(t *testing.T) {
	m := NewMux(0, 2)
	onComm := func(comm uint32, tag uint32) Header {
		return Header{Kind: KindColl, Comm: comm, Src: 1, Tag: tag, Seq: 1, Len: 1}
	}
	hBuffered := onComm(7, 1)
	m.Deliver(&hBuffered, []byte{1})
	h7, h8 := onComm(7, 2), onComm(8, 2)
	pending := &Recv{Key: h7.Key(), Buf: make([]byte, 1)}
	otherComm := &Recv{Key: h8.Key(), Buf: make([]byte, 1)}
	_ = m.Post(pending)
	_ = m.Post(otherComm)
	if got, want := m.Stats(), (MuxStats{Posted: 2, Unexpected: 1, UnexpectedBytes: 1}); got != want {
		t.Fatalf("Stats() = %+v; want %+v", got, want)
	}
	abort := errors.New("aborted")
	m.FailComm(7, abort)
	if got, want := m.Stats(), (MuxStats{Posted: 1}); got != want {
		t.Fatalf("Stats() after FailComm = %+v; want %+v", got, want)
	}
	if err := m.Wait(context.Background(), pending); !errors.Is(err, abort) {
		t.Fatalf("Wait(pending on 7) = %v; want %v", err, abort)
	}
	r := &Recv{Key: hBuffered.Key(), Buf: make([]byte, 1)}
	_ = m.Post(r)
	if err := m.Wait(context.Background(), r); !errors.Is(err, abort) {
		t.Fatalf("Wait(buffered on 7) = %v; want %v (buffered frames are dropped)", err, abort)
	}
	m.Deliver(&h8, []byte{8})
	if err := m.Wait(context.Background(), otherComm); err != nil || otherComm.Buf[0] != 8 {
		t.Fatalf("Wait(on 8) = %v, %v; want nil, [8]", err, otherComm.Buf)
	}
	// Frames during the failure are dropped; after ResetComm they match.
	m.Deliver(&hBuffered, []byte{2})
	m.ResetComm(7)
	_ = m.Post(r)
	m.Deliver(&hBuffered, []byte{3})
	if err := m.Wait(context.Background(), r); err != nil || r.Buf[0] != 3 {
		t.Fatalf("Wait(after ResetComm) = %v, %v; want nil, [3]", err, r.Buf)
	}
}

func TestMuxFail(t *testing.T) {
	m := NewMux(0, 2)
	var calls int
	m.SetControlHandler(func(*Header, []byte) { calls++ })
	h := dataHeader(1, 1, 1)
	m.Deliver(&h, []byte{1})
	h2 := dataHeader(1, 2, 1)
	r := &Recv{Key: h2.Key(), Buf: make([]byte, 1)}
	_ = m.Post(r)
	m.Fail(ErrClosed)
	if err := m.Wait(context.Background(), r); !errors.Is(err, ErrClosed) {
		t.Fatalf("Wait(pending) = %v; want ErrClosed", err)
	}
	r2 := &Recv{Key: h.Key(), Buf: make([]byte, 1)}
	_ = m.Post(r2)
	if err := m.Wait(context.Background(), r2); !errors.Is(err, ErrClosed) {
		t.Fatalf("Wait(buffered) = %v; want ErrClosed", err)
	}
	if err := m.DeliverFrom(&h, bytes.NewReader([]byte{1})); err != nil {
		t.Fatalf("DeliverFrom() after Fail = %v; want nil (payload dropped)", err)
	}
	m.Deliver(&Header{Kind: KindControl, Src: 1}, nil)
	if calls != 0 {
		t.Fatalf("control handler called %d times after Fail; want 0", calls)
	}
}

func TestMuxMismatch(t *testing.T) {
	local := Header{Kind: KindColl, Op: 1, DType: 1, Algo: 1, Comm: 5, Seq: 3, Count: 12}
	same := local
	same.Src = 2
	differ := same
	differ.Op, differ.Count = 4, 10
	tests := []struct {
		name     string
		before   []Header // frames delivered before Expect
		after    []Header // frames delivered after Expect
		mismatch bool
		remote   Header
	}{
		{"agree", []Header{same}, []Header{same}, false, Header{}},
		{"differ after Expect", nil, []Header{differ}, true, differ},
		{"differ before Expect", []Header{differ}, nil, true, differ},
		{"second early frame differs", []Header{same, withTag(differ, 1)}, nil, true, withTag(differ, 1)},
		{"other seq ignored", []Header{withSeq(differ, 4)}, nil, false, Header{}},
	}
	for _, d := range deliverers {
		for _, tt := range tests {
			t.Run(d.name+"/"+tt.name, func(t *testing.T) {
				m := NewMux(0, 3)
				var got []*MismatchError
				var mu sync.Mutex
				m.SetMismatchHandler(func(e *MismatchError) {
					mu.Lock()
					got = append(got, e)
					mu.Unlock()
				})
				pending := &Recv{Key: Key{Kind: KindColl, Comm: 5, Src: 2, Tag: 77, Seq: 3}}
				otherComm := &Recv{Key: Key{Kind: KindColl, Comm: 6, Src: 2, Tag: 77, Seq: 3}}
				_ = m.Post(pending)
				_ = m.Post(otherComm)
				for _, h := range tt.before {
					if err := d.fn(m, &h, nil); err != nil {
						t.Fatal(err)
					}
				}
				m.Expect(local)
				for _, h := range tt.after {
					if err := d.fn(m, &h, nil); err != nil {
						t.Fatal(err)
					}
				}
				if !tt.mismatch {
					if len(got) != 0 {
						t.Fatalf("mismatch handler called with %v; want no call", got[0])
					}
					m.Cancel(pending)
					if err := m.Wait(context.Background(), pending); !errors.Is(err, context.Canceled) {
						t.Fatalf("Wait(pending) = %v; want Canceled (no mismatch)", err)
					}
					return
				}
				// Another frame that differs must not call the handler again.
				extra := differ
				extra.Tag = 99
				_ = d.fn(m, &extra, nil)
				var me *MismatchError
				if err := m.Wait(context.Background(), pending); !errors.As(err, &me) {
					t.Fatalf("Wait(pending) = %v; want *MismatchError", err)
				}
				wantLocal := local
				if me.Local != wantLocal || me.Remote != tt.remote {
					t.Fatalf("MismatchError = {%+v, %+v}; want {%+v, %+v}", me.Local, me.Remote, wantLocal, tt.remote)
				}
				mu.Lock()
				n := len(got)
				mu.Unlock()
				if n != 1 {
					t.Fatalf("mismatch handler called %d times; want 1", n)
				}
				// Comm 6 is unaffected.
				h6 := Header{Kind: KindColl, Comm: 6, Src: 2, Tag: 77, Seq: 3}
				_ = d.fn(m, &h6, nil)
				if err := m.Wait(context.Background(), otherComm); err != nil {
					t.Fatalf("Wait(other comm) = %v; want nil", err)
				}
			})
		}
	}
}

func withTag(h Header, tag uint32) Header { h.Tag = tag; return h }
func withSeq(h Header, seq uint64) Header { h.Seq = seq; return h }

func TestMismatchErrorMessage(t *testing.T) {
	e := &MismatchError{
		Local:  Header{Op: 1, Count: 12, DType: 1, Root: 0, Algo: 1, Src: 0, Comm: 0, Seq: 9},
		Remote: Header{Op: 4, Count: 10, DType: 1, Root: 0, Algo: 1, Src: 2, Comm: 0, Seq: 9},
	}
	got := e.Error()
	for _, want := range []string{"rank 2 called op 4 (count 10, dtype 1", "but rank 0 called op 1 (count 12", "seq 9"} {
		if !strings.Contains(got, want) {
			t.Errorf("MismatchError.Error() = %q; want it to contain %q", got, want)
		}
	}
}

func TestMuxControl(t *testing.T) {
	m := NewMux(0, 2)
	var got []string
	m.SetControlHandler(func(h *Header, p []byte) {
		got = append(got, fmt.Sprintf("%d:%s", h.Src, p))
	})
	m.Deliver(&Header{Kind: KindControl, Src: 1, Len: 3}, []byte("abc"))
	h := Header{Kind: KindControl, Src: 1, Len: 4}
	if err := m.DeliverFrom(&h, strings.NewReader("defg")); err != nil {
		t.Fatal(err)
	}
	want := []string{"1:abc", "1:defg"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("control handler got %q; want %q", got, want)
	}
	big := Header{Kind: KindControl, Src: 1, Len: maxControlPayload + 1}
	if err := m.DeliverFrom(&big, strings.NewReader("")); !errors.Is(err, ErrProtocol) {
		t.Fatalf("DeliverFrom(oversized control) = %v; want ErrProtocol", err)
	}
}

func TestMuxDeliverFromErrors(t *testing.T) {
	m := NewMux(0, 2)
	tests := []struct {
		name string
		h    Header
		rd   io.Reader
		want error
	}{
		{"src out of range", Header{Kind: KindP2P, Src: 2}, strings.NewReader(""), ErrProtocol},
		{"bad kind", Header{Kind: 9, Src: 1}, strings.NewReader(""), ErrProtocol},
		{"too long", Header{Kind: KindP2P, Src: 1, Len: MaxPayload + 1}, strings.NewReader(""), ErrProtocol},
		{"truncated", Header{Kind: KindP2P, Src: 1, Len: 10}, strings.NewReader("abc"), io.ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := m.DeliverFrom(&tt.h, tt.rd); !errors.Is(err, tt.want) {
				t.Fatalf("DeliverFrom(%+v) = %v; want %v", tt.h, err, tt.want)
			}
		})
	}
	// A truncated frame fails a posted receive with a *PeerError.
	h := Header{Kind: KindP2P, Src: 1, Tag: 3, Len: 10}
	r := &Recv{Key: h.Key(), Buf: make([]byte, 10)}
	_ = m.Post(r)
	if err := m.DeliverFrom(&h, strings.NewReader("abc")); err == nil {
		t.Fatal("DeliverFrom(truncated) = nil; want error")
	}
	var pe *PeerError
	if err := m.Wait(context.Background(), r); !errors.As(err, &pe) || pe.Peer != 1 {
		t.Fatalf("Wait() = %v; want *PeerError naming rank 1", err)
	}
}

// TestMuxHostileLength: a frame that announces MaxPayload bytes but sends
// few costs memory for what it sent, not for what it announced.
func TestMuxHostileLength(t *testing.T) {
	m := NewMux(0, 2)
	h := Header{Kind: KindColl, Src: 1, Len: MaxPayload}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	err := m.DeliverFrom(&h, strings.NewReader("only a few bytes"))
	runtime.ReadMemStats(&after)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("DeliverFrom(truncated 1 GiB frame) = %v; want ErrUnexpectedEOF", err)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 4*unexpChunk {
		t.Fatalf("DeliverFrom(truncated 1 GiB frame) allocated %d bytes; want at most %d", grew, 4*unexpChunk)
	}
	if st := m.Stats(); st != (MuxStats{}) {
		t.Fatalf("Stats() = %+v; want the broken frame gone", st)
	}
}

func TestMuxPostMisuse(t *testing.T) {
	m := NewMux(0, 2)
	tests := []struct {
		name string
		key  Key
	}{
		{"control kind", Key{Kind: KindControl, Src: 1}},
		{"zero kind", Key{Src: 1}},
		{"src negative", Key{Kind: KindP2P, Src: -1}},
		{"src too big", Key{Kind: KindP2P, Src: 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := m.Post(&Recv{Key: tt.key}); err == nil {
				t.Fatalf("Post(%+v) = nil; want error", tt.key)
			}
		})
	}
	r := &Recv{Key: Key{Kind: KindP2P, Src: 1}}
	if err := m.Post(r); err != nil {
		t.Fatal(err)
	}
	if err := m.Post(r); err == nil {
		t.Fatal("Post(pending) = nil; want error")
	}
	if err := m.Wait(context.Background(), &Recv{}); err == nil {
		t.Fatal("Wait(never posted) = nil; want error")
	}
	m.Cancel(r)
}

func TestMuxAllocs(t *testing.T) {
	m := NewMux(0, 2)
	h := Header{Kind: KindColl, Src: 1, Len: 4096}
	payload := make([]byte, 4096)
	r := &Recv{Key: h.Key(), Buf: make([]byte, 4096)}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rd := bytes.NewReader(payload)
	tests := []struct {
		name string
		fn   func()
	}{
		{"posted Deliver", func() {
			_ = m.Post(r)
			m.Deliver(&h, payload)
			_ = m.Wait(ctx, r)
		}},
		{"unexpected Deliver", func() {
			m.Deliver(&h, payload)
			_ = m.Post(r)
			_ = m.Wait(ctx, r)
		}},
		{"posted DeliverFrom", func() {
			_ = m.Post(r)
			rd.Reset(payload)
			_ = m.DeliverFrom(&h, rd)
			_ = m.Wait(ctx, r)
		}},
		{"unexpected DeliverFrom", func() {
			rd.Reset(payload)
			_ = m.DeliverFrom(&h, rd)
			_ = m.Post(r)
			_ = m.Wait(ctx, r)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.fn() // warm up maps, pools and free lists
			if allocs := testing.AllocsPerRun(200, tt.fn); allocs != 0 {
				t.Fatalf("%s allocs/op = %v; want 0", tt.name, allocs)
			}
		})
	}
}

// TestMuxConcurrent stresses Post, Deliver, DeliverFrom, Cancel and Wait from
// many goroutines with random keys (fixed seed) under the race detector.
func TestMuxConcurrent(t *testing.T) {
	const (
		senders = 4
		perSend = 300
	)
	m := NewMux(0, senders+1)
	type msg struct {
		h Header
		p []byte
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var msgs [senders][]msg
	for s := range senders {
		for i := range perSend {
			n := rng.IntN(3000)
			h := Header{Kind: Kind(1 + rng.IntN(2)), Comm: uint32(rng.IntN(3)), Src: int32(s + 1), Tag: uint32(i), Seq: uint64(rng.IntN(5)), Len: uint32(n)}
			msgs[s] = append(msgs[s], msg{h, pattern(s*perSend+i, n)})
		}
	}
	var wg sync.WaitGroup
	for s := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i, mm := range msgs[s] {
				if i%2 == 0 {
					m.Deliver(&mm.h, mm.p)
				} else if err := m.DeliverFrom(&mm.h, bytes.NewReader(mm.p)); err != nil {
					t.Errorf("DeliverFrom() = %v", err)
				}
			}
		}()
	}
	for s := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := &Recv{}
			order := rand.New(rand.NewPCG(uint64(s), 9)).Perm(perSend)
			for _, i := range order {
				mm := msgs[s][i]
				r.Key, r.Buf = mm.h.Key(), make([]byte, len(mm.p))
				if err := m.Post(r); err != nil {
					t.Errorf("Post() = %v", err)
					return
				}
				if err := m.Wait(context.Background(), r); err != nil {
					t.Errorf("Wait(%+v) = %v", r.Key, err)
					return
				}
				if !bytes.Equal(r.Buf, mm.p) {
					t.Errorf("Recv(%+v).Buf differs from the payload sent", r.Key)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func BenchmarkMuxPosted(b *testing.B) {
	for _, n := range []int{8, 64 << 10} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			m := NewMux(0, 2)
			h := Header{Kind: KindColl, Src: 1, Len: uint32(n)}
			payload := make([]byte, n)
			r := &Recv{Key: h.Key(), Buf: make([]byte, n)}
			ctx := context.Background()
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				_ = m.Post(r)
				m.Deliver(&h, payload)
				_ = m.Wait(ctx, r)
			}
		})
	}
}

func BenchmarkMuxUnexpected(b *testing.B) {
	for _, n := range []int{8, 64 << 10} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			m := NewMux(0, 2)
			h := Header{Kind: KindColl, Src: 1, Len: uint32(n)}
			payload := make([]byte, n)
			r := &Recv{Key: h.Key(), Buf: make([]byte, n)}
			ctx := context.Background()
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				m.Deliver(&h, payload)
				_ = m.Post(r)
				_ = m.Wait(ctx, r)
			}
		})
	}
}

// TestHoldLimit: a source that runs ahead by more than the hold limit waits
// (DeliverCtx until its context ends, DeliverFrom until the receive is
// posted or room is made) instead of being buffered without bound.
func TestHoldLimit(t *testing.T) {
	m := NewMux(0, 2)
	m.SetHoldLimit(1 << 20)
	frame := func(tag uint32) *Header {
		return &Header{Kind: KindP2P, Src: 1, Tag: tag, Len: 512 << 10}
	}
	payload := make([]byte, 512<<10)
	ctx := context.Background()
	for tag := uint32(0); tag < 2; tag++ { // 1 MiB held: at the limit
		if err := m.DeliverCtx(ctx, frame(tag), payload); err != nil {
			t.Fatalf("DeliverCtx(tag %d) = %v; want nil", tag, err)
		}
	}
	short, cancel := context.WithTimeout(ctx, 150*time.Millisecond)
	defer cancel()
	if err := m.DeliverCtx(short, frame(2), payload); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("DeliverCtx over the limit = %v; want it to wait until its context ends", err)
	}
	if got := m.Stats().UnexpectedBytes; got != 1<<20 {
		t.Fatalf("held %d bytes; want %d", got, 1<<20)
	}

	// A stream delivery over the limit waits, then lands straight in the
	// receive posted for it.
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- m.DeliverFrom(frame(2), pr) }()
	go func() { pw.Write(payload); pw.Close() }()
	select {
	case err := <-done:
		t.Fatalf("DeliverFrom over the limit returned %v at once; want it to wait", err)
	case <-time.After(100 * time.Millisecond):
	}
	r := &Recv{Key: frame(2).Key(), Buf: make([]byte, 512<<10)}
	if err := m.Post(r); err != nil {
		t.Fatal(err)
	}
	if err := m.Wait(ctx, r); err != nil {
		t.Fatalf("Wait = %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("DeliverFrom = %v", err)
	}
	// Consuming a held frame makes room again.
	r0 := &Recv{Key: frame(0).Key(), Buf: make([]byte, 512<<10)}
	m.Post(r0)
	if err := m.Wait(ctx, r0); err != nil {
		t.Fatal(err)
	}
	if err := m.DeliverCtx(ctx, frame(3), payload); err != nil {
		t.Fatalf("DeliverCtx after room was made = %v", err)
	}
	// Failing the Mux releases a waiting delivery.
	go func() { time.Sleep(50 * time.Millisecond); m.Fail(ErrClosed) }()
	if err := m.DeliverCtx(ctx, frame(4), payload); err != nil {
		t.Fatalf("DeliverCtx after Fail = %v; want nil (the frame is dropped)", err)
	}
}
