package wire

import (
	"bytes"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

// enc returns the msgpack encoding of vs, one after another.
func enc(t testing.TB, vs ...any) []byte {
	t.Helper()
	var b bytes.Buffer
	e := msgpack.NewEncoder(&b)
	for _, v := range vs {
		if err := e.Encode(v); err != nil {
			t.Fatal(err)
		}
	}
	return b.Bytes()
}

// Hostile headers: each announces far more than follows it.
var (
	array32Huge = []byte{0xdd, 0xff, 0xff, 0xff, 0xff}    // array of 4G elements
	array16Over = []byte{0xdc, 0x00, 0x05, 0x01, 0x02}    // array of 5 elements, 2 bytes follow
	str32Huge   = []byte{0xdb, 0xff, 0xff, 0xff, 0xff}    // str of 4 GiB
	bin32Huge   = []byte{0xc6, 0xff, 0xff, 0xff, 0xff}    // bin of 4 GiB
	bin32Past   = []byte{0xc6, 0x00, 0x00, 0x00, 0x08, 1} // bin of 8 bytes, 1 follows
	str8Past    = []byte{0xd9, 0x05, 'a', 'b'}            // str of 5 bytes, 2 follow
)

func TestDecoder(t *testing.T) {
	type op func(d *Decoder) (any, error)
	arrayLen := func(limit int) op { return func(d *Decoder) (any, error) { return d.ArrayLen(limit) } }
	fields := func(want int) op { return func(d *Decoder) (any, error) { return nil, d.Fields(want) } }
	bytesLen := func(limit int) op { return func(d *Decoder) (any, error) { return d.BytesLen(limit) } }
	bytesOf := func(limit int) op { return func(d *Decoder) (any, error) { return d.Bytes(limit) } }
	str := func(limit int) op { return func(d *Decoder) (any, error) { return d.Str(limit) } }
	strs := func(maxN, limit int) op { return func(d *Decoder) (any, error) { return d.Strings(maxN, limit) } }
	values := func(maxN, limit int) op { return func(d *Decoder) (any, error) { return d.Values(maxN, limit) } }
	intIn := func(lo, hi int) op { return func(d *Decoder) (any, error) { return d.Int(lo, hi) } }
	tests := []struct {
		name    string
		in      []byte
		op      op
		want    any
		wantErr string // "" for none
	}{
		{"array", enc(t, []int{1, 2, 3}), arrayLen(3), 3, ""},
		{"nil array", enc(t, nil), arrayLen(3), -1, ""},
		{"array over limit", enc(t, []int{1, 2, 3}), arrayLen(2), 0, "array of 3 elements, limit 2"},
		{"array32 of 4G", array32Huge, arrayLen(1 << 30), 0, "limit"},
		{"array beyond the body", array16Over, arrayLen(10), 0, "array of 5 elements, limit 10, 2 bytes left"},
		{"fields", enc(t, []int{1, 2}), fields(2), nil, ""},
		{"wrong field count", enc(t, []int{1, 2}), fields(3), nil, "message of 2 fields, want 3"},
		{"bytes length", enc(t, "abcd"), bytesLen(4), 4, ""},
		{"nil bytes length", enc(t, nil), bytesLen(4), -1, ""},
		{"bytes length over limit", enc(t, "abcd"), bytesLen(3), 0, "4 bytes, limit 3"},
		{"str32 of 4 GiB", str32Huge, bytesLen(1 << 30), 0, "limit"},
		{"bytes beyond the body", str8Past, bytesLen(10), 0, ErrTruncated.Error()},
		{"bytes", enc(t, []byte("xyz")), bytesOf(3), []byte("xyz"), ""},
		{"str as bytes", enc(t, "xyz"), bytesOf(3), []byte("xyz"), ""},
		{"nil bytes", enc(t, nil), bytesOf(3), []byte(nil), ""},
		{"empty bytes", enc(t, []byte{}), bytesOf(3), []byte{}, ""},
		{"bytes over limit", enc(t, []byte("xyz")), bytesOf(2), []byte(nil), "3 bytes, limit 2"},
		{"bin32 of 4 GiB", bin32Huge, bytesOf(1 << 30), []byte(nil), "limit"},
		{"bin beyond the body", bin32Past, bytesOf(10), []byte(nil), ErrTruncated.Error()},
		{"str", enc(t, "héllo"), str(6), "héllo", ""},
		{"nil str", enc(t, nil), str(6), "", ""},
		{"bin as str", enc(t, []byte("ab")), str(2), "ab", ""},
		{"str over limit", enc(t, "héllo"), str(5), "", "6 bytes, limit 5"},
		{"str beyond the body", str8Past, str(10), "", ErrTruncated.Error()},
		{"not a str", enc(t, 7), str(10), "", "msgpack"},
		{"strings", enc(t, []string{"a", "", "bc"}), strs(3, 2), []string{"a", "", "bc"}, ""},
		{"nil strings", enc(t, nil), strs(3, 2), []string(nil), ""},
		{"empty strings", enc(t, []string{}), strs(3, 2), []string{}, ""},
		{"too many strings", enc(t, []string{"a", "b"}), strs(1, 2), []string(nil), "array of 2 elements, limit 1"},
		{"string too long", enc(t, []string{"a", "bcd"}), strs(3, 2), []string(nil), "3 bytes, limit 2"},
		{"strings array32 of 4G", array32Huge, strs(1<<30, 1), []string(nil), "limit"},
		{"values", enc(t, [][]byte{[]byte("a"), nil, {}}), values(3, 1), [][]byte{[]byte("a"), nil, {}}, ""},
		{"nil values", enc(t, nil), values(3, 1), [][]byte(nil), ""},
		{"value too long", enc(t, [][]byte{[]byte("ab")}), values(3, 1), [][]byte(nil), "2 bytes, limit 1"},
		{"value beyond the body", append([]byte{0x91}, bin32Past...), values(3, 10), [][]byte(nil), ErrTruncated.Error()},
		{"int", enc(t, -3), intIn(-3, 3), -3, ""},
		{"int at top", enc(t, 3), intIn(-3, 3), 3, ""},
		{"int below", enc(t, -4), intIn(-3, 3), 0, "-4 out of range [-3, 3]"},
		{"int above", enc(t, uint64(1)<<40), intIn(-3, 3), 0, "1099511627776 out of range [-3, 3]"},
		{"empty body", nil, intIn(0, 1), 0, "EOF"},
	}
	headerLeft := map[string]int{"array": 3, "fields": 2, "bytes length": 4}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := NewDecoder()
			d.Reset(tt.in)
			got, err := tt.op(d)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("decode(% x) = %v, %v; want %#v", tt.in, got, err, tt.want)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("decode(% x) = %#v, %v; want an error containing %q", tt.in, got, err, tt.wantErr)
			case !reflect.DeepEqual(got, tt.want):
				t.Fatalf("decode(% x) = %#v, %v; want %#v", tt.in, got, err, tt.want)
			}
			// Headers leave their contents; values are read whole.
			if left, want := d.Len(), headerLeft[tt.name]; tt.wantErr == "" && left != want {
				t.Fatalf("Len() after decode(% x) = %d; want %d", tt.in, left, want)
			}
		})
	}
}

func TestDecoderEnd(t *testing.T) {
	tests := []struct {
		name    string
		in      []byte
		reads   int // strings to read before End
		wantErr string
	}{
		{"all read", enc(t, "a", "b"), 2, ""},
		{"one left", enc(t, "a", "b"), 1, "2 trailing bytes"},
		{"none read", enc(t, "a"), 0, "2 trailing bytes"},
		{"empty", nil, 0, ""},
	}
	for _, tt := range tests {
		d := NewDecoder()
		d.Reset(tt.in)
		for range tt.reads {
			if _, err := d.Str(10); err != nil {
				t.Fatal(err)
			}
		}
		err := d.End()
		if (tt.wantErr == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("%s: End() = %v; want %q", tt.name, err, tt.wantErr)
		}
	}
}

// TestDecoderReset: a Decoder decodes each body from its start, whatever
// was left of the one before, and Reset(nil) leaves nothing.
func TestDecoderReset(t *testing.T) {
	var d Decoder
	d.Reset(enc(t, "first", "left over"))
	if s, err := d.Str(10); s != "first" || err != nil {
		t.Fatalf("Str(10) = %q, %v; want first", s, err)
	}
	d.Reset(enc(t, "second"))
	if s, err := d.Str(10); s != "second" || err != nil {
		t.Fatalf("Str(10) after Reset = %q, %v; want second", s, err)
	}
	d.Reset(enc(t, "x"))
	d.Reset(nil)
	if n, err := d.Len(), d.End(); n != 0 || err != nil {
		t.Fatalf("Len(), End() after Reset(nil) = %d, %v; want 0, nil", n, err)
	}
}

// TestDecoderStringsAreCopies: a decoded string does not share the scratch
// buffer the next one is read into.
func TestDecoderStringsAreCopies(t *testing.T) {
	d := NewDecoder()
	d.Reset(enc(t, "aaaa", "bbbb"))
	a, _ := d.Str(4)
	b, _ := d.Str(4)
	if a != "aaaa" || b != "bbbb" {
		t.Fatalf("Str(4), Str(4) = %q, %q; want aaaa, bbbb", a, b)
	}
}

// TestDecodeAllocationBounded: a short body announcing a large length is
// refused without allocating for it.
func TestDecodeAllocationBounded(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		op   func(d *Decoder) error
	}{
		{"strings array32", array32Huge, func(d *Decoder) error { _, err := d.Strings(1<<31, 1<<31); return err }},
		{"values array32", array32Huge, func(d *Decoder) error { _, err := d.Values(1<<31, 1<<31); return err }},
		{"bytes bin32", bin32Huge, func(d *Decoder) error { _, err := d.Bytes(1 << 33); return err }},
		{"str str32", str32Huge, func(d *Decoder) error { _, err := d.Str(1 << 33); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := NewDecoder()
			const runs = 100
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			for range runs {
				d.Reset(tt.in)
				if err := tt.op(d); err == nil {
					t.Fatalf("decode(% x) = nil error; want one", tt.in)
				}
			}
			runtime.ReadMemStats(&after)
			if per := (after.TotalAlloc - before.TotalAlloc) / runs; per > 4<<10 {
				t.Fatalf("decode(% x) allocates %d bytes per call; want at most 4 KiB", tt.in, per)
			}
		})
	}
}

// FuzzDecoder runs the bounded decoders over arbitrary bodies: none may
// panic, return more than its limits allow, or report success past the end
// of the body.
func FuzzDecoder(f *testing.F) {
	f.Add(enc(f, []string{"a", "bc"}, [][]byte{[]byte("x")}, "str", []byte("bin"), 5))
	f.Add(enc(f, nil, nil, nil, nil, -1))
	for _, b := range [][]byte{array32Huge, array16Over, str32Huge, bin32Huge, bin32Past, str8Past} {
		f.Add(b)
	}
	const maxN, limit = 4, 8
	f.Fuzz(func(t *testing.T, b []byte) {
		var d Decoder
		d.Reset(b)
		if ss, err := d.Strings(maxN, limit); err == nil {
			if len(ss) > maxN {
				t.Fatalf("Strings(%d, %d) = %d strings", maxN, limit, len(ss))
			}
			for _, s := range ss {
				if len(s) > limit {
					t.Fatalf("Strings(%d, %d) = a %d-byte string", maxN, limit, len(s))
				}
			}
		}
		if vs, err := d.Values(maxN, limit); err == nil {
			if len(vs) > maxN {
				t.Fatalf("Values(%d, %d) = %d values", maxN, limit, len(vs))
			}
			for _, v := range vs {
				if len(v) > limit {
					t.Fatalf("Values(%d, %d) = a %d-byte value", maxN, limit, len(v))
				}
			}
		}
		if s, err := d.Str(limit); err == nil && len(s) > limit {
			t.Fatalf("Str(%d) = %d bytes", limit, len(s))
		}
		if v, err := d.Bytes(limit); err == nil && len(v) > limit {
			t.Fatalf("Bytes(%d) = %d bytes", limit, len(v))
		}
		if v, err := d.Int(-limit, limit); err == nil && (v < -limit || v > limit) {
			t.Fatalf("Int(%d, %d) = %d", -limit, limit, v)
		}
		if n := d.Len(); n < 0 || n > len(b) {
			t.Fatalf("Len() = %d of a %d-byte body", n, len(b))
		}
		if err := d.End(); err == nil && d.Len() != 0 {
			t.Fatalf("End() = nil with %d bytes left", d.Len())
		}
	})
}
