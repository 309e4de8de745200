package wire

import (
	"bytes"
	"errors"
	"fmt"
	"slices"

	"github.com/vmihailenco/msgpack/v5"
)

// ErrTruncated reports a length that runs past the end of its frame.
var ErrTruncated = errors.New("wire: length runs past the end of the frame")

// Decoder decodes msgpack bodies held in memory with bounded allocation:
// every length is checked against its limit and against the bytes left in
// the body before anything is allocated for it. The zero value is ready to
// use after Reset; a Decoder must not be copied after the first Reset. A
// Decoder is owned by one goroutine.
type Decoder struct {
	r       bytes.Reader
	d       *msgpack.Decoder
	scratch []byte // reused for strings, which are copied out of it
}

// NewDecoder returns a Decoder; Reset gives it a body.
func NewDecoder() *Decoder {
	return &Decoder{}
}

// Reset makes d decode b from its start. d does not modify b, and keeps it
// until the next Reset; Reset(nil) drops it (End then reports nothing left).
func (d *Decoder) Reset(b []byte) {
	d.r.Reset(b)
	// bytes.Reader is an io.ByteScanner, so the msgpack decoder reads it
	// directly and does not buffer ahead.
	if d.d == nil {
		d.d = msgpack.NewDecoder(&d.r)
	} else {
		d.d.Reset(&d.r)
	}
}

// Msgpack returns the underlying msgpack decoder, for fixed-size values
// (integers, booleans) and headers the caller checks itself. Lengths should
// be read with the bounded methods.
func (d *Decoder) Msgpack() *msgpack.Decoder {
	return d.d
}

// Len returns the number of bytes of the body not yet decoded.
func (d *Decoder) Len() int {
	return d.r.Len()
}

// End reports an error when bytes are left over after the last field.
func (d *Decoder) End() error {
	if n := d.r.Len(); n != 0 {
		return fmt.Errorf("%d trailing bytes", n)
	}
	return nil
}

// ArrayLen decodes an array header of at most limit elements; -1 means nil.
// The count is also bounded by the bytes left, since every element takes at
// least one byte.
func (d *Decoder) ArrayLen(limit int) (int, error) {
	n, err := d.d.DecodeArrayLen()
	if err != nil {
		return 0, err
	}
	if n > limit || n > d.r.Len() {
		return 0, fmt.Errorf("array of %d elements, limit %d, %d bytes left", n, limit, d.r.Len())
	}
	return n, nil
}

// Fields decodes the array header of a message and checks that it has
// exactly want fields.
func (d *Decoder) Fields(want int) error {
	n, err := d.d.DecodeArrayLen()
	if err != nil {
		return err
	}
	if n != want {
		return fmt.Errorf("message of %d fields, want %d", n, want)
	}
	return nil
}

// BytesLen decodes a str or bin header of at most limit bytes; -1 means
// nil. A length beyond the bytes left is ErrTruncated.
func (d *Decoder) BytesLen(limit int) (int, error) {
	n, err := d.d.DecodeBytesLen()
	if err != nil {
		return 0, err
	}
	if n > limit {
		return 0, fmt.Errorf("%d bytes, limit %d", n, limit)
	}
	if n > d.r.Len() {
		return 0, ErrTruncated
	}
	return n, nil
}

// Bytes decodes a str, bin or nil of at most limit bytes into a new slice,
// which the caller may keep: nil decodes to nil, an empty str or bin to a
// non-nil empty slice.
func (d *Decoder) Bytes(limit int) ([]byte, error) {
	n, err := d.BytesLen(limit)
	if err != nil || n < 0 {
		return nil, err
	}
	b := make([]byte, n)
	if err := d.d.ReadFull(b); err != nil {
		return nil, err
	}
	return b, nil
}

// Str decodes a str, bin or nil (as "") of at most limit bytes.
func (d *Decoder) Str(limit int) (string, error) {
	n, err := d.BytesLen(limit)
	if err != nil || n <= 0 {
		return "", err
	}
	d.scratch = slices.Grow(d.scratch[:0], n)[:n]
	if err := d.d.ReadFull(d.scratch); err != nil {
		return "", err
	}
	return string(d.scratch), nil
}

// Strings decodes an array (nil as nil) of at most maxN strings of at most
// limit bytes each.
func (d *Decoder) Strings(maxN, limit int) ([]string, error) {
	n, err := d.ArrayLen(maxN)
	if err != nil || n < 0 {
		return nil, err
	}
	ss := make([]string, n)
	for i := range ss {
		if ss[i], err = d.Str(limit); err != nil {
			return nil, err
		}
	}
	return ss, nil
}

// Values decodes an array (nil as nil) of at most maxN byte strings of at
// most limit bytes each, as Bytes does.
func (d *Decoder) Values(maxN, limit int) ([][]byte, error) {
	n, err := d.ArrayLen(maxN)
	if err != nil || n < 0 {
		return nil, err
	}
	vs := make([][]byte, n)
	for i := range vs {
		if vs[i], err = d.Bytes(limit); err != nil {
			return nil, err
		}
	}
	return vs, nil
}

// Int decodes an integer in [lo, hi].
func (d *Decoder) Int(lo, hi int) (int, error) {
	v, err := d.d.DecodeInt64()
	if err != nil {
		return 0, err
	}
	if v < int64(lo) || v > int64(hi) {
		return 0, fmt.Errorf("%d out of range [%d, %d]", v, lo, hi)
	}
	return int(v), nil
}
