package collective

import (
	"testing"
)

func TestControlRoundTrip(t *testing.T) {
	tests := []controlMsg{
		{Type: "abort", Comm: 0, Origin: 3, Lost: -1, Kind: "mismatch", Reason: "rank 1 called allgather"},
		{Type: "abort", Comm: 7, Origin: 0, Lost: 5, Kind: "peer", Reason: ""},
	}
	for _, tt := range tests {
		b, err := encodeControl(&tt)
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeControl(b)
		if err != nil || got != tt {
			t.Errorf("decodeControl(encodeControl(%+v)) = %+v, %v", tt, got, err)
		}
	}
}

func TestControlRejects(t *testing.T) {
	tests := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"not an array", []byte{0xc0}},
		{"wrong field count", []byte{0x92, 0xa1, 'x', 0x00}},
		{"huge string", []byte{0x96, 0xdb, 0x7f, 0xff, 0xff, 0xff}},
		{"rank out of range", append([]byte{0x96, 0xa5, 'a', 'b', 'o', 'r', 't', 0x00, 0xd2, 0x7f, 0xff, 0xff, 0xff}, 0x00, 0xa0, 0xa0)},
	}
	for _, tt := range tests {
		if _, err := decodeControl(tt.b); err == nil {
			t.Errorf("decodeControl(%s) = nil error; want one", tt.name)
		}
	}
}

func FuzzDecodeControl(f *testing.F) {
	b, _ := encodeControl(&controlMsg{Type: "abort", Origin: 1, Lost: 2, Kind: "peer", Reason: "x"})
	f.Add(b)
	f.Fuzz(func(t *testing.T, p []byte) {
		m, err := decodeControl(p)
		if err != nil {
			return
		}
		if len(m.Reason) > maxControlString || len(m.Type) > len(p) {
			t.Fatalf("decoded %d-byte reason from %d bytes", len(m.Reason), len(p))
		}
	})
}
