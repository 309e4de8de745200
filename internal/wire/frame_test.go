package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
)

func lengthOnly(n uint32) []byte {
	return binary.BigEndian.AppendUint32(nil, n)
}

func framed(b []byte) []byte {
	return append(lengthOnly(uint32(len(b))), b...)
}

func TestFrameReader(t *testing.T) {
	tests := []struct {
		name    string
		in      []byte
		limit   int
		want    []byte
		wantErr error
	}{
		{"frame", framed([]byte("abc")), 3, []byte("abc"), nil},
		{"empty stream", nil, 8, nil, io.EOF},
		{"zero length", lengthOnly(0), 8, nil, &FrameSizeError{Size: 0, Limit: 8}},
		{"over limit", lengthOnly(9), 8, nil, &FrameSizeError{Size: 9, Limit: 8}},
		{"largest length", lengthOnly(1<<32 - 1), 8, nil, &FrameSizeError{Size: 1<<32 - 1, Limit: 8}},
		{"cut header", []byte{0, 0}, 8, nil, io.ErrUnexpectedEOF},
		{"cut body", append(lengthOnly(5), "ab"...), 8, nil, io.ErrUnexpectedEOF},
		{"body larger than a grow step", framed(bytes.Repeat([]byte{7}, growStep+3)), growStep + 3, bytes.Repeat([]byte{7}, growStep+3), nil},
		{"cut after a grow step", append(lengthOnly(growStep+3), make([]byte, growStep+1)...), 1 << 20, nil, io.ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var fr FrameReader
			got, err := fr.Read(bytes.NewReader(tt.in), tt.limit)
			var fse *FrameSizeError
			switch {
			case errors.As(tt.wantErr, &fse):
				if !reflect.DeepEqual(err, tt.wantErr) {
					t.Fatalf("Read() = %q, %v; want %v", got, err, tt.wantErr)
				}
			case !errors.Is(err, tt.wantErr) || !bytes.Equal(got, tt.want):
				t.Fatalf("Read() = %d bytes, %v; want %d bytes, %v", len(got), err, len(tt.want), tt.wantErr)
			}
		})
	}
}

// TestFrameReaderSequence: frames are read one after another, each body
// replacing the one before, and io.EOF comes only between frames.
func TestFrameReaderSequence(t *testing.T) {
	in := bytes.NewReader(append(append(framed([]byte("one")), framed([]byte("second"))...), framed([]byte("3"))...))
	var fr FrameReader
	for _, want := range []string{"one", "second", "3"} {
		got, err := fr.Read(in, 16)
		if err != nil || string(got) != want {
			t.Fatalf("Read() = %q, %v; want %q", got, err, want)
		}
	}
	if got, err := fr.Read(in, 16); err != io.EOF {
		t.Fatalf("Read() at the end = %q, %v; want io.EOF", got, err)
	}
}

// TestFrameReaderGrowsWithData: a peer announcing a large frame and sending
// little pins little memory.
func TestFrameReaderGrowsWithData(t *testing.T) {
	const announced = 64 << 20
	var fr FrameReader
	in := append(lengthOnly(announced), make([]byte, 10)...)
	if _, err := fr.Read(bytes.NewReader(in), announced); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("Read(announce %d, send 10) = %v; want ErrUnexpectedEOF", announced, err)
	}
	if c := cap(fr.buf); c > 2*growStep {
		t.Fatalf("buffer capacity after 10 bytes of a %d-byte frame = %d; want at most %d", announced, c, 2*growStep)
	}
}

// TestFrameReaderKeep: a buffer above Keep, left by a large frame, is
// dropped at the next Read; one within it is reused.
func TestFrameReaderKeep(t *testing.T) {
	tests := []struct {
		name     string
		keep     int
		big      int
		wantDrop bool
	}{
		{"default, above", 0, DefaultKeep + 1, true},
		{"default, within", 0, 1000, false},
		{"own keep, above", 4096, 5000, true},
		{"own keep, within", 4096, 4000, false},
	}
	for _, tt := range tests {
		fr := FrameReader{Keep: tt.keep}
		in := bytes.NewReader(append(framed(make([]byte, tt.big)), framed([]byte("x"))...))
		if _, err := fr.Read(in, 2*DefaultKeep); err != nil {
			t.Fatal(err)
		}
		bigCap := cap(fr.buf)
		if _, err := fr.Read(in, 2*DefaultKeep); err != nil {
			t.Fatal(err)
		}
		if dropped := cap(fr.buf) != bigCap; dropped != tt.wantDrop {
			t.Errorf("%s: buffer dropped after a %d-byte frame = %v; want %v", tt.name, tt.big, dropped, tt.wantDrop)
		}
	}
}

func TestFrameWriter(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		limit   int
		wantErr string
	}{
		{"small", "abc", 16, ""},
		{"at the limit", strings.Repeat("a", 31), 32, ""},                              // fixstr: 1 header byte
		{"over the limit", strings.Repeat("a", 32), 32, "frame of 34 bytes, limit 32"}, // str8: 2 header bytes
	}
	var fw FrameWriter
	for _, tt := range tests {
		if err := fw.Begin().EncodeString(tt.body); err != nil {
			t.Fatal(err)
		}
		b, err := fw.Finish(tt.limit)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%s: Finish(%d) = %v; want an error containing %q", tt.name, tt.limit, err, tt.wantErr)
			}
			continue
		}
		if want := framed(enc(t, tt.body)); err != nil || !bytes.Equal(b, want) {
			t.Errorf("%s: Finish(%d) = % x, %v; want % x", tt.name, tt.limit, b, err, want)
			continue
		}
		var fr FrameReader
		got, err := fr.Read(bytes.NewReader(b), tt.limit)
		var d Decoder
		d.Reset(got)
		if s, derr := d.Str(tt.limit); err != nil || derr != nil || s != tt.body {
			t.Errorf("%s: read back = %q, %v, %v; want %q", tt.name, s, err, derr, tt.body)
		}
	}
}

// TestFrameWriterKeep: a buffer above Keep is dropped at the next Begin.
func TestFrameWriterKeep(t *testing.T) {
	fw := FrameWriter{Keep: 1024}
	fw.Begin().EncodeBytes(make([]byte, 4096))
	if _, err := fw.Finish(1 << 20); err != nil {
		t.Fatal(err)
	}
	fw.Begin().EncodeBool(true)
	b, err := fw.Finish(1 << 20)
	if err != nil || fw.buf.Cap() > 1024 || !bytes.Equal(b, framed([]byte{0xc3})) {
		t.Fatalf("Finish() after a large frame = % x, %v, capacity %d; want % x, capacity at most 1024", b, err, fw.buf.Cap(), framed([]byte{0xc3}))
	}
}

// FuzzFrameReader: arbitrary streams never make Read panic, return a body
// over its limit, or hold a buffer far beyond the bytes that arrived.
func FuzzFrameReader(f *testing.F) {
	f.Add(framed([]byte("abc")), 8)
	f.Add(lengthOnly(1<<32-1), 1<<20)
	f.Add(append(lengthOnly(5), 'a'), 8)
	f.Fuzz(func(t *testing.T, in []byte, limit int) {
		limit = max(limit, 0) % (4 << 20)
		var fr FrameReader
		r := bytes.NewReader(in)
		for {
			b, err := fr.Read(r, limit)
			if err != nil {
				break
			}
			if len(b) == 0 || len(b) > limit {
				t.Fatalf("Read(limit %d) = %d bytes", limit, len(b))
			}
		}
		if c := cap(fr.buf); c > len(in)+growStep {
			t.Fatalf("buffer capacity %d after %d bytes of input", c, len(in))
		}
	})
}
