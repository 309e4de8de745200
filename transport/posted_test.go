package transport

import (
	"context"
	"testing"
)

// TestPosted: Posted says a receive is posted exactly while one for the
// key waits for its frame, and started while the operation is expected.
func TestPosted(t *testing.T) {
	m := NewMux(1, 2)
	k := Key{Kind: KindColl, Comm: 3, Src: 0, Tag: 1, Seq: 7}
	other := k
	other.Tag = 2
	if posted, started := m.Posted(k); posted || started {
		t.Fatalf("Posted(k) = %v, %v before Expect and Post; want false, false", posted, started)
	}
	m.Expect(Header{Kind: KindColl, Comm: 3, Seq: 7})
	if posted, started := m.Posted(k); posted || !started {
		t.Fatalf("Posted(k) = %v, %v after Expect; want false, true", posted, started)
	}
	r := &Recv{Key: k, Buf: make([]byte, 4)}
	if err := m.Post(r); err != nil {
		t.Fatal(err)
	}
	pk, _ := m.Posted(k)
	po, _ := m.Posted(other)
	if !pk || po {
		t.Fatalf("after Post(k): Posted(k), Posted(other) = %v, %v; want true, false", pk, po)
	}
	h := Header{Kind: KindColl, Comm: 3, Src: 0, Tag: 1, Seq: 7, Len: 4}
	m.Deliver(&h, []byte("abcd"))
	if err := m.Wait(context.Background(), r); err != nil {
		t.Fatalf("Wait() = %v", err)
	}
	if posted, _ := m.Posted(k); posted {
		t.Fatal("Posted(k) = true after its frame arrived; want false")
	}
	if err := m.Post(r); err != nil {
		t.Fatal(err)
	}
	m.Cancel(r)
	if posted, _ := m.Posted(k); posted {
		t.Fatal("Posted(k) = true after Cancel; want false")
	}
	m.Unexpect(3, 7)
	if _, started := m.Posted(k); started {
		t.Fatal("Posted(k) says started after Unexpect; want not")
	}
}
