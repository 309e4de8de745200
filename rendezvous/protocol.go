package rendezvous

import (
	"errors"
	"fmt"

	"github.com/kizuna-hpc/kizuna/internal/wire"
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
		wire.EncodeStrings(e, r.Keys),
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
		wire.EncodeValues(e, r.Values),
		wire.EncodeStrings(e, r.Keys),
		e.EncodeInt(r.Num),
		e.EncodeBool(r.Swapped),
		e.EncodeString(r.Msg),
	)
	if err != nil {
		return fmt.Errorf("encode response: %w", err)
	}
	return nil
}

// decoder decodes the store's messages; wire.Decoder bounds every length
// against its limit and the bytes left in the frame. A decoder is owned by
// one goroutine.
type decoder struct {
	wire.Decoder
}

func newDecoder() *decoder {
	return &decoder{}
}

// request decodes a request body. It checks every bound but not the
// per-operation rules; see request.validate.
func (d *decoder) request(b []byte) (request, error) {
	d.Reset(b)
	var r request
	if err := d.Fields(requestFields); err != nil {
		return request{}, err
	}
	var err error
	if r.ID, err = d.Msgpack().DecodeUint64(); err != nil {
		return request{}, fmt.Errorf("request id: %w", err)
	}
	o, err := d.Msgpack().DecodeUint64()
	if err != nil {
		return request{}, fmt.Errorf("request op: %w", err)
	}
	if o < 1 || o > uint64(opLast) {
		return request{}, fmt.Errorf("unknown op %d", o)
	}
	r.Op = op(o)
	if r.NS, err = d.Str(MaxKeySize); err != nil {
		return request{}, fmt.Errorf("%v namespace: %w", r.Op, err)
	}
	if r.Keys, err = d.Strings(MaxKeysPerRequest, MaxKeySize); err != nil {
		return request{}, fmt.Errorf("%v keys: %w", r.Op, err)
	}
	if r.Value, err = d.Bytes(MaxValueSize); err != nil {
		return request{}, fmt.Errorf("%v value: %w", r.Op, err)
	}
	if r.Old, err = d.Bytes(MaxValueSize); err != nil {
		return request{}, fmt.Errorf("%v old value: %w", r.Op, err)
	}
	if r.Delta, err = d.Msgpack().DecodeInt64(); err != nil {
		return request{}, fmt.Errorf("%v delta: %w", r.Op, err)
	}
	if err := d.End(); err != nil {
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
	d.Reset(b)
	var r response
	if err := d.Fields(responseFields); err != nil {
		return response{}, err
	}
	var err error
	if r.ID, err = d.Msgpack().DecodeUint64(); err != nil {
		return response{}, fmt.Errorf("response id: %w", err)
	}
	s, err := d.Msgpack().DecodeUint64()
	if err != nil {
		return response{}, fmt.Errorf("response status: %w", err)
	}
	if s > uint64(statusLast) {
		return response{}, fmt.Errorf("unknown status %d", s)
	}
	r.Status = status(s)
	if r.Value, err = d.Bytes(MaxValueSize); err != nil {
		return response{}, fmt.Errorf("response value: %w", err)
	}
	if r.Values, err = d.Values(MaxKeysPerRequest, MaxValueSize); err != nil {
		return response{}, fmt.Errorf("response values: %w", err)
	}
	if r.Keys, err = d.Strings(MaxKeysPerRequest, MaxKeySize); err != nil {
		return response{}, fmt.Errorf("response keys: %w", err)
	}
	if r.Num, err = d.Msgpack().DecodeInt64(); err != nil {
		return response{}, fmt.Errorf("response number: %w", err)
	}
	if r.Swapped, err = d.Msgpack().DecodeBool(); err != nil {
		return response{}, fmt.Errorf("response swapped flag: %w", err)
	}
	if r.Msg, err = d.Str(maxErrorMessage); err != nil {
		return response{}, fmt.Errorf("response message: %w", err)
	}
	if err := d.End(); err != nil {
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
	d.Reset(b)
	var h hello
	n, err := d.Msgpack().DecodeArrayLen()
	if err != nil {
		return hello{}, err
	}
	if n != 2 && n != 3 {
		return hello{}, fmt.Errorf("hello of %d fields, want 3 (or 2 from version 1)", n)
	}
	if h.Magic, err = d.Str(len(protocolMagic)); err != nil {
		return hello{}, fmt.Errorf("hello magic: %w", err)
	}
	if h.Version, err = d.Msgpack().DecodeUint64(); err != nil {
		return hello{}, fmt.Errorf("hello version: %w", err)
	}
	if n == 3 {
		if h.Nonce, err = d.Bytes(nonceSize); err != nil {
			return hello{}, fmt.Errorf("hello nonce: %w", err)
		}
	}
	return h, d.End()
}

func (d *decoder) helloAck(b []byte) (helloAck, error) {
	d.Reset(b)
	var a helloAck
	n, err := d.Msgpack().DecodeArrayLen()
	if err != nil {
		return helloAck{}, err
	}
	if n != 2 && n != 4 {
		return helloAck{}, fmt.Errorf("hello ack of %d fields, want 2 or 4", n)
	}
	if a.Version, err = d.Msgpack().DecodeUint64(); err != nil {
		return helloAck{}, fmt.Errorf("hello ack version: %w", err)
	}
	if a.Err, err = d.Str(maxHelloFrame); err != nil {
		return helloAck{}, fmt.Errorf("hello ack error: %w", err)
	}
	if n == 4 {
		if a.Nonce, err = d.Bytes(nonceSize); err != nil {
			return helloAck{}, fmt.Errorf("hello ack nonce: %w", err)
		}
		if a.Proof, err = d.Bytes(proofSize); err != nil {
			return helloAck{}, fmt.Errorf("hello ack proof: %w", err)
		}
	}
	return a, d.End()
}

func (d *decoder) auth(b []byte) (authFrame, error) {
	d.Reset(b)
	var a authFrame
	if err := d.Fields(1); err != nil {
		return authFrame{}, err
	}
	var err error
	if a.Proof, err = d.Bytes(proofSize); err != nil {
		return authFrame{}, fmt.Errorf("proof: %w", err)
	}
	return a, d.End()
}

// frameSizeError reports a frame whose announced length is zero or above the
// limit. The connection that sent it is closed.
type frameSizeError = wire.FrameSizeError

// newFrameReader returns a reader of length-prefixed frames (see
// wire.FrameReader), owned by one goroutine.
func newFrameReader() *wire.FrameReader {
	return &wire.FrameReader{Keep: frameKeepCap}
}

// newFrameWriter returns a writer of length-prefixed frames (see
// wire.FrameWriter), owned by one goroutine (or used under its owner's lock).
func newFrameWriter() *wire.FrameWriter {
	return &wire.FrameWriter{Keep: frameKeepCap}
}
