package transport

import (
	"context"
	"errors"
	"testing"
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
