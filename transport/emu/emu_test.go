package emu

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kizuna-hpc/kizuna/topology"
	"github.com/kizuna-hpc/kizuna/transport"
	"github.com/kizuna-hpc/kizuna/transport/inproc"
	"github.com/kizuna-hpc/kizuna/transport/transporttest"
)

// network builds a Network on spec with ranks linearly placed.
func network(t *testing.T, spec string, ranks int, bw float64, lat time.Duration) *Network {
	t.Helper()
	tp, err := topology.Parse(spec)
	if err != nil {
		t.Fatal(err)
	}
	p, err := topology.Place(tp, "linear", ranks)
	if err != nil {
		t.Fatal(err)
	}
	n, err := NewNetwork(Config{Topo: tp, Place: p, LinkBW: bw, HopLatency: lat})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func wrapped(t *testing.T, n *Network, size int) []transport.Endpoint {
	f := inproc.NewFabric(size)
	eps := make([]transport.Endpoint, size)
	for i := range eps {
		ep, err := n.Wrap(f.Endpoint(i))
		if err != nil {
			t.Fatal(err)
		}
		eps[i] = ep
	}
	t.Cleanup(func() {
		for _, ep := range eps {
			_ = ep.Close()
		}
	})
	return eps
}

// TestConformance runs the transport suite over the emulator on a ring
// (1-D torus) of fast links.
func TestConformance(t *testing.T) {
	transporttest.Run(t, func(t *testing.T, size int) []transport.Endpoint {
		return wrapped(t, network(t, fmt.Sprintf("torus:%d", size), size, 1e10, time.Microsecond), size)
	})
}

// TestReserve checks the link model with explicit times: serialisation,
// per-hop latency, FIFO sharing of one link, and contention between flows
// of different ranks on a shared link.
func TestReserve(t *testing.T) {
	const ms = time.Millisecond
	t0 := time.Unix(1000, 0)
	type send struct {
		at       time.Duration
		src, dst int
		bytes    int
		want     time.Duration // delivery, after t0
	}
	tests := []struct {
		name  string
		sends []send
	}{
		{"one hop", []send{{0, 0, 1, 1000, 1*ms + 1*ms}}},
		{"two hops", []send{{0, 0, 2, 1000, 1*ms + 2*ms}}},
		{"same link, FIFO", []send{{0, 0, 1, 1000, 2 * ms}, {0, 0, 1, 1000, 3 * ms}, {0, 0, 1, 1000, 4 * ms}}},
		{"link idle again", []send{{0, 0, 1, 1000, 2 * ms}, {5 * ms, 0, 1, 1000, 7 * ms}}},
		{"opposite directions do not share", []send{{0, 0, 1, 1000, 2 * ms}, {0, 1, 0, 1000, 2 * ms}}},
		{"two ranks share link 1->2", []send{{0, 0, 2, 1000, 3 * ms}, {0, 1, 3, 1000, 4 * ms}}},
		{"disjoint links", []send{{0, 0, 1, 1000, 2 * ms}, {0, 2, 3, 1000, 2 * ms}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// torus:8, so 0->2 and 1->3 go the short way, up.
			n := network(t, "torus:8", 8, 1e6, ms) // 1000 bytes = 1 ms per link
			for _, s := range tt.sends {
				got := n.reserve(t0.Add(s.at), n.route(s.src, s.dst), s.bytes).Sub(t0)
				if got != s.want {
					t.Errorf("reserve(at %v, %d->%d, %d B) = %v; want %v", s.at, s.src, s.dst, s.bytes, got, s.want)
				}
			}
		})
	}
}

// TestRateEnforced sends 2 MB across one link rated 20 MB/s through real
// endpoints: delivery cannot finish before 100 ms, and the bytes arrive
// intact.
func TestRateEnforced(t *testing.T) {
	n := network(t, "torus:4", 2, 20e6, 0)
	eps := wrapped(t, n, 2)
	const frames, size = 16, 125_000
	payload := transporttest.Pattern(7, size)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	recvs := make([]*transport.Recv, frames)
	for i := range recvs {
		recvs[i] = &transport.Recv{Key: transport.Key{Kind: transport.KindP2P, Src: 0, Tag: uint32(i), Seq: 1}, Buf: make([]byte, size)}
		if err := eps[1].Mux().Post(recvs[i]); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	for i := range frames {
		h := transport.Header{Kind: transport.KindP2P, Tag: uint32(i), Seq: 1}
		if err := eps[0].Send(ctx, 1, &h, payload); err != nil {
			t.Fatalf("Send(frame %d) = %v", i, err)
		}
	}
	for i, r := range recvs {
		if err := eps[1].Mux().Wait(ctx, r); err != nil {
			t.Fatalf("Wait(frame %d) = %v", i, err)
		}
		if string(r.Buf) != string(payload) {
			t.Fatalf("frame %d corrupted", i)
		}
	}
	if el, want := time.Since(start), time.Duration(frames*size/20e6*float64(time.Second)); el < want {
		t.Errorf("%d bytes over a 20 MB/s link took %v; want at least %v", frames*size, el, want)
	}
}

func TestParseSpec(t *testing.T) {
	tests := []struct {
		in   string
		want Spec
		err  string
	}{
		{in: "torus:4x4", want: Spec{Topology: "torus:4x4", LinkBW: 1e9, HopLatency: time.Microsecond}},
		{in: "torus:4x4;bw=500M;lat=5us", want: Spec{Topology: "torus:4x4", LinkBW: 500e6, HopLatency: 5 * time.Microsecond}},
		{in: "dragonfly:groups=4,routers=2,nodes=2; bw=0.25GB/s ;local=2G;placement=random:3", want: Spec{Topology: "dragonfly:groups=4,routers=2,nodes=2", LinkBW: 250e6, HopLatency: time.Microsecond, LocalBW: 2e9, Placement: "random:3"}},
		{in: "", err: "missing topology"},
		{in: "torus:4;bw=fast", err: "bw=fast"},
		{in: "torus:4;bw=0", err: "positive"},
		{in: "torus:4;lat=-1us", err: "negative"},
		{in: "torus:4;speed=1G", err: "unknown option"},
		{in: "torus:4;bw", err: "KEY=VALUE"},
	}
	for _, tt := range tests {
		got, err := ParseSpec(tt.in)
		if tt.err != "" {
			if !errors.Is(err, ErrSpec) || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseSpec(%q) error %v; want ErrSpec naming %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseSpec(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
	if _, err := (Spec{Topology: "torus:0x4", LinkBW: 1e9}).Network(4); !errors.Is(err, ErrSpec) {
		t.Errorf("Network(torus:0x4) error %v; want ErrSpec", err)
	}
}
