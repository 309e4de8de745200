package rendezvous

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/kizuna-hpc/kizuna/internal/auth"
	"github.com/vmihailenco/msgpack/v5"
)

// body encodes one message with encode and returns it without the length
// prefix.
func body(t testing.TB, encode func(*msgpack.Encoder) error) []byte {
	t.Helper()
	fw := newFrameWriter()
	if err := encode(fw.Begin()); err != nil {
		t.Fatal(err)
	}
	b, err := fw.Finish(1 << 30)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Clone(b[4:])
}

func requestBody(t testing.TB, r *request) []byte {
	return body(t, func(e *msgpack.Encoder) error { return encodeRequest(e, r) })
}

func responseBody(t testing.TB, r *response) []byte {
	return body(t, func(e *msgpack.Encoder) error { return encodeResponse(e, r) })
}

func helloBody(t testing.TB, magic string, version uint64) []byte {
	h := hello{Magic: magic, Version: version, Nonce: auth.NewNonce()}
	return body(t, func(e *msgpack.Encoder) error { return encodeHello(e, &h) })
}

// helloV1Body is a version 1 hello: [magic, version], without a nonce.
func helloV1Body(t testing.TB) []byte {
	return body(t, func(e *msgpack.Encoder) error {
		return errors.Join(e.EncodeArrayLen(2), e.EncodeString(protocolMagic), e.EncodeUint(1))
	})
}

// frame prefixes b with its length.
func frame(b []byte) []byte {
	return binary.BigEndian.AppendUint32(nil, uint32(len(b))) // caller appends b
}

func framed(b []byte) []byte {
	return append(frame(b), b...)
}

func lengthOnly(n uint32) []byte {
	return binary.BigEndian.AppendUint32(nil, n)
}

var sampleRequests = []request{
	{ID: 1, Op: opSet, NS: "job", Keys: []string{"k"}, Value: []byte("v")},
	{ID: 2, Op: opSet, NS: "", Keys: []string{"k"}, Value: []byte{}},
	{ID: 3, Op: opGet, NS: "job", Keys: []string{"k"}},
	{ID: 1 << 40, Op: opWait, NS: "job", Keys: []string{"a", "b", strings.Repeat("c", MaxKeySize)}},
	{ID: 5, Op: opAdd, NS: "job", Keys: []string{"n"}, Delta: -1 << 62},
	{ID: 6, Op: opCAS, NS: "job", Keys: []string{"k"}, Value: []byte("new"), Old: nil},
	{ID: 7, Op: opCAS, NS: "job", Keys: []string{"k"}, Value: []byte("new"), Old: []byte{}},
	{ID: 8, Op: opDelete, NS: "job", Keys: []string{"k"}},
	{ID: 9, Op: opAbort, NS: "job", Value: []byte("why")},
	{ID: 10, Op: opCancel, NS: "job"},
	{ID: 11, Op: opGetMany, NS: "job", Keys: []string{"a", "b"}},
}

var sampleResponses = []response{
	{ID: 1},
	{ID: 2, Status: statusNotFound},
	{ID: 3, Value: []byte{}},
	{ID: 4, Value: []byte("v"), Swapped: true},
	{ID: 5, Status: statusAborted, Value: []byte("reason")},
	{ID: 6, Status: statusCancelled, Keys: []string{"b", "d"}},
	{ID: 7, Values: [][]byte{[]byte("a"), nil, {}}},
	{ID: 8, Num: -42},
	{ID: 9, Status: statusError, Msg: "bad"},
	{ID: 10, Status: statusClosed},
}

func TestProtocolRoundTrip(t *testing.T) {
	for _, tt := range sampleRequests {
		got, err := newDecoder().request(requestBody(t, &tt))
		if err != nil || !reflect.DeepEqual(got, tt) {
			t.Errorf("request(encode(%+v)) = %+v, %v; want it back", tt, got, err)
		}
		if err := got.validate(); err != nil {
			t.Errorf("validate(%+v) = %v; want nil", tt, err)
		}
	}
	for _, tt := range sampleResponses {
		got, err := newDecoder().response(responseBody(t, &tt))
		if err != nil || !reflect.DeepEqual(got, tt) {
			t.Errorf("response(encode(%+v)) = %+v, %v; want it back", tt, got, err)
		}
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		req  request
		want string
	}{
		{"set without key", request{Op: opSet}, "with 0 keys, want 1"},
		{"get with two keys", request{Op: opGet, Keys: []string{"a", "b"}}, "with 2 keys, want 1"},
		{"wait without keys", request{Op: opWait}, "without keys"},
		{"abort with a key", request{Op: opAbort, Keys: []string{"a"}}, "with 1 keys, want 0"},
		{"empty key", request{Op: opWait, Keys: []string{"a", ""}}, "empty key"},
		{"cas without new value", request{Op: opCAS, Keys: []string{"a"}}, "without a new value"},
		{"unknown op", request{Op: 99, Keys: []string{"a"}}, "unknown op"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.req.validate(); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("validate(%+v) = %v; want error containing %q", tt.req, err, tt.want)
			}
		})
	}
}

// hostileBodies are short bodies that announce large lengths.
var hostileBodies = map[string][]byte{
	// [id 1, op set, ns "", keys ["k"], value bin32 of MaxValueSize bytes ...]
	"value length beyond frame": append([]byte{0x97, 0x01, 0x01, 0xa0, 0x91, 0xa1, 'k', 0xc6}, binary.BigEndian.AppendUint32(nil, MaxValueSize)...),
	// [id 1, op wait, ns "", keys array32 of MaxKeysPerRequest ...]
	"key count beyond frame": append([]byte{0x97, 0x01, 0x03, 0xa0, 0xdd}, binary.BigEndian.AppendUint32(nil, MaxKeysPerRequest)...),
	// [id 1, op set, ns str32 of 4 GiB ...]
	"namespace length over limit": {0x97, 0x01, 0x01, 0xdb, 0xff, 0xff, 0xff, 0xff},
	// [id 1, op wait, ns "", keys array32 of 4G ...]
	"key count over limit": {0x97, 0x01, 0x03, 0xa0, 0xdd, 0xff, 0xff, 0xff, 0xff},
	// array32 of 4G fields
	"field count over limit": {0xdd, 0xff, 0xff, 0xff, 0xff},
}

// TestDecodeAllocationBounded checks that a short body announcing large
// lengths is rejected without allocating for them.
func TestDecodeAllocationBounded(t *testing.T) {
	for name, b := range hostileBodies {
		t.Run(name, func(t *testing.T) {
			d := newDecoder()
			const runs = 100
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			for range runs {
				if _, err := d.request(b); err == nil {
					t.Fatalf("request(% x) = nil error; want one", b)
				}
			}
			runtime.ReadMemStats(&after)
			if per := (after.TotalAlloc - before.TotalAlloc) / runs; per > 4<<10 {
				t.Fatalf("request(% x) allocates %d bytes per call; want at most 4 KiB", b, per)
			}
		})
	}
}

func FuzzDecodeRequest(f *testing.F) {
	for _, r := range sampleRequests {
		f.Add(requestBody(f, &r))
	}
	for _, b := range hostileBodies {
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte("GET / HTTP/1.1\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		req, err := newDecoder().request(data)
		if err != nil {
			return
		}
		// Every decoded byte came from data: allocation is bounded by it.
		n := len(req.NS) + len(req.Value) + len(req.Old) + len(req.Keys)
		for _, k := range req.Keys {
			n += len(k)
			if len(k) > MaxKeySize {
				t.Fatalf("decoded a key of %d bytes; limit %d", len(k), MaxKeySize)
			}
		}
		if n > len(data) {
			t.Fatalf("decoded %d bytes of fields from %d bytes", n, len(data))
		}
		if len(req.NS) > MaxKeySize || len(req.Keys) > MaxKeysPerRequest || len(req.Value) > MaxValueSize || len(req.Old) > MaxValueSize {
			t.Fatalf("decoded request beyond limits: %d-byte namespace, %d keys, %d and %d-byte values",
				len(req.NS), len(req.Keys), len(req.Value), len(req.Old))
		}
		_ = req.validate() // must not panic
		again, err := newDecoder().request(requestBody(t, &req))
		if err != nil || !reflect.DeepEqual(again, req) {
			t.Fatalf("request(encode(%+v)) = %+v, %v; want it back", req, again, err)
		}
	})
}

func FuzzDecodeResponse(f *testing.F) {
	for _, r := range sampleResponses {
		f.Add(responseBody(f, &r))
	}
	f.Add([]byte{0x98, 0x01, 0x00, 0xc0, 0xdd, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		resp, err := newDecoder().response(data)
		if err != nil {
			return
		}
		n := len(resp.Value) + len(resp.Msg) + len(resp.Values) + len(resp.Keys)
		for _, v := range resp.Values {
			n += len(v)
		}
		for _, k := range resp.Keys {
			n += len(k)
		}
		if n > len(data) {
			t.Fatalf("decoded %d bytes of fields from %d bytes", n, len(data))
		}
		again, err := newDecoder().response(responseBody(t, &resp))
		if err != nil || !reflect.DeepEqual(again, resp) {
			t.Fatalf("response(encode(%+v)) = %+v, %v; want it back", resp, again, err)
		}
	})
}

// TestBadConnectionsClosed sends bad frames on raw TCP connections: the
// server must close each one with a logged warning and go on serving others,
// including a Wait pending on another connection throughout.
func TestBadConnectionsClosed(t *testing.T) {
	s, logs := startServer(t)
	ctx := testContext(t)
	bystander := dial(t, s, "ns")
	pending := goWait(ctx, bystander, "after")
	waitersReach(t, s, 1)

	tests := []struct {
		name       string
		hello      bool // send a good hello first
		send       []byte
		closeWrite bool   // then shut our sending side
		wantAckErr string // expect a refusing hello ack first
	}{
		{name: "http request instead of hello", send: []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")},
		{name: "garbage hello", send: framed([]byte{0xc1, 0xc1, 0xc1})},
		{name: "wrong magic", send: framed(helloBody(t, "nope", ProtocolVersion))},
		{name: "wrong version", send: framed(helloBody(t, protocolMagic, 99)), wantAckErr: "protocol version 99 not supported"},
		{name: "version 1 hello", send: framed(helloV1Body(t)), wantAckErr: "protocol version 1 not supported; server speaks 2"},
		{name: "hello without nonce", send: framed(body(t, func(e *msgpack.Encoder) error {
			return errors.Join(e.EncodeArrayLen(2), e.EncodeString(protocolMagic), e.EncodeUint(ProtocolVersion))
		}))},
		{name: "hello with a long nonce", send: framed(body(t, func(e *msgpack.Encoder) error {
			return encodeHello(e, &hello{Magic: protocolMagic, Version: ProtocolVersion, Nonce: make([]byte, nonceSize+1)})
		}))},
		{name: "oversize hello length", send: lengthOnly(maxHelloFrame + 1)},
		{name: "largest length", hello: true, send: lengthOnly(1<<32 - 1)},
		{name: "length just over limit", hello: true, send: lengthOnly(MaxFrameSize + 1)},
		{name: "zero length", hello: true, send: lengthOnly(0)},
		{name: "not msgpack", hello: true, send: framed([]byte{0xc1, 0x00, 0x01})},
		{name: "truncated message", hello: true, send: framed([]byte{0x97, 0x01})},
		{name: "trailing bytes", hello: true, send: framed(append(requestBody(t, &request{ID: 1, Op: opGet, Keys: []string{"k"}}), 0x00))},
		{name: "unknown op", hello: true, send: framed(requestBody(t, &request{ID: 1, Op: 42, Keys: []string{"k"}}))},
		{name: "key too long", hello: true, send: framed(requestBody(t, &request{ID: 1, Op: opGet, Keys: []string{strings.Repeat("k", MaxKeySize+1)}}))},
		{name: "value too long", hello: true, send: framed(requestBody(t, &request{ID: 1, Op: opSet, Keys: []string{"k"}, Value: make([]byte, MaxValueSize+1)}))},
		{name: "set without key", hello: true, send: framed(requestBody(t, &request{ID: 1, Op: opSet}))},
		{name: "hostile lengths", hello: true, send: framed(hostileBodies["value length beyond frame"])},
		{name: "frame cut short", hello: true, send: append(lengthOnly(100), "0123456789"...), closeWrite: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", s.Addr())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(testTimeout))
			fr := newFrameReader()
			if tt.hello {
				if _, err := handshake(ctx, conn, ""); err != nil {
					t.Fatalf("handshake() = %v", err)
				}
			}
			conn.Write(tt.send) // the server may close before taking it all
			if tt.closeWrite {
				conn.(*net.TCPConn).CloseWrite()
			}
			if tt.wantAckErr != "" {
				b, err := fr.Read(conn, maxHelloFrame)
				if err != nil {
					t.Fatalf("reading hello ack: %v", err)
				}
				if ack, err := newDecoder().helloAck(b); err != nil || !strings.Contains(ack.Err, tt.wantAckErr) {
					t.Fatalf("hello ack = %+v, %v; want error containing %q", ack, err, tt.wantAckErr)
				}
			}
			rest, err := io.ReadAll(conn)
			if errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatal("the server kept the connection open")
			}
			if len(rest) != 0 {
				t.Fatalf("the server answered % x; want nothing", rest)
			}
			// err is nil (EOF) or a reset: either way the server closed it.
			if got := logs.lines("level=WARN", "remote="+conn.LocalAddr().String()); len(got) != 1 {
				t.Fatalf("server logged %q for this connection; want one warning", got)
			}
			// The server still serves others.
			if err := bystander.Set(ctx, "alive", []byte(tt.name)); err != nil {
				t.Fatalf("Set on another connection after %s = %v", tt.name, err)
			}
		})
	}
	if err := bystander.Set(ctx, "after", nil); err != nil {
		t.Fatal(err)
	}
	if err := <-pending; err != nil {
		t.Fatalf("Wait pending on another connection throughout = %v; want nil", err)
	}
}

// TestServerHoldsNoConnAfterClientCloses checks the server-side teardown of
// a connection whose client went away with waits pending.
func TestServerForgetsClosedConnections(t *testing.T) {
	s, _ := startServer(t)
	ctx := testContext(t)
	c := dial(t, s, "ns")
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	d1 := goWait(cctx, c, "x")
	d2 := goWait(cctx, c, "y", "z")
	waitersReach(t, s, 2)
	c.Close()
	<-d1
	<-d2
	eventually(t, "the server drops the connection", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.conns) == 0 && s.store.numWaiters() == 0
	})
	s.store.mu.Lock()
	spaces := len(s.store.spaces)
	s.store.mu.Unlock()
	if spaces != 0 {
		t.Fatalf("server keeps %d namespaces with neither keys nor waits; want 0", spaces)
	}
}
