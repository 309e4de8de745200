package transport

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestFailCommForgets: a failed comm keeps its failure but not its
// per-source sequence tracking, so communicators that come and go (split,
// used, closed) do not grow the Mux; frames for it are still dropped.
func TestFailCommForgets(t *testing.T) {
	m := NewMux(0, 3)
	m.SetFIFO(true)
	for comm := uint32(1); comm <= 100; comm++ {
		h := Header{Kind: KindColl, Src: 1, Comm: comm, Seq: 1, Tag: 0}
		m.Expect(h)
		m.Deliver(&h, nil)
		m.Unexpect(comm, 1)
		m.FailComm(comm, errors.New("closed"))
	}
	m.mu.Lock()
	latest, finished := len(m.latest), len(m.finished)
	m.mu.Unlock()
	if latest != 0 || finished != 0 {
		t.Errorf("after failing 100 comms: %d latest and %d finished entries; want 0 and 0", latest, finished)
	}
	h := Header{Kind: KindColl, Src: 1, Comm: 7, Seq: 2}
	m.Deliver(&h, []byte{})
	if s := m.Stats(); s.Unexpected != 0 {
		t.Errorf("frame for a failed comm kept: %+v", s)
	}
	r := &Recv{Key: Key{Kind: KindColl, Comm: 7, Src: 1, Seq: 2}}
	if err := m.Post(r); err != nil {
		t.Fatal(err)
	}
	if err := m.Wait(context.Background(), r); err == nil {
		t.Errorf("receive on a failed comm: err = nil; want its failure")
	}
}

// TestMuxSkippedOperation: with FIFO delivery, a frame from src for a later
// operation fails a receive posted from src for an earlier one (src
// skipped it), and only then: posted receives of the frame's own or a
// later operation, of another source, or none at all, are left alone.
// The Mux looks through its posted receives only when one may be earlier
// than the frame (collLow), so the cases cover a lower bound that must
// fall when a receive is posted and rise again when none is left.
func TestMuxSkippedOperation(t *testing.T) {
	op := func(seq uint64) Header { return Header{Kind: KindColl, Op: 1, Comm: 3, Seq: seq, Count: 4} }
	frame := func(src int32, seq uint64) Header { h := op(seq); h.Src = src; return h }
	recv := func(src int32, seq uint64) *Recv {
		return &Recv{Key: Key{Kind: KindColl, Comm: 3, Src: src, Seq: seq}}
	}
	tests := []struct {
		name    string
		done    []uint64 // operations run to completion first (a frame from rank 1 each)
		post    []*Recv  // then posted, each for an operation Expect has started
		arrive  Header   // then this frame arrives
		skipped int      // index in post of the receive that must fail; -1: none
		then    *Header  // then this frame arrives too, if not nil
	}{
		{"later operation", nil, []*Recv{recv(1, 1)}, frame(1, 2), 0, nil},
		{"same operation", nil, []*Recv{recv(1, 1)}, frame(1, 1), -1, nil},
		{"other source", nil, []*Recv{recv(2, 1)}, frame(1, 2), -1, nil},
		{"nothing posted", nil, nil, frame(1, 2), -1, nil},
		{"after completed operations", []uint64{1, 2, 3}, []*Recv{recv(1, 4)}, frame(1, 5), 0, nil},
		{"later receive posted first", nil, []*Recv{recv(1, 2), recv(1, 1)}, frame(1, 2), 1, nil},
		{"earlier receive posted first", nil, []*Recv{recv(1, 1), recv(1, 2)}, frame(1, 2), 0, nil},
		// The bound must stay low while an earlier receive is still
		// posted after a later one has been matched.
		{"earlier receive outlives a later one", nil, []*Recv{recv(1, 1), recv(2, 2)}, frame(2, 2), 0, ptr(frame(1, 2))},
		{"early frame for a later operation", []uint64{1}, []*Recv{recv(1, 3), recv(1, 2)}, frame(1, 3), 1, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewMux(0, 3)
			m.SetFIFO(true)
			// A missed mismatch leaves a receive pending: fail, not hang.
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			for _, seq := range tt.done {
				m.Expect(op(seq))
				r := recv(1, seq)
				if err := m.Post(r); err != nil {
					t.Fatal(err)
				}
				h := frame(1, seq)
				m.Deliver(&h, nil)
				if err := m.Wait(ctx, r); err != nil {
					t.Fatalf("operation %d: %v", seq, err)
				}
				m.Unexpect(3, seq)
			}
			for _, r := range tt.post {
				m.Expect(op(r.Key.Seq))
				if err := m.Post(r); err != nil {
					t.Fatal(err)
				}
			}
			m.Deliver(&tt.arrive, nil)
			if tt.then != nil {
				m.Deliver(tt.then, nil)
			}
			for i, r := range tt.post {
				if i == tt.skipped {
					var me *MismatchError
					if err := m.Wait(ctx, r); !errors.As(err, &me) {
						t.Fatalf("receive %d (operation %d): %v; want a *MismatchError", i, r.Key.Seq, err)
					}
					continue
				}
				if tt.skipped >= 0 && r.Key == tt.arrive.Key() {
					_ = m.Wait(ctx, r) // matched before the comm failed, or failed with it
					continue
				}
				if tt.skipped >= 0 {
					// The comm has failed: every receive on it fails.
					if err := m.Wait(ctx, r); err == nil {
						t.Fatalf("receive %d (operation %d) on the failed comm: nil error", i, r.Key.Seq)
					}
					continue
				}
				if r.Key == tt.arrive.Key() {
					if err := m.Wait(ctx, r); err != nil {
						t.Fatalf("receive %d (the frame's own): %v", i, err)
					}
					continue
				}
				m.Cancel(r)
				if err := m.Wait(ctx, r); !errors.Is(err, context.Canceled) {
					t.Fatalf("receive %d (operation %d): %v; want it still pending (Canceled)", i, r.Key.Seq, err)
				}
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }
