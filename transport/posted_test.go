package transport

import (
	"context"
	"testing"
)

// TestPosted: Posted is true exactly while a receive for the key waits for
// its frame.
func TestPosted(t *testing.T) {
	m := NewMux(1, 2)
	k := Key{Kind: KindColl, Comm: 3, Src: 0, Tag: 1, Seq: 7}
	other := k
	other.Tag = 2
	if m.Posted(k) {
		t.Fatal("Posted(k) = true before any Post; want false")
	}
	r := &Recv{Key: k, Buf: make([]byte, 4)}
	if err := m.Post(r); err != nil {
		t.Fatal(err)
	}
	if !m.Posted(k) || m.Posted(other) {
		t.Fatalf("after Post(k): Posted(k), Posted(other) = %v, %v; want true, false", m.Posted(k), m.Posted(other))
	}
	h := Header{Kind: KindColl, Comm: 3, Src: 0, Tag: 1, Seq: 7, Len: 4}
	m.Deliver(&h, []byte("abcd"))
	if err := m.Wait(context.Background(), r); err != nil {
		t.Fatalf("Wait() = %v", err)
	}
	if m.Posted(k) {
		t.Fatal("Posted(k) = true after its frame arrived; want false")
	}
	if err := m.Post(r); err != nil {
		t.Fatal(err)
	}
	m.Cancel(r)
	if m.Posted(k) {
		t.Fatal("Posted(k) = true after Cancel; want false")
	}
}
