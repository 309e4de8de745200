package tcp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

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
	return hello{Magic: handshakeMagic, Version: handshakeVersion, Job: job, Rank: rank, Size: size, Socket: 0, Sockets: 1}
}

// TestStrangersRefused: connections that are not a rank of this job are
// refused with a logged error naming their address, and the mesh still
// forms.
func TestStrangersRefused(t *testing.T) {
	rec := &recorder{}
	l0, err := Listen(Config{Rank: 0, Size: 2, JobID: "job", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	l1, err := Listen(Config{Rank: 1, Size: 2, JobID: "job", Logger: slog.New(rec)})
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
	tests := []struct {
		name   string
		send   func(c net.Conn) error
		reason string // in the reply; "" when the stranger gets no reply
	}{
		{"garbage", func(c net.Conn) error { _, err := c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")); return err }, ""},
		{"bad msgpack", func(c net.Conn) error { _, err := c.Write([]byte{3, 0, 0, 0, 0xc1, 0xc1, 0xc1}); return err }, ""},
		{"wrong job", func(c net.Conn) error { return writeMsg(c, &wrongJob) }, "job id"},
		{"rank out of range", func(c net.Conn) error { return writeMsg(c, &outOfRange) }, "out of range"},
		{"wrong size", func(c net.Conn) error { return writeMsg(c, &wrongSize) }, "job size"},
		{"higher rank dials", func(c net.Conn) error { return writeMsg(c, &wrongDir) }, "must not dial"},
		{"socket index", func(c net.Conn) error { return writeMsg(c, &badSocket) }, "socket index"},
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
			var found bool
			for _, rc := range rec.find("tcp: refused connection") {
				if rc.attrs["remote"] == me && rc.level == slog.LevelError {
					found = true
					if tt.reason != "" && !strings.Contains(rc.attrs["reason"], tt.reason) {
						t.Errorf("logged reason %q; want it to mention %q", rc.attrs["reason"], tt.reason)
					}
				}
			}
			if !found {
				t.Fatalf("no error logged naming %s; records: %+v", me, rec.find("tcp: refused connection"))
			}
		})
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
	h := goodHello("j", 0, 2)
	var r reply
	if err := writeMsg(c, &h); err != nil {
		t.Fatal(err)
	}
	if err := readMsg(c, &r); err != nil || !r.OK {
		t.Fatalf("handshake reply = %+v, %v", r, err)
	}
	if err := writeMsg(c, &confirm{OK: true}); err != nil {
		t.Fatal(err)
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
