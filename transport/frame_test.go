package transport

import (
	"bytes"
	"errors"
	"testing"
)

func validHeader() Header {
	return Header{
		Kind: KindColl, Op: 4, DType: 7, RedOp: 2, Algo: 3,
		Comm: 0xdeadbeef, Src: 5, Root: -1, Tag: 0x01020304,
		Seq: 0x1122334455667788, Count: -42, Len: 4096,
	}
}

func TestHeaderRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		h    Header
	}{
		{"full", validHeader()},
		{"zero payload", Header{Kind: KindP2P}},
		{"control", Header{Kind: KindControl, Src: 1, Len: 17}},
		{"max payload", Header{Kind: KindColl, Len: MaxPayload, Src: 1<<31 - 1}},
		{"checksum", Header{Kind: KindColl, Src: 2, Len: 8, Flags: FlagSum, Sum: 0xcafef00d}},
		{"heartbeat", Header{Kind: KindHeartbeat, Src: 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b [HeaderSize]byte
			tt.h.MarshalTo(b[:])
			var got Header
			if err := got.UnmarshalFrom(b[:]); err != nil {
				t.Fatalf("UnmarshalFrom(MarshalTo(%+v)) error %v", tt.h, err)
			}
			if got != tt.h {
				t.Fatalf("UnmarshalFrom(MarshalTo(%+v)) = %+v; want the same", tt.h, got)
			}
		})
	}
}

// TestHeaderLayout pins the little-endian wire layout, so that a change of
// field order is caught.
func TestHeaderLayout(t *testing.T) {
	h := validHeader()
	var b [HeaderSize]byte
	h.MarshalTo(b[:])
	want := []byte{
		frameMagic, frameVersion, 1, 4, 7, 2, 3, 0,
		0xef, 0xbe, 0xad, 0xde, // Comm
		5, 0, 0, 0, // Src
		0xff, 0xff, 0xff, 0xff, // Root -1
		4, 3, 2, 1, // Tag
		0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11, // Seq
		0xd6, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // Count -42
		0, 0x10, 0, 0, // Len 4096
	}
	want = append(want, make([]byte, HeaderSize-len(want))...)
	if !bytes.Equal(b[:], want) {
		t.Fatalf("MarshalTo(%+v) = %x; want %x", h, b, want)
	}
}

func TestHeaderRejects(t *testing.T) {
	good := validHeader()
	tests := []struct {
		name   string
		mutate func(b []byte) []byte
	}{
		{"short", func(b []byte) []byte { return b[:HeaderSize-1] }},
		{"empty", func(b []byte) []byte { return nil }},
		{"magic", func(b []byte) []byte { b[0] = 'X'; return b }},
		{"version", func(b []byte) []byte { b[1] = 9; return b }},
		{"kind zero", func(b []byte) []byte { b[2] = 0; return b }},
		{"kind unknown", func(b []byte) []byte { b[2] = 5; return b }},
		{"unknown flag", func(b []byte) []byte { b[7] = 2; return b }},
		{"sum without flag", func(b []byte) []byte { b[45] = 1; return b }},
		{"reserved tail", func(b []byte) []byte { b[HeaderSize-1] = 1; return b }},
		{"negative src", func(b []byte) []byte { b[15] = 0x80; return b }},
		{"len over max", func(b []byte) []byte { b[43] = 0x40; b[40] = 1; return b }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := make([]byte, HeaderSize)
			good.MarshalTo(b)
			b = tt.mutate(b)
			got := Header{Tag: 99}
			err := got.UnmarshalFrom(b)
			if !errors.Is(err, ErrProtocol) {
				t.Fatalf("UnmarshalFrom(%x) error = %v; want ErrProtocol", b, err)
			}
			if got != (Header{Tag: 99}) {
				t.Fatalf("UnmarshalFrom(%x) changed h to %+v on error", b, got)
			}
		})
	}
}

func TestHeaderMarshalAllocs(t *testing.T) {
	h := validHeader()
	var b [HeaderSize]byte
	var got Header
	allocs := testing.AllocsPerRun(100, func() {
		h.MarshalTo(b[:])
		_ = got.UnmarshalFrom(b[:])
	})
	if allocs != 0 {
		t.Fatalf("MarshalTo+UnmarshalFrom allocs = %v; want 0", allocs)
	}
}

func FuzzHeaderDecode(f *testing.F) {
	var b [HeaderSize]byte
	h := validHeader()
	h.MarshalTo(b[:])
	f.Add(b[:])
	f.Add(make([]byte, HeaderSize))
	f.Add([]byte("garbage"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var h Header
		if err := h.UnmarshalFrom(data); err != nil {
			if !errors.Is(err, ErrProtocol) {
				t.Fatalf("UnmarshalFrom error %v does not wrap ErrProtocol", err)
			}
			return
		}
		if h.Len > MaxPayload || h.Src < 0 || !h.Kind.valid() {
			t.Fatalf("UnmarshalFrom accepted invalid %+v", h)
		}
		var out [HeaderSize]byte
		h.MarshalTo(out[:])
		if !bytes.Equal(out[:], data[:HeaderSize]) {
			t.Fatalf("MarshalTo(UnmarshalFrom(%x)) = %x; want the input", data[:HeaderSize], out)
		}
	})
}
