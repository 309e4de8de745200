//go:build linux

package tcp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/kizuna-hpc/kizuna/transport"
	"github.com/kizuna-hpc/kizuna/transport/transporttest"
)

// inlineOn makes the endpoints of this test process read inline with the
// given budget ("0": off), although they share the process.
func inlineOn(t *testing.T, spin string) {
	t.Setenv(EnvSpin, spin)
	spinShared.Store(true)
	t.Cleanup(func() { spinShared.Store(false) })
}

// TestConformanceInline runs the transport conformance suite with the
// inline reads on (the plain TestConformance runs the ranks of one process
// without them).
func TestConformanceInline(t *testing.T) {
	for _, sockets := range []int{1, 3} {
		t.Run(fmt.Sprintf("sockets=%d", sockets), func(t *testing.T) {
			inlineOn(t, "1ms")
			transporttest.Run(t, func(t *testing.T, size int) []transport.Endpoint {
				return connect(t, size, ImplNet, sockets, "inline")
			})
		})
	}
}

// fill returns n bytes that depend on seed and position.
func fill(n, seed int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + seed*13 + i>>8)
	}
	return b
}

// TestStreamFrameSizes sends frames around every size boundary of the read
// path (the 4 KiB read at a frame boundary, the 16 KiB inline limit, large
// payloads read straight into the receive) and checks every payload, half
// of them received through posted receives and half as unexpected frames,
// with the inline reads off and on.
func TestStreamFrameSizes(t *testing.T) {
	sizes := []int{0, 1, 8, 56, boundaryRead - transport.HeaderSize, boundaryRead - transport.HeaderSize + 1,
		5000, inlineMax, inlineMax + 1, 70000, 1 << 20}
	tests := []struct {
		name string
		spin string
	}{
		{"spin=0", "0"},
		{"spin=1ms", "1ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inlineOn(t, tt.spin)
			eps := connect(t, 2, ImplNet, 1, "fastpath")
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			m := eps[1].Mux()
			recvs := make([]*transport.Recv, 2*len(sizes))
			for i := range recvs {
				n := sizes[i%len(sizes)]
				recvs[i] = &transport.Recv{Key: transport.Key{Kind: transport.KindP2P, Src: 0, Tag: uint32(i)}, Buf: make([]byte, n)}
				if i%2 == 0 { // posted before the frame is sent
					if err := m.Post(recvs[i]); err != nil {
						t.Fatalf("Post(%d) = %v", i, err)
					}
				}
			}
			errc := make(chan error, 1)
			go func() {
				for i := range recvs {
					h := transport.Header{Kind: transport.KindP2P, Tag: uint32(i)}
					if err := eps[0].Send(ctx, 1, &h, fill(len(recvs[i].Buf), i)); err != nil {
						errc <- fmt.Errorf("Send(%d) = %w", i, err)
						return
					}
				}
				errc <- nil
			}()
			for i, r := range recvs {
				if i%2 == 1 {
					if err := m.Post(r); err != nil {
						t.Fatalf("Post(%d) = %v", i, err)
					}
				}
				if err := m.Wait(ctx, r); err != nil {
					t.Fatalf("Wait(frame %d, %d bytes) = %v", i, len(r.Buf), err)
				}
				if want := fill(len(r.Buf), i); !bytes.Equal(r.Buf, want) {
					t.Errorf("frame %d (%d bytes): payload differs from what was sent", i, len(r.Buf))
				}
			}
			if err := <-errc; err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestStreamSplitFrames writes frames in pieces with pauses between them
// (a header cut short, a payload cut in the middle), so that the frame is
// left partly read by one reader and finished by another, and checks that
// the receiver gets every payload intact.
func TestStreamSplitFrames(t *testing.T) {
	tests := []struct {
		name string
		spin string
		n    int
		cuts []int // byte offsets in the frame where the writer pauses
	}{
		{"small/header cut/spin", "1ms", 100, []int{10, 64 + 30}},
		{"small/header cut/no spin", "0", 100, []int{10, 64 + 30}},
		{"inline limit/spin", "1ms", inlineMax, []int{64, 64 + 4000, 64 + 12000}},
		{"large/spin", "1ms", 100000, []int{3, 64 + 10, 64 + 50000}},
		{"large/no spin", "0", 100000, []int{3, 64 + 10, 64 + 50000}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inlineOn(t, tt.spin)
			eps := connect(t, 2, ImplNet, 1, "split")
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			e0 := eps[0].(*endpoint)
			s := e0.peers[1].socks[0]
			frame := make([]byte, transport.HeaderSize+tt.n)
			h := transport.Header{Kind: transport.KindP2P, Tag: 5, Src: 0, Len: uint32(tt.n)}
			h.MarshalTo(frame)
			copy(frame[transport.HeaderSize:], fill(tt.n, 5))
			r := &transport.Recv{Key: transport.Key{Kind: transport.KindP2P, Src: 0, Tag: 5}, Buf: make([]byte, tt.n)}
			m := eps[1].Mux()
			if err := m.Post(r); err != nil {
				t.Fatalf("Post = %v", err)
			}
			errc := make(chan error, 1)
			go func() {
				s.mu.Lock()
				defer s.mu.Unlock()
				c := s.l.(*netLink).c
				prev := 0
				for _, cut := range append(tt.cuts, len(frame)) {
					if _, err := c.Write(frame[prev:cut]); err != nil {
						errc <- err
						return
					}
					prev = cut
					time.Sleep(3 * time.Millisecond)
				}
				errc <- nil
			}()
			if err := m.Wait(ctx, r); err != nil {
				t.Fatalf("Wait = %v", err)
			}
			if err := <-errc; err != nil {
				t.Fatalf("write = %v", err)
			}
			if !bytes.Equal(r.Buf, fill(tt.n, 5)) {
				t.Errorf("payload of a %d-byte frame written in pieces differs from what was sent", tt.n)
			}
			// The stream is still in step: a whole frame after it arrives.
			r2 := &transport.Recv{Key: transport.Key{Kind: transport.KindP2P, Src: 0, Tag: 6}, Buf: make([]byte, 8)}
			if err := m.Post(r2); err != nil {
				t.Fatalf("Post = %v", err)
			}
			h2 := transport.Header{Kind: transport.KindP2P, Tag: 6}
			if err := eps[0].Send(ctx, 1, &h2, fill(8, 6)); err != nil {
				t.Fatalf("Send = %v", err)
			}
			if err := m.Wait(ctx, r2); err != nil || !bytes.Equal(r2.Buf, fill(8, 6)) {
				t.Errorf("next frame: Wait = %v, payload %v; want nil, %v", err, r2.Buf, fill(8, 6))
			}
		})
	}
}

// TestStreamProtocolError checks that a corrupt header fails the link on
// the stream path too, with inline reads on and off.
func TestStreamProtocolError(t *testing.T) {
	for _, spin := range []string{"0", "1ms"} {
		t.Run("spin="+spin, func(t *testing.T) {
			inlineOn(t, spin)
			eps := connect(t, 2, ImplNet, 1, "corrupt")
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			r := &transport.Recv{Key: transport.Key{Kind: transport.KindP2P, Src: 0, Tag: 1}, Buf: make([]byte, 8)}
			m := eps[1].Mux()
			if err := m.Post(r); err != nil {
				t.Fatalf("Post = %v", err)
			}
			s := eps[0].(*endpoint).peers[1].socks[0]
			bad := make([]byte, transport.HeaderSize+8)
			bad[0] = 'X' // wrong magic
			s.mu.Lock()
			_, err := s.l.(*netLink).c.Write(bad)
			s.mu.Unlock()
			if err != nil {
				t.Fatalf("write = %v", err)
			}
			err = m.Wait(ctx, r)
			var pe *transport.PeerError
			if !errors.As(err, &pe) || pe.Peer != 0 {
				t.Errorf("Wait after a corrupt header = %v; want a *PeerError for rank 0", err)
			}
		})
	}
}

func TestSpinBudget(t *testing.T) {
	cpus := runtime.NumCPU()
	tests := []struct {
		env        string
		localRanks int
		hostCPUs   int
		want       time.Duration
		wantErr    bool
	}{
		{"", 0, cpus, DefaultSpin, false},
		{"", cpus, cpus, DefaultSpinDedicated, false},
		{"", 1, cpus, DefaultSpinDedicated, false},
		{"", cpus + 1, cpus, DefaultSpin, false},
		// Bound to one of two processors, the host's count decides.
		{"", 2, 2, DefaultSpinDedicated, false},
		{"", 3, 2, DefaultSpin, false},
		{"0", 1, cpus, 0, false},
		{"250us", cpus + 1, cpus, 250 * time.Microsecond, false},
		{"-1us", 0, cpus, 0, true},
		{"fast", 0, cpus, 0, true},
	}
	for _, tt := range tests {
		t.Setenv(EnvSpin, tt.env)
		got, err := spinBudget(tt.localRanks, tt.hostCPUs)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("spinBudget(%d, %d) with %s=%q = %v, %v; want %v, error %v", tt.localRanks, tt.hostCPUs, EnvSpin, tt.env, got, err, tt.want, tt.wantErr)
		}
	}
}

// TestInlineReadsHappen checks that with a spin budget the waiting
// goroutines really read frames themselves (the other tests here pass
// through the reader goroutines as well), and never without one.
func TestInlineReadsHappen(t *testing.T) {
	tests := []struct {
		spin       string
		size       int
		wantInline bool
	}{
		{"1ms", 64, true},
		{"0", 64, false},
		// Larger than the read-ahead buffer: the waiting goroutine
		// reads the payload straight into its receive (inlineSource).
		{"1ms", 3*streamBuf + 5, true},
		{"0", 3*streamBuf + 5, false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("spin=%s/size=%d", tt.spin, tt.size), func(t *testing.T) {
			inlineOn(t, tt.spin)
			// Who reads a frame is up to timing: try a few times
			// before calling none inline.
			var n uint64
			for range 5 {
				if n += echoInline(t, 300, tt.size); n > 0 || !tt.wantInline {
					break
				}
			}
			if got := n > 0; got != tt.wantInline {
				t.Fatalf("spin = %s, %d B: %d frames read inline; want some: %v", tt.spin, tt.size, n, tt.wantInline)
			}
		})
	}
}

// echoInline exchanges rounds frames of size bytes between two fresh
// ranks (transporttest.Echo checks every echo) and returns how many frames
// were read inline.
func echoInline(t *testing.T, rounds, size int) uint64 {
	t.Helper()
	eps := connect(t, 2, ImplNet, 1, "inline-count")
	transporttest.Echo(t, eps, rounds, size)
	var n uint64
	for r, ep := range eps {
		p := ep.(*endpoint).peers[1-r]
		for _, s := range p.socks {
			n += s.st.inlined
		}
	}
	return n
}
