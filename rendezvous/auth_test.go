package rendezvous

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/kizuna-hpc/kizuna/internal/auth"
	"github.com/vmihailenco/msgpack/v5"
)

// startServerWith starts a server on a free port with opts, closed when the
// test ends, logging into the returned buffer.
func startServerWith(t *testing.T, opts ...Option) (*Server, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	h := slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})
	s, err := Listen("127.0.0.1:0", append([]Option{WithLogger(slog.New(h))}, opts...)...)
	if err != nil {
		t.Fatalf("Listen() = %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Server.Close() = %v", err)
		}
	})
	return s, logs
}

// TestDialToken: Dial succeeds when the client and the server hold the same
// token (or neither holds one), and otherwise fails at once with
// ErrAuthFailed, which the server logs as a refusal.
func TestDialToken(t *testing.T) {
	tests := []struct {
		name           string
		server, client string
		ok             bool
	}{
		{"same token", "s3cret", "s3cret", true},
		{"no token on either side", "", "", true},
		{"wrong token", "s3cret", "guess", false},
		{"client without token", "s3cret", "", false},
		{"server without token", "", "s3cret", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, logs := startServerWith(t, WithToken(tt.server))
			ctx := testContext(t)
			c, err := Dial(ctx, s.Addr(), "ns", DialWithToken(tt.client))
			if tt.ok {
				if err != nil {
					t.Fatalf("Dial(token %q) to a server with token %q = %v; want a client", tt.client, tt.server, err)
				}
				defer c.Close()
				if err := c.Set(ctx, "k", []byte("v")); err != nil {
					t.Fatalf("Set() after Dial = %v", err)
				}
				if got := logs.lines("level=WARN"); len(got) != 0 {
					t.Fatalf("server logged %q; want no warning", got)
				}
				return
			}
			if c != nil {
				c.Close()
			}
			if !errors.Is(err, ErrAuthFailed) || errors.Is(err, context.DeadlineExceeded) ||
				!strings.Contains(err.Error(), s.Addr()) || !strings.Contains(err.Error(), "KIZUNA_TOKEN") {
				t.Fatalf("Dial(token %q) to a server with token %q = %v; want ErrAuthFailed naming %s, without retrying", tt.client, tt.server, err, s.Addr())
			}
			// The server logs once it has read the client's (empty) proof,
			// which may be after Dial returned.
			eventually(t, "the server logs the refusal", func() bool {
				return len(logs.lines("level=WARN", "refused connection", "authentication failed", "remote=127.0.0.1:")) == 1
			})
		})
	}
}

// recordingConn records what is written to it.
type recordingConn struct {
	net.Conn
	sent bytes.Buffer
}

func (c *recordingConn) Write(p []byte) (int, error) {
	c.sent.Write(p)
	return c.Conn.Write(p)
}

// TestAuthStrangersRefused: connections that do not prove they hold the
// store's token are closed, each with one warning naming its address, and
// the server goes on serving the others, including a Wait pending on another
// connection throughout.
func TestAuthStrangersRefused(t *testing.T) {
	const token = "s3cret"
	s, logs := startServerWith(t, WithToken(token))
	ctx := testContext(t)
	bystander, err := Dial(ctx, s.Addr(), "ns", DialWithToken(token))
	if err != nil {
		t.Fatal(err)
	}
	defer bystander.Close()
	pending := goWait(ctx, bystander, "after")
	waitersReach(t, s, 1)

	// A genuine session's frames from the client: its hello and its proof,
	// good for that session only.
	conn, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	rc := &recordingConn{Conn: conn}
	if _, err := handshake(ctx, rc, token); err != nil {
		t.Fatalf("genuine handshake = %v", err)
	}
	conn.Close()
	replay := bytes.Clone(rc.sent.Bytes())

	frameOf := func(encode func(e *msgpack.Encoder) error) []byte {
		fw := newFrameWriter()
		if err := encode(fw.Begin()); err != nil {
			t.Fatal(err)
		}
		b, err := fw.Finish(maxHelloFrame)
		if err != nil {
			t.Fatal(err)
		}
		return bytes.Clone(b)
	}
	// answer sends a hello, reads the ack and sends what reply makes of it.
	answer := func(reply func(ack *helloAck) []byte) func(conn net.Conn) error {
		return func(conn net.Conn) error {
			h := hello{Magic: protocolMagic, Version: ProtocolVersion, Nonce: auth.NewNonce()}
			if _, err := conn.Write(frameOf(func(e *msgpack.Encoder) error { return encodeHello(e, &h) })); err != nil {
				return err
			}
			fr := newFrameReader()
			b, err := fr.Read(conn, maxHelloFrame)
			if err != nil {
				return err
			}
			ack, err := newDecoder().helloAck(b)
			if err != nil || ack.Err != "" {
				return errors.Join(err, errors.New(ack.Err))
			}
			_, err = conn.Write(reply(&ack))
			return err
		}
	}
	proofFrame := func(p []byte) []byte {
		return frameOf(func(e *msgpack.Encoder) error { return encodeAuth(e, &authFrame{Proof: p}) })
	}
	tests := []struct {
		name   string
		send   func(conn net.Conn) error
		reason string
	}{
		{"wrong token", func(conn net.Conn) error {
			if _, err := handshake(ctx, conn, "guess"); !errors.Is(err, ErrAuthFailed) {
				return errors.Join(errors.New("handshake(wrong token) did not fail with ErrAuthFailed"), err)
			}
			return nil
		}, "rejected the server's proof"},
		{"no token", func(conn net.Conn) error {
			if _, err := handshake(ctx, conn, ""); !errors.Is(err, ErrAuthFailed) {
				return errors.Join(errors.New("handshake(no token) did not fail with ErrAuthFailed"), err)
			}
			return nil
		}, "rejected the server's proof"},
		{"replayed transcript", func(conn net.Conn) error {
			_, err := conn.Write(replay)
			return err
		}, "wrong proof"},
		{"reflected proof", answer(func(ack *helloAck) []byte { return proofFrame(ack.Proof) }), "wrong proof"},
		{"guessed proof", answer(func(*helloAck) []byte { return proofFrame(make([]byte, proofSize)) }), "wrong proof"},
		{"oversized proof", answer(func(*helloAck) []byte { return proofFrame(make([]byte, proofSize+1)) }), "malformed proof"},
		{"garbage instead of proof", answer(func(*helloAck) []byte { return framed([]byte{0xc1}) }), "malformed proof"},
		{"request instead of proof", answer(func(*helloAck) []byte {
			return framed(requestBody(t, &request{ID: 1, Op: opGet, NS: "ns", Keys: []string{"k"}}))
		}), "malformed proof"},
		{"hang up before proof", answer(func(*helloAck) []byte { return nil }), "no proof"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", s.Addr())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(testTimeout))
			if err := tt.send(conn); err != nil {
				t.Fatal(err)
			}
			conn.(*net.TCPConn).CloseWrite()
			// Whatever came before (the ack), the server closes the connection.
			_, err = io.ReadAll(conn)
			if errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatal("the server kept the connection open")
			}
			me := "remote=" + conn.LocalAddr().String()
			eventually(t, "the server logs the refusal", func() bool { return len(logs.lines(me)) > 0 })
			got := logs.lines(me)
			if len(got) != 1 || !strings.Contains(got[0], "level=WARN") || !strings.Contains(got[0], "authentication failed") || !strings.Contains(got[0], tt.reason) {
				t.Fatalf("server logged %q for this connection; want one warning about authentication mentioning %q", got, tt.reason)
			}
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

// FuzzHandshake feeds arbitrary bytes, as the client's side of the stream,
// to the server's hello exchange: it must never panic and never accept (no
// input can hold a proof for the server's fresh nonce), and the hello, ack
// and proof decoders must stay within their bounds.
func FuzzHandshake(f *testing.F) {
	frameOf := func(encode func(e *msgpack.Encoder) error) []byte {
		fw := newFrameWriter()
		if err := encode(fw.Begin()); err != nil {
			f.Fatal(err)
		}
		b, _ := fw.Finish(maxHelloFrame)
		return bytes.Clone(b)
	}
	h := hello{Magic: protocolMagic, Version: ProtocolVersion, Nonce: auth.NewNonce()}
	good := frameOf(func(e *msgpack.Encoder) error { return encodeHello(e, &h) })
	f.Add(good)
	f.Add(append(bytes.Clone(good), frameOf(func(e *msgpack.Encoder) error { return encodeAuth(e, &authFrame{Proof: make([]byte, proofSize)}) })...))
	f.Add(append(bytes.Clone(good), frameOf(func(e *msgpack.Encoder) error { return encodeAuth(e, &authFrame{}) })...))
	f.Add(frameOf(func(e *msgpack.Encoder) error {
		return encodeHelloAck(e, &helloAck{Version: ProtocolVersion, Nonce: auth.NewNonce(), Proof: make([]byte, proofSize)})
	}))
	f.Add(frameOf(func(e *msgpack.Encoder) error { return encodeHelloAck(e, &helloAck{Version: 1, Err: "no"}) }))
	f.Add(lengthOnly(1<<32 - 1))
	f.Add([]byte("GET / HTTP/1.1\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rw := struct {
			io.Reader
			io.Writer
		}{bytes.NewReader(data), io.Discard}
		if err := answerHello(rw, "tok"); err == nil {
			t.Fatalf("answerHello(% x) accepted", data)
		}
		fr := newFrameReader()
		b, err := fr.Read(bytes.NewReader(data), maxHelloFrame)
		if err != nil {
			return
		}
		d := newDecoder()
		if h, err := d.hello(b); err == nil && (len(h.Magic) > len(protocolMagic) || len(h.Nonce) > nonceSize) {
			t.Fatalf("hello(% x) = %+v beyond its bounds", b, h)
		}
		if a, err := d.helloAck(b); err == nil && (len(a.Err) > len(b) || len(a.Nonce) > nonceSize || len(a.Proof) > proofSize) {
			t.Fatalf("helloAck(% x) = %+v beyond its bounds", b, a)
		}
		if a, err := d.auth(b); err == nil && len(a.Proof) > proofSize {
			t.Fatalf("auth(% x) = %+v beyond its bounds", b, a)
		}
	})
}

// TestProof: a proof depends on the token, the role and both nonces.
func TestProof(t *testing.T) {
	nc, ns := bytes.Repeat([]byte{1}, nonceSize), bytes.Repeat([]byte{2}, nonceSize)
	base := proof("tok", roleClient, nc, ns)
	if !bytes.Equal(base, proof("tok", roleClient, nc, ns)) || len(base) != proofSize {
		t.Fatalf("proof() = %x; want the same %d-byte proof every time", base, proofSize)
	}
	// The transcript's bytes are the wire format: these proofs were computed
	// before the proof moved to package auth, and must never change.
	for _, g := range []struct{ role, want string }{
		{roleClient, "ece923d66e6351a8f70ab4ace922f107a6900d629c6253b0e5b34ba3550b3b2b"},
		{roleServer, "0e049a88d1f2b44aa491f1084fa6ace470b05db3de2cd326820795e8c622a463"},
	} {
		if got := hex.EncodeToString(proof("tok", g.role, nc, ns)); got != g.want {
			t.Errorf("proof(tok, %s, 01.., 02..) = %s; want %s", g.role, got, g.want)
		}
	}
	tests := []struct {
		name string
		p    []byte
	}{
		{"token", proof("tok2", roleClient, nc, ns)},
		{"no token", proof("", roleClient, nc, ns)},
		{"role", proof("tok", roleServer, nc, ns)},
		{"client nonce", proof("tok", roleClient, ns, ns)},
		{"server nonce", proof("tok", roleClient, nc, nc)},
		{"nonces swapped", proof("tok", roleClient, ns, nc)},
		{"field boundary", proof("tok", roleClient+string(nc[:1]), nc[1:], ns)},
	}
	for _, tt := range tests {
		if bytes.Equal(tt.p, base) {
			t.Errorf("proof(other %s) = proof(base) = %x; want them to differ", tt.name, tt.p)
		}
	}
}
