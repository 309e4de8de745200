package wire

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

// TestEncodeRoundTrip: what EncodeStrings and EncodeValues write is what
// Decoder.Strings and Decoder.Values read back, nil and empty kept apart.
func TestEncodeRoundTrip(t *testing.T) {
	tests := []struct {
		name   string
		ss     []string
		vs     [][]byte
		wantSS []byte // encoding of ss
	}{
		{"nil", nil, nil, []byte{0xc0}},
		{"empty", []string{}, [][]byte{}, []byte{0x90}},
		{"some", []string{"a", ""}, [][]byte{[]byte("x"), nil, {}}, []byte{0x92, 0xa1, 'a', 0xa0}},
	}
	for _, tt := range tests {
		var b bytes.Buffer
		e := msgpack.NewEncoder(&b)
		if err := EncodeStrings(e, tt.ss); err != nil {
			t.Fatal(err)
		}
		if got := b.Bytes(); !bytes.Equal(got, tt.wantSS) {
			t.Errorf("%s: EncodeStrings(%#v) = % x; want % x", tt.name, tt.ss, got, tt.wantSS)
		}
		if err := EncodeValues(e, tt.vs); err != nil {
			t.Fatal(err)
		}
		var d Decoder
		d.Reset(b.Bytes())
		ss, err := d.Strings(4, 4)
		if err != nil || !reflect.DeepEqual(ss, tt.ss) {
			t.Errorf("%s: Strings() = %#v, %v; want %#v", tt.name, ss, err, tt.ss)
		}
		vs, err := d.Values(4, 4)
		if err != nil || !reflect.DeepEqual(vs, tt.vs) {
			t.Errorf("%s: Values() = %#v, %v; want %#v", tt.name, vs, err, tt.vs)
		}
		if err := d.End(); err != nil {
			t.Errorf("%s: End() = %v; want nil", tt.name, err)
		}
	}
}
