package rendezvous

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// testTimeout turns a hang into a failure; no test relies on it to pass.
const testTimeout = 30 * time.Second

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// logBuffer collects a server's log lines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// lines returns the lines that contain every one of subs.
func (l *logBuffer) lines(subs ...string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for line := range strings.Lines(l.b.String()) {
		match := true
		for _, s := range subs {
			match = match && strings.Contains(line, s)
		}
		if match {
			out = append(out, line)
		}
	}
	return out
}

// startServer starts a server on a free port, closed when the test ends.
func startServer(t *testing.T) (*Server, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	h := slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})
	s, err := Listen("127.0.0.1:0", WithLogger(slog.New(h)))
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

// dial connects a client in namespace ns, closed when the test ends.
func dial(t *testing.T, s *Server, ns string) *Client {
	t.Helper()
	c, err := Dial(testContext(t), s.Addr(), ns)
	if err != nil {
		t.Fatalf("Dial(%s, %q) = %v", s.Addr(), ns, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// eventually polls cond until it holds; the test context bounds it.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	ctx := testContext(t)
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("gave up waiting until %s", what)
		case <-time.After(time.Millisecond):
		}
	}
}

// waitersReach polls until the server holds n pending waits.
func waitersReach(t *testing.T, s *Server, n int) {
	t.Helper()
	eventually(t, "the server holds the waits", func() bool { return s.store.numWaiters() == n })
}

// goWait runs c.Wait(ctx, keys...) in a goroutine and returns its outcome's
// channel.
func goWait(ctx context.Context, c *Client, keys ...string) <-chan error {
	ch := make(chan error, 1) // the goroutine never blocks on send
	go func() { ch <- c.Wait(ctx, keys...) }()
	return ch
}

func discardLogger() *slog.Logger {
	return slog.New(slog.DiscardHandler)
}
