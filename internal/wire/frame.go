package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/vmihailenco/msgpack/v5"
)

const (
	// DefaultKeep is the largest buffer a FrameReader or FrameWriter whose
	// Keep is zero keeps between frames.
	DefaultKeep = 1 << 20
	// growStep bounds how much a frame buffer grows ahead of the bytes that
	// actually arrived, so that a peer announcing a large frame and then
	// stalling does not pin the whole frame's size.
	growStep = 256 << 10
	// headerSize is the size of a frame's length prefix.
	headerSize = 4
)

// FrameSizeError reports a frame whose announced length is zero or above
// the limit.
type FrameSizeError struct {
	Size, Limit uint32
}

func (e *FrameSizeError) Error() string {
	return fmt.Sprintf("frame of %d bytes, limit %d", e.Size, e.Limit)
}

// FrameReader reads length-prefixed frames: a big-endian uint32 length, then
// that many bytes. The zero value is ready to use. A FrameReader is owned by
// one goroutine.
type FrameReader struct {
	// Keep is the largest buffer kept between frames; a bigger one, left by
	// a large frame, is dropped at the next Read. Zero means DefaultKeep.
	Keep int

	hdr [headerSize]byte
	buf []byte
}

// Read reads the next frame from r and returns its body, valid until the
// next Read. A length of zero or above limit is a *FrameSizeError and
// nothing of the body is read. A clean end of stream before a frame starts
// is io.EOF; one inside a frame is io.ErrUnexpectedEOF. The buffer grows
// with the bytes that arrive, at most growStep ahead of them.
func (f *FrameReader) Read(r io.Reader, limit int) ([]byte, error) {
	if _, err := io.ReadFull(r, f.hdr[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(f.hdr[:])
	if n == 0 || n > uint32(limit) {
		return nil, &FrameSizeError{Size: n, Limit: uint32(limit)}
	}
	if cap(f.buf) > keep(f.Keep) {
		f.buf = nil
	}
	f.buf = f.buf[:0]
	for len(f.buf) < int(n) {
		step := min(int(n)-len(f.buf), growStep)
		f.buf = slices.Grow(f.buf, step)
		m, err := io.ReadFull(r, f.buf[len(f.buf):len(f.buf)+step])
		f.buf = f.buf[:len(f.buf)+m]
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
	return f.buf, nil
}

// FrameWriter encodes one frame at a time into a reused buffer. The zero
// value is ready to use; it must not be copied after the first Begin. A
// FrameWriter is owned by one goroutine (or used under its owner's lock).
type FrameWriter struct {
	// Keep is the largest buffer kept between frames; a bigger one, left by
	// a large frame, is dropped at the next Begin. Zero means DefaultKeep.
	Keep int

	buf bytes.Buffer
	enc *msgpack.Encoder
}

var lengthPlaceholder [headerSize]byte

// Begin starts a frame, dropping any frame begun before, and returns the
// encoder to write its body with; the encoder is valid until Finish.
func (w *FrameWriter) Begin() *msgpack.Encoder {
	if w.enc == nil {
		w.enc = msgpack.NewEncoder(&w.buf)
	}
	if w.buf.Cap() > keep(w.Keep) {
		w.buf = bytes.Buffer{} // the encoder keeps &w.buf, which stays the same
	}
	w.buf.Reset()
	w.buf.Write(lengthPlaceholder[:])
	return w.enc
}

// Finish ends the frame begun by Begin and returns it, length prefix
// included, valid until the next Begin. A body above limit bytes is an
// error.
func (w *FrameWriter) Finish(limit int) ([]byte, error) {
	b := w.buf.Bytes()
	n := len(b) - headerSize
	if n > limit {
		return nil, fmt.Errorf("frame of %d bytes, limit %d", n, limit)
	}
	binary.BigEndian.PutUint32(b, uint32(n))
	return b, nil
}

func keep(k int) int {
	if k == 0 {
		return DefaultKeep
	}
	return k
}
