package tcp

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kizuna-hpc/kizuna/internal/auth"
	"github.com/kizuna-hpc/kizuna/transport"
)

// recorder is a slog.Handler that keeps every record, for assertions.
type recorder struct {
	mu   sync.Mutex
	recs []record
}

type record struct {
	level slog.Level
	msg   string
	attrs map[string]string
}

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *recorder) WithGroup(string) slog.Handler            { return r }
func (r *recorder) Handle(_ context.Context, rc slog.Record) error {
	a := map[string]string{}
	rc.Attrs(func(at slog.Attr) bool {
		a[at.Key] = at.Value.String()
		return true
	})
	r.mu.Lock()
	r.recs = append(r.recs, record{rc.Level, rc.Message, a})
	r.mu.Unlock()
	return nil
}

// find returns the records with message msg.
func (r *recorder) find(msg string) []record {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []record
	for _, rc := range r.recs {
		if rc.msg == msg {
			out = append(out, rc)
		}
	}
	return out
}

func goodHello(job string, rank, size int) hello {
	return hello{Magic: handshakeMagic, Version: handshakeVersion, Job: job, Rank: rank, Size: size, Socket: 0, Sockets: 1, Nonce: auth.NewNonce()}
}

// stranger is the handshake configuration of a dialer claiming rank 0 of a
// 2-rank job with one socket per peer.
func stranger(job, token string) *resolved {
	return &resolved{Config: Config{Rank: 0, Size: 2, SocketsPerPeer: 1, JobID: job, Token: token}}
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

// recordTranscript completes a genuine handshake as rank 0 with a fresh rank-1
// listener of job and token, and returns the bytes the dialer sent (its hello
// and its confirm, with a valid proof for that connection only).
func recordTranscript(t *testing.T, job, token string) []byte {
	t.Helper()
	l, err := Listen(Config{Rank: 1, Size: 2, JobID: job, Token: token, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	type result struct {
		ep  transport.Endpoint
		err error
	}
	res := make(chan result, 1)
	go func() {
		ep, err := l.Connect(ctx, []string{"unused", l.Addr()})
		res <- result{ep, err}
	}()
	c, err := net.Dial("tcp", l.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rc := &recordingConn{Conn: c}
	if err := dialHandshake(rc, stranger(job, token), 1, 0, l.Addr()); err != nil {
		t.Fatalf("genuine handshake = %v", err)
	}
	got := <-res
	if got.err != nil {
		t.Fatalf("Connect(rank 1) = %v", got.err)
	}
	_ = got.ep.Close()
	return rc.sent.Bytes()
}

// TestStrangersRefused: connections that are not a rank of this job, or
// that do not prove they hold its token, are refused with a logged warning
// naming their address, and the mesh still forms.
func TestStrangersRefused(t *testing.T) {
	const token = "s3cret"
	replay := recordTranscript(t, "job", token)
	rec := &recorder{}
	l0, err := Listen(Config{Rank: 0, Size: 2, JobID: "job", Token: token, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	l1, err := Listen(Config{Rank: 1, Size: 2, JobID: "job", Token: token, Logger: slog.New(rec)})
	if err != nil {
		t.Fatal(err)
	}
	addrs := []string{l0.Addr(), l1.Addr()}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	type result struct {
		ep  transport.Endpoint
		err error
	}
	res1 := make(chan result, 1)
	go func() {
		ep, err := l1.Connect(ctx, addrs)
		res1 <- result{ep, err}
	}()

	wrongJob := goodHello("other job", 0, 2)
	outOfRange := goodHello("job", 7, 2)
	wrongSize := goodHello("job", 0, 3)
	wrongDir := goodHello("job", 1, 2)
	badSocket := goodHello("job", 0, 2)
	badSocket.Socket = 4
	noNonce := goodHello("job", 0, 2)
	noNonce.Nonce = nil
	oldVersion := goodHello("job", 0, 2)
	oldVersion.Version = 1
	// authAs runs a dialer's handshake with token, which must fail.
	authAs := func(token string) func(c net.Conn) error {
		return func(c net.Conn) error {
			if err := dialHandshake(c, stranger("job", token), 1, 0, c.RemoteAddr().String()); !errors.Is(err, ErrAuthFailed) {
				return fmt.Errorf("dialHandshake(token %q) = %v; want ErrAuthFailed", token, err)
			}
			return nil
		}
	}
	// answer sends a good hello, reads the reply and answers with the
	// confirm that confirm makes from it.
	answer := func(confirm func(r *reply) any) func(c net.Conn) error {
		return func(c net.Conn) error {
			h := goodHello("job", 0, 2)
			if err := writeMsg(c, &h); err != nil {
				return err
			}
			var r reply
			if err := readMsg(c, &r); err != nil || !r.OK {
				return fmt.Errorf("reply = %+v, %v; want OK", r, err)
			}
			return writeMsg(c, confirm(&r))
		}
	}
	tests := []struct {
		name   string
		send   func(c net.Conn) error
		reason string // in the reply; "" when the stranger gets no reply
		logged string // in the logged reason, when reason is ""
	}{
		{"garbage", func(c net.Conn) error { _, err := c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")); return err }, "", "message length"},
		{"bad msgpack", func(c net.Conn) error { _, err := c.Write([]byte{3, 0, 0, 0, 0xc1, 0xc1, 0xc1}); return err }, "", "malformed"},
		{"wrong job", func(c net.Conn) error { return writeMsg(c, &wrongJob) }, "job id", ""},
		{"rank out of range", func(c net.Conn) error { return writeMsg(c, &outOfRange) }, "out of range", ""},
		{"wrong size", func(c net.Conn) error { return writeMsg(c, &wrongSize) }, "job size", ""},
		{"higher rank dials", func(c net.Conn) error { return writeMsg(c, &wrongDir) }, "must not dial", ""},
		{"socket index", func(c net.Conn) error { return writeMsg(c, &badSocket) }, "socket index", ""},
		{"no nonce", func(c net.Conn) error { return writeMsg(c, &noNonce) }, "nonce of 0 bytes", ""},
		{"protocol version 1", func(c net.Conn) error { return writeMsg(c, &oldVersion) }, "protocol version 1", ""},
		{"wrong token", authAs("guess"), "", "authentication failed"},
		{"no token", authAs(""), "", "authentication failed"},
		{"replayed transcript", func(c net.Conn) error {
			// The hello of a genuine session, then (whatever the reply) its
			// confirm, whose proof was good for that session only.
			if _, err := c.Write(replay); err != nil {
				return err
			}
			var r reply
			if err := readMsg(c, &r); err != nil || !r.OK {
				return fmt.Errorf("reply = %+v, %v; want OK", r, err)
			}
			return nil
		}, "", "authentication failed"},
		{"reflected proof", answer(func(r *reply) any { return &confirm{OK: true, Proof: r.Proof} }), "", "authentication failed"},
		{"no proof", answer(func(*reply) any { return &confirm{OK: true} }), "", "authentication failed"},
		{"oversized proof", answer(func(*reply) any { return &confirm{OK: true, Proof: make([]byte, 3000)} }), "", "authentication failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := net.Dial("tcp", l1.Addr())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			if err := tt.send(c); err != nil {
				t.Fatal(err)
			}
			if tt.reason != "" {
				var r reply
				if err := readMsg(c, &r); err != nil {
					t.Fatalf("reading the refusal: %v", err)
				}
				if r.OK || !strings.Contains(r.Reason, tt.reason) {
					t.Fatalf("reply = %+v; want a refusal mentioning %q", r, tt.reason)
				}
			}
			// The listener closes the connection after refusing it (a reset
			// when our bytes were left unread).
			if n, err := io.Copy(io.Discard, c); n != 0 || (err != nil && !errors.Is(err, syscall.ECONNRESET)) {
				t.Fatalf("after refusal: read %d bytes, %v; want end of stream", n, err)
			}
			me := c.LocalAddr().String()
			want := tt.reason + tt.logged
			var found bool
			for _, rc := range rec.find("tcp: refused connection") {
				if rc.attrs["remote"] == me && rc.level == slog.LevelWarn {
					found = true
					if !strings.Contains(rc.attrs["reason"], want) {
						t.Errorf("logged reason %q; want it to mention %q", rc.attrs["reason"], want)
					}
				}
			}
			if !found {
				t.Fatalf("no error logged naming %s; records: %+v", me, rec.find("tcp: refused connection"))
			}
		})
	}

	// A stranger that knows the job id (not a secret) and holds a
	// handshake open for rank 0's socket without ever proving it holds the
	// token must not keep rank 0 out.
	squatter, err := net.Dial("tcp", l1.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer squatter.Close()
	squat := goodHello("job", 0, 2)
	var squatReply reply
	if err := writeMsg(squatter, &squat); err != nil {
		t.Fatal(err)
	}
	if err := readMsg(squatter, &squatReply); err != nil || !squatReply.OK {
		t.Fatalf("squatter's reply = %+v, %v; want OK (it has not been asked to prove anything yet)", squatReply, err)
	}

	ep0, err := l0.Connect(ctx, addrs)
	if err != nil {
		t.Fatalf("Connect(rank 0) = %v", err)
	}
	defer ep0.Close()
	r1 := <-res1
	if r1.err != nil {
		t.Fatalf("Connect(rank 1) = %v", r1.err)
	}
	defer r1.ep.Close()
	exchange(t, ep0, r1.ep)
}

// exchange checks that a frame goes from a to b.
func exchange(t *testing.T, a, b transport.Endpoint) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	h := transport.Header{Kind: transport.KindP2P, Tag: 77}
	r := &transport.Recv{Key: transport.Key{Kind: transport.KindP2P, Src: int32(a.Rank()), Tag: 77}, Buf: make([]byte, 5)}
	if err := b.Mux().Post(r); err != nil {
		t.Fatal(err)
	}
	if err := a.Send(ctx, b.Rank(), &h, []byte("hello")); err != nil {
		t.Fatalf("Send() = %v", err)
	}
	if err := b.Mux().Wait(ctx, r); err != nil || string(r.Buf) != "hello" {
		t.Fatalf("Wait() = %v, %q; want nil, \"hello\"", err, r.Buf)
	}
}

func TestConnectNamesMissingRanks(t *testing.T) {
	ls := make([]*Listener, 3)
	addrs := make([]string, 3)
	for r := range ls {
		l, err := Listen(Config{Rank: r, Size: 3, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		ls[r], addrs[r] = l, l.Addr()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for r := range 2 { // rank 2 never calls Connect
		wg.Add(1)
		go func() {
			defer wg.Done()
			ep, err := ls[r].Connect(ctx, addrs)
			if ep != nil {
				_ = ep.Close()
			}
			errs[r] = err
		}()
	}
	wg.Wait()
	for r, err := range errs {
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "ranks [2]") {
			t.Errorf("Connect(rank %d) = %v; want DeadlineExceeded naming ranks [2]", r, err)
		}
	}
}

func TestConnectJobMismatch(t *testing.T) {
	rec := &recorder{}
	l0, err := Listen(Config{Rank: 0, Size: 2, JobID: "a", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	l1, err := Listen(Config{Rank: 1, Size: 2, JobID: "b", Logger: slog.New(rec)})
	if err != nil {
		t.Fatal(err)
	}
	addrs := []string{l0.Addr(), l1.Addr()}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ctx1, cancel1 := context.WithCancel(ctx)
	done1 := make(chan error, 1)
	go func() {
		ep, err := l1.Connect(ctx1, addrs)
		if ep != nil {
			_ = ep.Close()
		}
		done1 <- err
	}()
	_, err = l0.Connect(ctx, addrs)
	if !errors.Is(err, errRefused) || !strings.Contains(err.Error(), "job id") || !strings.Contains(err.Error(), "ranks [1]") {
		t.Fatalf("Connect(rank 0, other job) = %v; want a refusal about the job id naming ranks [1]", err)
	}
	if len(rec.find("tcp: refused connection")) == 0 {
		t.Fatal("rank 1 logged no refusal")
	}
	cancel1()
	if err := <-done1; err == nil {
		t.Fatal("Connect(rank 1) = nil; want an error")
	}
}

// TestConnectTokenMismatch: ranks whose tokens differ (or one of which has
// none) never link; the dialing rank fails at once with ErrAuthFailed,
// without retrying until its context ends, and the accepting rank logs the
// refusal and keeps waiting.
func TestConnectTokenMismatch(t *testing.T) {
	tests := []struct {
		name   string
		t0, t1 string
	}{
		{"different tokens", "a", "b"},
		{"dialer without token", "", "b"},
		{"acceptor without token", "a", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			l0, err := Listen(Config{Rank: 0, Size: 2, JobID: "j", Token: tt.t0, Logger: quiet})
			if err != nil {
				t.Fatal(err)
			}
			l1, err := Listen(Config{Rank: 1, Size: 2, JobID: "j", Token: tt.t1, Logger: slog.New(rec)})
			if err != nil {
				t.Fatal(err)
			}
			addrs := []string{l0.Addr(), l1.Addr()}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			ctx1, cancel1 := context.WithCancel(ctx)
			done1 := make(chan error, 1)
			go func() {
				ep, err := l1.Connect(ctx1, addrs)
				if ep != nil {
					_ = ep.Close()
				}
				done1 <- err
			}()
			_, err = l0.Connect(ctx, addrs)
			if !errors.Is(err, ErrAuthFailed) || errors.Is(err, context.DeadlineExceeded) ||
				!strings.Contains(err.Error(), "ranks [1]") || !strings.Contains(err.Error(), "KIZUNA_TOKEN") {
				t.Fatalf("Connect(rank 0, token %q; rank 1 token %q) = %v; want ErrAuthFailed naming ranks [1]", tt.t0, tt.t1, err)
			}
			// Rank 1 logs the refusal once it has read rank 0's confirm,
			// which may be after rank 0's Connect returned.
			logged := func() bool {
				for _, rc := range rec.find("tcp: refused connection") {
					if rc.level == slog.LevelWarn && strings.Contains(rc.attrs["reason"], "authentication failed") && rc.attrs["remote"] != "" {
						return true
					}
				}
				return false
			}
			for !logged() && ctx.Err() == nil {
				time.Sleep(time.Millisecond)
			}
			if !logged() {
				t.Fatalf("rank 1 logged %+v; want a warning about authentication naming the remote address", rec.find("tcp: refused connection"))
			}
			cancel1()
			if err := <-done1; err == nil {
				t.Fatal("Connect(rank 1) = nil; want an error")
			}
		})
	}
}

// TestProof: a proof depends on every field of the transcript, and on the
// token, so that no proof is valid for another connection, direction, job
// or pair of ranks.
func TestProof(t *testing.T) {
	nd, na := bytes.Repeat([]byte{1}, nonceSize), bytes.Repeat([]byte{2}, nonceSize)
	base := func() []byte { return proof("tok", roleDialer, "job", 0, 1, 2, 0, 1, nd, na) }
	if !bytes.Equal(base(), base()) || len(base()) != proofSize {
		t.Fatalf("proof() = %x, %x; want two equal %d-byte proofs", base(), base(), proofSize)
	}
	// The transcript's bytes are the wire format: these proofs were computed
	// before the proof moved to package auth, and must never change.
	if got, want := hex.EncodeToString(base()), "362e5acb50cd43f680e6c739637d39deacbe13543d10b1db9d8a1d1c831b0eef"; got != want {
		t.Errorf("proof(tok, dialer, job, 0, 1, 2, 0, 1, 01.., 02..) = %s; want %s", got, want)
	}
	if got, want := hex.EncodeToString(proof("tok", roleAcceptor, "job7", 3, 5, 8, 1, 2, nd, na)), "58464c81c93ced6162f044ee1a681c2c22f9a6df306f4ab5c1837f4b2a755b26"; got != want {
		t.Errorf("proof(tok, acceptor, job7, 3, 5, 8, 1, 2, 01.., 02..) = %s; want %s", got, want)
	}
	tests := []struct {
		name string
		p    []byte
	}{
		{"token", proof("tok2", roleDialer, "job", 0, 1, 2, 0, 1, nd, na)},
		{"no token", proof("", roleDialer, "job", 0, 1, 2, 0, 1, nd, na)},
		{"role", proof("tok", roleAcceptor, "job", 0, 1, 2, 0, 1, nd, na)},
		{"job", proof("tok", roleDialer, "job2", 0, 1, 2, 0, 1, nd, na)},
		{"dialer", proof("tok", roleDialer, "job", 2, 1, 2, 0, 1, nd, na)},
		{"acceptor", proof("tok", roleDialer, "job", 0, 2, 2, 0, 1, nd, na)},
		{"size", proof("tok", roleDialer, "job", 0, 1, 3, 0, 1, nd, na)},
		{"socket", proof("tok", roleDialer, "job", 0, 1, 2, 1, 1, nd, na)},
		{"sockets", proof("tok", roleDialer, "job", 0, 1, 2, 0, 2, nd, na)},
		{"dialer nonce", proof("tok", roleDialer, "job", 0, 1, 2, 0, 1, na, na)},
		{"acceptor nonce", proof("tok", roleDialer, "job", 0, 1, 2, 0, 1, nd, nd)},
		{"nonces swapped", proof("tok", roleDialer, "job", 0, 1, 2, 0, 1, na, nd)},
		{"field boundary", proof("tok", roleDialer+"job", "", 0, 1, 2, 0, 1, nd, na)},
	}
	for _, tt := range tests {
		if bytes.Equal(tt.p, base()) {
			t.Errorf("proof(other %s) = proof(base) = %x; want them to differ", tt.name, tt.p)
		}
	}
}

// hostileMsgs are short handshake messages announcing large lengths: the
// msgpack package would allocate (and, through its pooled decoders, keep) up
// to megabytes for each.
var hostileMsgs = map[string][]byte{
	"str32 of 4 GiB":        {0x81, 0xa3, 'j', 'o', 'b', 0xdb, 0xff, 0xff, 0xff, 0xff, 'x'},
	"bin32 of 4 GiB":        {0x81, 0xa5, 'n', 'o', 'n', 'c', 'e', 0xc6, 0xff, 0xff, 0xff, 0xff, 'x'},
	"ext32 of 4 GiB":        {0x81, 0xa5, 'n', 'o', 'n', 'c', 'e', 0xc9, 0xff, 0xff, 0xff, 0xff, 1, 'x'},
	"array32 of 4G":         {0x81, 0xa5, 'n', 'o', 'n', 'c', 'e', 0xdd, 0xff, 0xff, 0xff, 0xff, 1},
	"map32 of 4G":           {0xdf, 0xff, 0xff, 0xff, 0xff, 0xa1, 'a', 1},
	"unknown key, str16":    {0x81, 0xa1, 'z', 0xda, 0xff, 0xff, 'x'},
	"map16 beyond the data": {0xde, 0x01, 0x00, 0xa1, 'a', 1},
}

func TestCheckBounds(t *testing.T) {
	var b bytes.Buffer
	h := goodHello("job", 0, 2)
	for _, v := range []any{&h, &reply{OK: true, Nonce: auth.NewNonce(), Proof: make([]byte, proofSize)}, &confirm{OK: false, Reason: "why"},
		map[string]any{"f": 1.5, "i": -1 << 40, "u": uint64(1) << 63, "a": []any{nil, true, false, int8(-3)}, "s": strings.Repeat("s", 300)}} {
		b.Reset()
		if err := writeMsg(&b, v); err != nil {
			t.Fatal(err)
		}
		if err := checkBounds(b.Bytes()[4:]); err != nil {
			t.Errorf("checkBounds(encoding of %+v) = %v; want nil", v, err)
		}
	}
	bad := map[string][]byte{
		"empty":          {},
		"truncated":      {0x82, 0xa1, 'a', 1},
		"trailing bytes": {0x80, 0x00},
		"never used":     {0xc1},
		"cut length":     {0xdb, 0x00},
	}
	for name, msg := range hostileMsgs {
		bad[name] = msg
	}
	for name, msg := range bad {
		if err := checkBounds(msg); err == nil {
			t.Errorf("checkBounds(%s: % x) = nil; want an error", name, msg)
		}
	}
}

// TestHandshakeAllocationBounded: a short hostile handshake message is
// refused without allocating for the lengths it announces, and without
// growing memory from one message to the next.
func TestHandshakeAllocationBounded(t *testing.T) {
	for name, body := range hostileMsgs {
		t.Run(name, func(t *testing.T) {
			msg := binary.LittleEndian.AppendUint32(nil, uint32(len(body)))
			msg = append(msg, body...)
			const runs = 100
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			for range runs {
				var h hello
				if err := readMsg(bytes.NewReader(msg), &h); !errors.Is(err, errBadHandshake) {
					t.Fatalf("readMsg(% x) = %v; want errBadHandshake", msg, err)
				}
			}
			runtime.ReadMemStats(&after)
			if per := (after.TotalAlloc - before.TotalAlloc) / runs; per > 16<<10 {
				t.Fatalf("readMsg(% x) allocates %d bytes per call; want at most 16 KiB", msg, per)
			}
		})
	}
}

// FuzzHandshake feeds arbitrary bytes, as the dialer's side of the stream,
// to the acceptor's handshake: it must never panic, never accept (no input
// can hold a proof for the acceptor's fresh nonce), and never allocate
// beyond the message bound.
func FuzzHandshake(f *testing.F) {
	cfg := &resolved{Config: Config{Rank: 1, Size: 2, SocketsPerPeer: 1, JobID: "job", Token: "tok"}}
	msg := func(v any) []byte {
		var b bytes.Buffer
		if err := writeMsg(&b, v); err != nil {
			f.Fatal(err)
		}
		return b.Bytes()
	}
	h := goodHello("job", 0, 2)
	f.Add(msg(&h))
	f.Add(append(msg(&h), msg(&confirm{OK: true, Proof: make([]byte, proofSize)})...))
	f.Add(append(msg(&h), msg(&confirm{OK: false, Reason: reasonAuth})...))
	f.Add(msg(&confirm{OK: true}))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{3, 0, 0, 0, 0xc1, 0xc1, 0xc1})
	f.Add([]byte("GET / HTTP/1.1\r\n"))
	for _, body := range hostileMsgs {
		f.Add(append(binary.LittleEndian.AppendUint32(nil, uint32(len(body))), body...))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		rw := struct {
			io.Reader
			io.Writer
		}{bytes.NewReader(data), io.Discard}
		peer, sock, err := acceptHandshake(rw, cfg, func(p, s int) bool {
			if p < 0 || p >= cfg.Size || s < 0 || s >= cfg.SocketsPerPeer {
				t.Fatalf("linked(%d, %d) outside the job", p, s)
			}
			return false
		})
		if err == nil {
			t.Fatalf("acceptHandshake(% x) accepted rank %d socket %d", data, peer, sock)
		}
		// Each message decodes, on its own, into bounded fields.
		for _, v := range []any{&hello{}, &reply{}, &confirm{}} {
			if readMsg(bytes.NewReader(data), v) != nil {
				continue
			}
			var r reply
			var hl hello
			switch m := v.(type) {
			case *hello:
				hl = *m
				_ = checkHello(m, cfg)
			case *reply:
				r = *m
				_ = checkReply(m, 1, cfg)
			}
			if len(hl.Nonce)+len(hl.Job)+len(r.Nonce)+len(r.Proof)+len(r.Job)+len(r.Reason) > len(data) {
				t.Fatalf("decoded more bytes than the input holds")
			}
		}
	})
}

func TestBindAddr(t *testing.T) {
	_, errLo := net.InterfaceByName("lo")
	tests := []struct {
		name       string
		cfg        string
		env, ifn   string
		wantHost   string
		wantSource string
		wantErr    bool
		skip       bool
	}{
		{name: "default", wantHost: "127.0.0.1", wantSource: "default (loopback)"},
		{name: "config host", cfg: "127.0.0.1", wantHost: "127.0.0.1", wantSource: "config"},
		{name: "config host:port", cfg: "127.0.0.1:0", wantHost: "127.0.0.1", wantSource: "config"},
		{name: "config wins", cfg: "127.0.0.1", env: "192.0.2.1:1", ifn: "nonexistent0", wantHost: "127.0.0.1", wantSource: "config"},
		{name: "env", env: "127.0.0.1", wantHost: "127.0.0.1", wantSource: "env KIZUNA_BIND_ADDR"},
		{name: "env wins over ifname", env: "127.0.0.1:0", ifn: "nonexistent0", wantHost: "127.0.0.1", wantSource: "env KIZUNA_BIND_ADDR"},
		{name: "ifname", ifn: "lo", wantHost: "127.0.0.1", wantSource: "env KIZUNA_IFNAME (interface lo)", skip: errLo != nil},
		{name: "unknown ifname", ifn: "nonexistent0", wantErr: true},
		{name: "bad address", cfg: "not an address:x", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.skip {
				t.Skip("no loopback interface named lo")
			}
			t.Setenv(EnvBindAddr, tt.env)
			t.Setenv(EnvIfName, tt.ifn)
			rec := &recorder{}
			l, err := Listen(Config{Rank: 0, Size: 1, BindAddr: tt.cfg, Logger: slog.New(rec)})
			if tt.wantErr {
				if err == nil {
					l.Close()
					t.Fatalf("Listen(BindAddr %q, env %q, ifname %q) = nil error; want one", tt.cfg, tt.env, tt.ifn)
				}
				return
			}
			if err != nil {
				t.Fatalf("Listen() = %v", err)
			}
			defer l.Close()
			host, port, err := net.SplitHostPort(l.Addr())
			if err != nil || host != tt.wantHost || port == "0" {
				t.Fatalf("Addr() = %q; want %s with a real port", l.Addr(), tt.wantHost)
			}
			recs := rec.find("tcp: listening")
			if len(recs) != 1 || recs[0].level != slog.LevelInfo || recs[0].attrs["source"] != tt.wantSource || recs[0].attrs["addr"] != l.Addr() {
				t.Fatalf("log = %+v; want one info line with source %q and addr %s", recs, tt.wantSource, l.Addr())
			}
		})
	}
}

func TestWithPort(t *testing.T) {
	tests := []struct{ in, want string }{
		{"127.0.0.1", "127.0.0.1:0"},
		{"127.0.0.1:5", "127.0.0.1:5"},
		{"::1", "[::1]:0"},
		{"[::1]", "[::1]:0"},
		{"[::1]:7", "[::1]:7"},
		{"node3", "node3:0"},
	}
	for _, tt := range tests {
		if got := withPort(tt.in); got != tt.want {
			t.Errorf("withPort(%q) = %q; want %q", tt.in, got, tt.want)
		}
	}
}

func TestResolveConfig(t *testing.T) {
	tests := []struct {
		name        string
		cfg         Config
		envSockets  string
		envImpl     string
		wantSockets int
		wantImpl    string
		wantErr     bool
	}{
		{name: "defaults", cfg: Config{Size: 1}, wantSockets: DefaultSocketsPerPeer, wantImpl: DefaultImpl},
		{name: "env sockets", cfg: Config{Size: 1}, envSockets: "4", wantSockets: 4, wantImpl: DefaultImpl},
		{name: "config sockets win", cfg: Config{Size: 1, SocketsPerPeer: 2}, envSockets: "4", wantSockets: 2, wantImpl: DefaultImpl},
		{name: "bad env sockets", cfg: Config{Size: 1}, envSockets: "four", wantErr: true},
		{name: "too many sockets", cfg: Config{Size: 1, SocketsPerPeer: maxSocketsPerPeer + 1}, wantErr: true},
		{name: "env impl net", cfg: Config{Size: 1}, envImpl: "net", wantSockets: 1, wantImpl: ImplNet},
		{name: "config impl wins", cfg: Config{Size: 1, Impl: ImplNet}, envImpl: "bogus", wantSockets: 1, wantImpl: ImplNet},
		{name: "bad impl", cfg: Config{Size: 1, Impl: "bogus"}, wantErr: true},
		{name: "rank out of range", cfg: Config{Rank: 1, Size: 1}, wantErr: true},
		{name: "negative rank", cfg: Config{Rank: -1, Size: 2}, wantErr: true},
	}
	if netpollSupported {
		tests = append(tests, struct {
			name        string
			cfg         Config
			envSockets  string
			envImpl     string
			wantSockets int
			wantImpl    string
			wantErr     bool
		}{name: "env impl netpoll", cfg: Config{Size: 1}, envImpl: "netpoll", wantSockets: 1, wantImpl: ImplNetpoll})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(EnvSocketsPerPeer, tt.envSockets)
			t.Setenv(EnvImpl, tt.envImpl)
			t.Setenv(EnvBindAddr, "")
			t.Setenv(EnvIfName, "")
			got, err := resolve(tt.cfg)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("resolve(%+v) = nil error; want one", tt.cfg)
				}
				return
			}
			if err != nil {
				t.Fatalf("resolve(%+v) = %v", tt.cfg, err)
			}
			if got.SocketsPerPeer != tt.wantSockets || got.Impl != tt.wantImpl {
				t.Fatalf("resolve(%+v) = sockets %d, impl %q; want %d, %q", tt.cfg, got.SocketsPerPeer, got.Impl, tt.wantSockets, tt.wantImpl)
			}
		})
	}
}

// fakePeer connects to a rank-1 listener as rank 0 of a 2-rank job by hand,
// so that the test can write arbitrary bytes on an established link.
func fakePeer(t *testing.T, impl string) (net.Conn, transport.Endpoint) {
	t.Helper()
	l1, err := Listen(Config{Rank: 1, Size: 2, JobID: "j", Impl: impl, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	type result struct {
		ep  transport.Endpoint
		err error
	}
	res := make(chan result, 1)
	go func() {
		ep, err := l1.Connect(ctx, []string{"unused", l1.Addr()})
		res <- result{ep, err}
	}()
	c, err := net.Dial("tcp", l1.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := dialHandshake(c, stranger("j", ""), 1, 0, l1.Addr()); err != nil {
		t.Fatalf("handshake = %v", err)
	}
	got := <-res
	if got.err != nil {
		t.Fatalf("Connect(rank 1) = %v", got.err)
	}
	t.Cleanup(func() { got.ep.Close() })
	return c, got.ep
}

func frame(h transport.Header, payload []byte) []byte {
	b := make([]byte, transport.HeaderSize, transport.HeaderSize+len(payload))
	h.Len = uint32(len(payload))
	h.MarshalTo(b)
	return append(b, payload...)
}

// TestBrokenPeer: a peer that writes a corrupt header, spoofs its source
// rank or stops in the middle of a payload loses its link: receives from it
// fail with a *PeerError naming it, and sends to it fail.
func TestBrokenPeer(t *testing.T) {
	good := transport.Header{Kind: transport.KindP2P, Src: 0, Tag: 1}
	spoofed := good
	spoofed.Src = 1
	tests := []struct {
		name  string
		bytes []byte
		want  error
	}{
		{"garbage header", bytes.Repeat([]byte{0xff}, transport.HeaderSize), transport.ErrProtocol},
		{"spoofed source", frame(spoofed, []byte("x")), transport.ErrProtocol},
		{"truncated payload", frame(good, make([]byte, 100))[:transport.HeaderSize+10], io.ErrUnexpectedEOF},
	}
	for _, impl := range impls() {
		for _, tt := range tests {
			t.Run(impl+"/"+tt.name, func(t *testing.T) {
				c, ep := fakePeer(t, impl)
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				m := ep.Mux()
				// First a valid frame, received intact.
				ok := &transport.Recv{Key: transport.Key{Kind: transport.KindP2P, Src: 0, Tag: 9}, Buf: make([]byte, 3)}
				_ = m.Post(ok)
				valid := good
				valid.Tag = 9
				if _, err := c.Write(frame(valid, []byte("abc"))); err != nil {
					t.Fatal(err)
				}
				if err := m.Wait(ctx, ok); err != nil || string(ok.Buf) != "abc" {
					t.Fatalf("Wait(valid frame) = %v, %q", err, ok.Buf)
				}
				r := &transport.Recv{Key: transport.Key{Kind: transport.KindP2P, Src: 0, Tag: 1}, Buf: make([]byte, 100)}
				_ = m.Post(r)
				if _, err := c.Write(tt.bytes); err != nil {
					t.Fatal(err)
				}
				if tt.want == io.ErrUnexpectedEOF {
					c.Close()
				}
				var pe *transport.PeerError
				err := m.Wait(ctx, r)
				if !errors.As(err, &pe) || pe.Peer != 0 || !errors.Is(err, tt.want) {
					t.Fatalf("Wait() = %v; want *PeerError naming rank 0 wrapping %v", err, tt.want)
				}
				h := transport.Header{Kind: transport.KindP2P}
				if err := ep.Send(ctx, 0, &h, nil); !errors.As(err, &pe) || pe.Peer != 0 {
					t.Fatalf("Send(to broken rank 0) = %v; want *PeerError naming rank 0", err)
				}
			})
		}
	}
}

// TestCloseDeliversSentFrames: frames sent just before Close all reach the
// peer, which can receive them after it has seen the link go down.
func TestCloseDeliversSentFrames(t *testing.T) {
	const n = 40
	for _, impl := range impls() {
		t.Run(impl, func(t *testing.T) {
			eps := connect(t, 2, impl, 2, "close")
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			for i := range n {
				h := transport.Header{Kind: transport.KindP2P, Seq: uint64(i)}
				if err := eps[0].Send(ctx, 1, &h, bytes.Repeat([]byte{byte(i)}, 64<<10)); err != nil {
					t.Fatal(err)
				}
			}
			if err := eps[0].Close(); err != nil {
				t.Fatal(err)
			}
			m := eps[1].Mux()
			never := &transport.Recv{Key: transport.Key{Kind: transport.KindP2P, Src: 0, Seq: n}}
			_ = m.Post(never)
			var pe *transport.PeerError
			if err := m.Wait(ctx, never); !errors.As(err, &pe) || pe.Peer != 0 {
				t.Fatalf("Wait(never sent) = %v; want *PeerError naming rank 0", err)
			}
			for i := range n {
				r := &transport.Recv{Key: transport.Key{Kind: transport.KindP2P, Src: 0, Seq: uint64(i)}, Buf: make([]byte, 64<<10)}
				_ = m.Post(r)
				if err := m.Wait(ctx, r); err != nil || !bytes.Equal(r.Buf, bytes.Repeat([]byte{byte(i)}, 64<<10)) {
					t.Fatalf("frame %d: Wait() = %v (payload intact: %v)", i, err, err == nil)
				}
			}
		})
	}
}

func TestListenerMisuse(t *testing.T) {
	l, err := Listen(Config{Rank: 0, Size: 2, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := l.Connect(ctx, []string{l.Addr()}); err == nil {
		t.Fatal("Connect(1 address for 2 ranks) = nil error")
	}
	if _, err := l.Connect(ctx, []string{l.Addr(), l.Addr()}); err == nil {
		t.Fatal("second Connect() = nil error")
	}
	if err := l.Close(); err != nil {
		t.Fatalf("Close() after Connect = %v", err)
	}
	// A single-rank job connects at once.
	l1, err := Listen(Config{Rank: 0, Size: 1, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	ep, err := l1.Connect(ctx, []string{l1.Addr()})
	if err != nil {
		t.Fatalf("Connect(size 1) = %v", err)
	}
	if got := fmt.Sprintf("%s %d %d", ep.Name(), ep.Rank(), ep.Size()); got != "tcp 0 1" {
		t.Fatalf("endpoint = %s; want tcp 0 1", got)
	}
	_ = ep.Close()
}
