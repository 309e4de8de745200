package shm

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/kizuna-hpc/kizuna/transport"
)

// TestInlineReads checks that receivers read their frames from the ring
// themselves when inline reads are on, never when off, and that the data
// is right either way.
func TestInlineReads(t *testing.T) {
	tests := []struct {
		inline     string
		wantInline bool
	}{
		{"on", true},
		{"off", false},
	}
	const rounds = 500
	for _, tt := range tests {
		t.Run(tt.inline, func(t *testing.T) {
			// Which of the receiver and the reader goroutine takes a frame
			// is up to timing: try a few times before calling none inline.
			var n uint64
			for range 5 {
				if n += echoRounds(t, tt.inline, rounds); n > 0 || !tt.wantInline {
					break
				}
			}
			t.Logf("inline = %s: %d frames read inline", tt.inline, n)
			if got := n > 0; got != tt.wantInline {
				t.Fatalf("inline = %s: %d frames read inline; want some: %v", tt.inline, n, tt.wantInline)
			}
		})
	}
}

// echoRounds exchanges rounds 4 KiB frames between two fresh ranks with the
// given inline mode, checks every echo, and returns how many frames were
// read inline.
func echoRounds(t *testing.T, inline string, rounds int) uint64 {
	t.Helper()
	eps := connect(t, 2, 0, func(c *Config) { c.Inline = inline })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { // rank 1 echoes every frame back
		buf := make([]byte, 4096)
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
	out, in := make([]byte, 4096), make([]byte, 4096)
	for i := range rounds {
		for j := range out {
			out[j] = byte(i + j)
		}
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
			t.Fatalf("round %d: echo differs from what was sent", i)
		}
	}
	if err := <-done; err != nil {
		t.Fatalf("echo rank: %v", err)
	}
	return eps[0].inlined.Load() + eps[1].inlined.Load()
}
