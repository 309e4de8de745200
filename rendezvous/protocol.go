package rendezvous

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/vmihailenco/msgpack/v5"
)

// Bounds on what the store accepts. Every length read from the wire is
// checked against them before anything is allocated for it.
const (
	// MaxKeySize bounds a key and a namespace, in bytes.
	MaxKeySize = 1 << 10
	// MaxValueSize bounds a value (and an abort reason), in bytes.
	MaxValueSize = 4 << 20
	// MaxKeysPerRequest bounds the keys of one Wait.
	MaxKeysPerRequest = 1 << 16
	// MaxFrameSize bounds one frame's msgpack body. The largest request is a
	// CompareAndSet carrying two values; 64 KiB is left for the key, the
	// namespace and the encoding overhead.
	MaxFrameSize = 2*MaxValueSize + 64<<10
)

// ProtocolVersion is the version a client announces in its hello frame. The
// server closes connections that announce another. Version 2 added
// authentication.
const ProtocolVersion = 2

const (
	// protocolMagic opens every hello frame, so that a stray client (an HTTP
	// probe, a port scanner) is told apart from an old Kizuna.
	protocolMagic = "kizuna-rendezvous"
	// maxHelloFrame bounds the hello and hello-ack frames.
	maxHelloFrame = 4 << 10
	// maxErrorMessage bounds the text of an error response.
	maxErrorMessage = 64 << 10
	// frameGrowStep bounds how much a frame buffer grows ahead of the bytes
	// that actually arrived, so that a peer announcing a large frame and then
	// stalling does not pin MaxFrameSize bytes.
	frameGrowStep = 256 << 10
	// frameKeepCap is the largest buffer a connection keeps between frames;
	// a bigger one, left by a large value, is dropped after use.
	frameKeepCap = 1 << 20
)

// op is a request's operation.
type op uint8

const (
	opSet op = iota + 1
	opGet
	opWait
	opAdd
	opCAS
	opDelete
	opAbort
	// opCancel asks the server to answer a pending Wait (the request's ID)
	// now, with statusCancelled and the keys still missing. It has no
	// response of its own.
	opCancel
	// opGetMany returns the values of several keys (nil where absent).
	opGetMany
	opLast = opGetMany
)

var opNames = [...]string{
	opSet: "set", opGet: "get", opWait: "wait", opAdd: "add", opCAS: "compare-and-set",
	opDelete: "delete", opAbort: "abort", opCancel: "cancel", opGetMany: "get-many",
}

func (o op) String() string {
	if o >= 1 && o <= opLast {
		return opNames[o]
	}
	return fmt.Sprintf("op(%d)", uint8(o))
}

// status is a response's outcome.
type status uint8

const (
	statusOK status = iota
	statusNotFound
	statusAborted   // Value holds the abort reason
	statusCancelled // Keys holds the keys still missing
	statusClosed    // the server is shutting down
	statusError     // Msg says why
	statusLast      = statusError
)

// request is one client-to-server frame. On the wire it is the msgpack array
// [ID, Op, NS, Keys, Value, Old, Delta].
type request struct {
	ID    uint64
	Op    op
	NS    string
	Keys  []string
	Value []byte // Set's value, CompareAndSet's new value, Abort's reason
	Old   []byte // CompareAndSet's expected value; nil: the key must be absent
	Delta int64  // Add's delta
}

const requestFields = 7

// response is one server-to-client frame, answering the request with the same
// ID. On the wire it is the msgpack array
// [ID, Status, Value, Values, Keys, Num, Swapped, Msg].
type response struct {
	ID      uint64
	Status  status
	Value   []byte   // Get's value, CompareAndSet's current value, the abort reason
	Values  [][]byte // opGetMany's values, nil where absent
	Keys    []string // the keys a cancelled Wait still missed
	Num     int64    // Add's new value
	Swapped bool     // CompareAndSet stored the new value
	Msg     string   // statusError's text
}

const responseFields = 8

// encodeRequest appends r's msgpack body to e's writer.
func encodeRequest(e *msgpack.Encoder, r *request) error {
	err := errors.Join(
		e.EncodeArrayLen(requestFields),
		e.EncodeUint(r.ID),
		e.EncodeUint(uint64(r.Op)),
		e.EncodeString(r.NS),
		encodeStrings(e, r.Keys),
		e.EncodeBytes(r.Value),
		e.EncodeBytes(r.Old),
		e.EncodeInt(r.Delta),
	)
	if err != nil {
		return fmt.Errorf("encode %v request: %w", r.Op, err)
	}
	return nil
}

// encodeResponse appends r's msgpack body to e's writer.
func encodeResponse(e *msgpack.Encoder, r *response) error {
	err := errors.Join(
		e.EncodeArrayLen(responseFields),
		e.EncodeUint(r.ID),
		e.EncodeUint(uint64(r.Status)),
		e.EncodeBytes(r.Value),
		encodeValues(e, r.Values),
		encodeStrings(e, r.Keys),
		e.EncodeInt(r.Num),
		e.EncodeBool(r.Swapped),
		e.EncodeString(r.Msg),
	)
	if err != nil {
		return fmt.Errorf("encode response: %w", err)
	}
	return nil
}

func encodeStrings(e *msgpack.Encoder, ss []string) error {
	if ss == nil {
		return e.EncodeNil()
	}
	if err := e.EncodeArrayLen(len(ss)); err != nil {
		return err
	}
	for _, s := range ss {
		if err := e.EncodeString(s); err != nil {
			return err
		}
	}
	return nil
}

func encodeValues(e *msgpack.Encoder, vs [][]byte) error {
	if vs == nil {
		return e.EncodeNil()
	}
	if err := e.EncodeArrayLen(len(vs)); err != nil {
		return err
	}
	for _, v := range vs {
		if err := e.EncodeBytes(v); err != nil {
			return err
		}
	}
	return nil
}

// errTruncated reports a length that runs past the end of its frame.
var errTruncated = errors.New("length runs past the end of the frame")

// decoder decodes msgpack bodies held in memory with bounded allocation: every
// length is checked against its limit and against the bytes left in the frame
// before anything is allocated for it. A decoder is owned by one goroutine.
type decoder struct {
	r       bytes.Reader
	d       *msgpack.Decoder
	scratch []byte // reused for strings, which are copied out of it
}

func newDecoder() *decoder {
	d := &decoder{}
	d.d = msgpack.NewDecoder(&d.r)
	return d
}

func (d *decoder) reset(b []byte) {
	d.r.Reset(b)
	// bytes.Reader is an io.ByteScanner, so the msgpack decoder reads it
	// directly and does not buffer ahead.
	d.d.Reset(&d.r)
}

// end reports an error when bytes are left over after the last field.
func (d *decoder) end() error {
	if n := d.r.Len(); n != 0 {
		return fmt.Errorf("%d trailing bytes", n)
	}
	return nil
}

// arrayLen decodes an array header of at most max elements; -1 means nil.
func (d *decoder) arrayLen(max int) (int, error) {
	n, err := d.d.DecodeArrayLen()
	if err != nil {
		return 0, err
	}
	// Every element takes at least one byte.
	if n > max || n > d.r.Len() {
		return 0, fmt.Errorf("array of %d elements, limit %d, %d bytes left", n, max, d.r.Len())
	}
	return n, nil
}

// fields decodes the array header of a message and checks its field count.
func (d *decoder) fields(want int) error {
	n, err := d.d.DecodeArrayLen()
	if err != nil {
		return err
	}
	if n != want {
		return fmt.Errorf("message of %d fields, want %d", n, want)
	}
	return nil
}

// bytesLen decodes a str or bin header of at most max bytes; -1 means nil.
func (d *decoder) bytesLen(max int) (int, error) {
	n, err := d.d.DecodeBytesLen()
	if err != nil {
		return 0, err
	}
	if n > max {
		return 0, fmt.Errorf("%d bytes, limit %d", n, max)
	}
	if n > d.r.Len() {
		return 0, errTruncated
	}
	return n, nil
}

// bytes decodes a str, bin or nil of at most max bytes into a new slice: nil
// decodes to nil, an empty str or bin to a non-nil empty slice.
func (d *decoder) bytes(max int) ([]byte, error) {
	n, err := d.bytesLen(max)
	if err != nil || n < 0 {
		return nil, err
	}
	b := make([]byte, n)
	if err := d.d.ReadFull(b); err != nil {
		return nil, err
	}
	return b, nil
}

// string decodes a str, bin or nil (as "") of at most max bytes.
func (d *decoder) string(max int) (string, error) {
	n, err := d.bytesLen(max)
	if err != nil || n <= 0 {
		return "", err
	}
	d.scratch = slices.Grow(d.scratch[:0], n)[:n]
	if err := d.d.ReadFull(d.scratch); err != nil {
		return "", err
	}
	return string(d.scratch), nil
}

// strings decodes an array of at most maxN strings of at most max bytes each.
func (d *decoder) strings(maxN, max int) ([]string, error) {
	n, err := d.arrayLen(maxN)
	if err != nil || n < 0 {
		return nil, err
	}
	ss := make([]string, n)
	for i := range ss {
		if ss[i], err = d.string(max); err != nil {
			return nil, err
		}
	}
	return ss, nil
}

// values decodes an array of at most maxN values of at most max bytes each.
func (d *decoder) values(maxN, max int) ([][]byte, error) {
	n, err := d.arrayLen(maxN)
	if err != nil || n < 0 {
		return nil, err
	}
	vs := make([][]byte, n)
	for i := range vs {
		if vs[i], err = d.bytes(max); err != nil {
			return nil, err
		}
	}
	return vs, nil
}

// request decodes a request body. It checks every bound but not the
// per-operation rules; see request.validate.
func (d *decoder) request(b []byte) (request, error) {
	d.reset(b)
	var r request
	if err := d.fields(requestFields); err != nil {
		return request{}, err
	}
	var err error
	if r.ID, err = d.d.DecodeUint64(); err != nil {
		return request{}, fmt.Errorf("request id: %w", err)
	}
	o, err := d.d.DecodeUint64()
	if err != nil {
		return request{}, fmt.Errorf("request op: %w", err)
	}
	if o < 1 || o > uint64(opLast) {
		return request{}, fmt.Errorf("unknown op %d", o)
	}
	r.Op = op(o)
	if r.NS, err = d.string(MaxKeySize); err != nil {
		return request{}, fmt.Errorf("%v namespace: %w", r.Op, err)
	}
	if r.Keys, err = d.strings(MaxKeysPerRequest, MaxKeySize); err != nil {
		return request{}, fmt.Errorf("%v keys: %w", r.Op, err)
	}
	if r.Value, err = d.bytes(MaxValueSize); err != nil {
		return request{}, fmt.Errorf("%v value: %w", r.Op, err)
	}
	if r.Old, err = d.bytes(MaxValueSize); err != nil {
		return request{}, fmt.Errorf("%v old value: %w", r.Op, err)
	}
	if r.Delta, err = d.d.DecodeInt64(); err != nil {
		return request{}, fmt.Errorf("%v delta: %w", r.Op, err)
	}
	if err := d.end(); err != nil {
		return request{}, fmt.Errorf("%v request: %w", r.Op, err)
	}
	return r, nil
}

// validate checks the per-operation rules a decoded request must follow.
func (r *request) validate() error {
	want := 1 // keys
	switch r.Op {
	case opSet, opGet, opAdd, opDelete, opCAS:
	case opWait, opGetMany:
		want = -1 // one or more
	case opAbort, opCancel:
		want = 0
	default:
		return fmt.Errorf("unknown op %d", uint8(r.Op))
	}
	switch {
	case want >= 0 && len(r.Keys) != want:
		return fmt.Errorf("%v request with %d keys, want %d", r.Op, len(r.Keys), want)
	case want < 0 && len(r.Keys) == 0:
		return fmt.Errorf("%v request without keys", r.Op)
	}
	for _, k := range r.Keys {
		if k == "" {
			return fmt.Errorf("%v request with an empty key", r.Op)
		}
	}
	if r.Op == opCAS && r.Value == nil {
		return errors.New("compare-and-set request without a new value")
	}
	return nil
}

// response decodes a response body.
func (d *decoder) response(b []byte) (response, error) {
	d.reset(b)
	var r response
	if err := d.fields(responseFields); err != nil {
		return response{}, err
	}
	var err error
	if r.ID, err = d.d.DecodeUint64(); err != nil {
		return response{}, fmt.Errorf("response id: %w", err)
	}
	s, err := d.d.DecodeUint64()
	if err != nil {
		return response{}, fmt.Errorf("response status: %w", err)
	}
	if s > uint64(statusLast) {
		return response{}, fmt.Errorf("unknown status %d", s)
	}
	r.Status = status(s)
	if r.Value, err = d.bytes(MaxValueSize); err != nil {
		return response{}, fmt.Errorf("response value: %w", err)
	}
	if r.Values, err = d.values(MaxKeysPerRequest, MaxValueSize); err != nil {
		return response{}, fmt.Errorf("response values: %w", err)
	}
	if r.Keys, err = d.strings(MaxKeysPerRequest, MaxKeySize); err != nil {
		return response{}, fmt.Errorf("response keys: %w", err)
	}
	if r.Num, err = d.d.DecodeInt64(); err != nil {
		return response{}, fmt.Errorf("response number: %w", err)
	}
	if r.Swapped, err = d.d.DecodeBool(); err != nil {
		return response{}, fmt.Errorf("response swapped flag: %w", err)
	}
	if r.Msg, err = d.string(maxErrorMessage); err != nil {
		return response{}, fmt.Errorf("response message: %w", err)
	}
	if err := d.end(); err != nil {
		return response{}, fmt.Errorf("response: %w", err)
	}
	return r, nil
}

// hello opens every connection, client to server: the msgpack array
// [magic, version, nonce], the nonce being the client's challenge (version 1
// sent [magic, version]; such a hello is decoded so that the server can say
// which version it speaks). The server checks the version before anything
// else.
type hello struct {
	Magic   string
	Version uint64
	Nonce   []byte // nonceSize bytes
}

// helloAck answers a hello: the msgpack array [version, error] when the
// server refuses the connection (a non-empty error; the server then closes
// it), else [version, "", nonce, proof]: the server's challenge and its
// proof that it holds the token.
type helloAck struct {
	Version uint64
	Err     string
	Nonce   []byte // nonceSize bytes
	Proof   []byte // proofSize bytes
}

// authFrame answers an accepting helloAck, client to server: the msgpack
// array [proof], the client's proof that it holds the token. A client that
// found the server's proof wrong sends an empty proof, then closes.
type authFrame struct {
	Proof []byte
}

func encodeHello(e *msgpack.Encoder, h *hello) error {
	return errors.Join(e.EncodeArrayLen(3), e.EncodeString(h.Magic), e.EncodeUint(h.Version), e.EncodeBytes(h.Nonce))
}

func encodeHelloAck(e *msgpack.Encoder, a *helloAck) error {
	if a.Err != "" {
		return errors.Join(e.EncodeArrayLen(2), e.EncodeUint(a.Version), e.EncodeString(a.Err))
	}
	return errors.Join(e.EncodeArrayLen(4), e.EncodeUint(a.Version), e.EncodeString(a.Err),
		e.EncodeBytes(a.Nonce), e.EncodeBytes(a.Proof))
}

func encodeAuth(e *msgpack.Encoder, a *authFrame) error {
	return errors.Join(e.EncodeArrayLen(1), e.EncodeBytes(a.Proof))
}

func (d *decoder) hello(b []byte) (hello, error) {
	d.reset(b)
	var h hello
	n, err := d.d.DecodeArrayLen()
	if err != nil {
		return hello{}, err
	}
	if n != 2 && n != 3 {
		return hello{}, fmt.Errorf("hello of %d fields, want 3 (or 2 from version 1)", n)
	}
	if h.Magic, err = d.string(len(protocolMagic)); err != nil {
		return hello{}, fmt.Errorf("hello magic: %w", err)
	}
	if h.Version, err = d.d.DecodeUint64(); err != nil {
		return hello{}, fmt.Errorf("hello version: %w", err)
	}
	if n == 3 {
		if h.Nonce, err = d.bytes(nonceSize); err != nil {
			return hello{}, fmt.Errorf("hello nonce: %w", err)
		}
	}
	return h, d.end()
}

func (d *decoder) helloAck(b []byte) (helloAck, error) {
	d.reset(b)
	var a helloAck
	n, err := d.d.DecodeArrayLen()
	if err != nil {
		return helloAck{}, err
	}
	if n != 2 && n != 4 {
		return helloAck{}, fmt.Errorf("hello ack of %d fields, want 2 or 4", n)
	}
	if a.Version, err = d.d.DecodeUint64(); err != nil {
		return helloAck{}, fmt.Errorf("hello ack version: %w", err)
	}
	if a.Err, err = d.string(maxHelloFrame); err != nil {
		return helloAck{}, fmt.Errorf("hello ack error: %w", err)
	}
	if n == 4 {
		if a.Nonce, err = d.bytes(nonceSize); err != nil {
			return helloAck{}, fmt.Errorf("hello ack nonce: %w", err)
		}
		if a.Proof, err = d.bytes(proofSize); err != nil {
			return helloAck{}, fmt.Errorf("hello ack proof: %w", err)
		}
	}
	return a, d.end()
}

func (d *decoder) auth(b []byte) (authFrame, error) {
	d.reset(b)
	var a authFrame
	if err := d.fields(1); err != nil {
		return authFrame{}, err
	}
	var err error
	if a.Proof, err = d.bytes(proofSize); err != nil {
		return authFrame{}, fmt.Errorf("proof: %w", err)
	}
	return a, d.end()
}

// frameSizeError reports a frame whose announced length is zero or above the
// limit. The connection that sent it is closed.
type frameSizeError struct {
	Size, Limit uint32
}

func (e *frameSizeError) Error() string {
	return fmt.Sprintf("rendezvous: frame of %d bytes, limit %d", e.Size, e.Limit)
}

// frameReader reads length-prefixed frames: a big-endian uint32 length, then
// that many bytes. A frameReader is owned by one goroutine.
type frameReader struct {
	hdr [4]byte
	buf []byte
}

// read returns the next frame's body, valid until the next call. A length of
// zero or above max is a *frameSizeError. A clean end of stream before a
// frame starts is io.EOF; one inside a frame is io.ErrUnexpectedEOF.
func (f *frameReader) read(r io.Reader, max int) ([]byte, error) {
	if _, err := io.ReadFull(r, f.hdr[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(f.hdr[:])
	if n == 0 || n > uint32(max) {
		return nil, &frameSizeError{Size: n, Limit: uint32(max)}
	}
	if cap(f.buf) > frameKeepCap {
		f.buf = nil
	}
	f.buf = f.buf[:0]
	for len(f.buf) < int(n) {
		step := min(int(n)-len(f.buf), frameGrowStep)
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

// frameWriter encodes one frame at a time into a reused buffer. A
// frameWriter is owned by one goroutine (or used under its owner's lock).
type frameWriter struct {
	buf bytes.Buffer
	enc *msgpack.Encoder
}

func newFrameWriter() *frameWriter {
	w := &frameWriter{}
	w.enc = msgpack.NewEncoder(&w.buf)
	return w
}

var lengthPlaceholder [4]byte

// begin starts a frame and returns the encoder to write its body with.
func (w *frameWriter) begin() *msgpack.Encoder {
	if w.buf.Cap() > frameKeepCap {
		w.buf = bytes.Buffer{} // the encoder keeps &w.buf, which stays the same
	}
	w.buf.Reset()
	w.buf.Write(lengthPlaceholder[:])
	return w.enc
}

// finish ends the frame begun by begin and returns it, length prefix
// included, valid until the next begin. A body above max is an error.
func (w *frameWriter) finish(max int) ([]byte, error) {
	b := w.buf.Bytes()
	n := len(b) - len(lengthPlaceholder)
	if n > max {
		return nil, fmt.Errorf("frame of %d bytes, limit %d", n, max)
	}
	binary.BigEndian.PutUint32(b, uint32(n))
	return b, nil
}
