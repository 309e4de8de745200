package test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kizuna-hpc/kizuna/collective"
	"github.com/kizuna-hpc/kizuna/rendezvous"
)

// openWarning is in the line New logs for a job without a token.
const openWarning = "no KIZUNA_TOKEN"

// unusedAddr returns a loopback address with a port nobody listens on.
func unusedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// newRanks calls collective.New for every rank concurrently, rank r with
// tokens[r]; every rank logs into logs. With store nil rank 0 serves the
// store, else the ranks use store. It returns each rank's communicator
// (closed when the test ends) and error.
func newRanks(t *testing.T, tokens []string, timeout time.Duration, store *rendezvous.Server, logs *syncWriter) ([]*collective.Comm, []error) {
	t.Helper()
	n := len(tokens)
	master := unusedAddr(t)
	if store != nil {
		master = store.Addr()
	}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	comms := make([]*collective.Comm, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for r := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			comms[r], errs[r] = collective.New(context.Background(), collective.Config{
				Rank: r, Size: n, MasterAddr: master, ExternalStore: store != nil, JobID: t.Name(), Token: tokens[r],
				BindAddr: "127.0.0.1", Timeout: timeout, Logger: log,
			})
		}()
	}
	wg.Wait()
	t.Cleanup(func() {
		for r := n - 1; r >= 0; r-- { // rank 0, which serves the store, last
			if comms[r] != nil {
				comms[r].Close()
			}
		}
	})
	return comms, errs
}

// allReduce checks that a sum over every rank is right on every rank.
func allReduce(t *testing.T, comms []*collective.Comm) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n := len(comms)
	got := make([][]float32, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for r, c := range comms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[r] = []float32{float32(r + 1), 10}
			errs[r] = collective.AllReduce(ctx, c, got[r], got[r], collective.Sum)
		}()
	}
	wg.Wait()
	want := []float32{float32(n * (n + 1) / 2), float32(10 * n)}
	for r := range n {
		if errs[r] != nil || fmt.Sprint(got[r]) != fmt.Sprint(want) {
			t.Errorf("rank %d: AllReduce() = %v, %v; want %v", r, got[r], errs[r], want)
		}
	}
}

// TestAuthSharedToken: ranks that share a token (or all have none) form the
// job; only a job without a token is warned about, in one line, and the
// token never appears in the logs.
func TestAuthSharedToken(t *testing.T) {
	tests := []struct {
		name     string
		token    string
		warnings int
	}{
		{"token", "s3cret-token-value", 0},
		{"no token", "", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logs := &syncWriter{w: new(bytes.Buffer)}
			comms, errs := newRanks(t, []string{tt.token, tt.token, tt.token}, 30*time.Second, nil, logs)
			for r, err := range errs {
				if err != nil {
					t.Fatalf("New(rank %d, token %q) = %v", r, tt.token, err)
				}
			}
			allReduce(t, comms)
			out := logs.String()
			if got := strings.Count(out, openWarning); got != tt.warnings {
				t.Errorf("%d lines warn of an open job; want %d. Logs:\n%s", got, tt.warnings, out)
			}
			if tt.warnings > 0 && !strings.Contains(out, "open to anyone who can reach its ports") {
				t.Errorf("the warning does not say the job is open to anyone who can reach its ports:\n%s", out)
			}
			if tt.token != "" && strings.Contains(out, tt.token) {
				t.Errorf("the token appears in the logs:\n%s", out)
			}
		})
	}
}

// TestAuthTokenMismatch: a rank whose token differs from the others' is
// refused by the rendezvous store, which logs a warning naming its address:
// its New fails at once with an authentication error, and the others' fail
// at their timeout naming it as missing. The store goes on serving the
// legitimate ranks meanwhile.
func TestAuthTokenMismatch(t *testing.T) {
	const timeout = 2 * time.Second
	// A store of the test's own, so that no rank's failure closes it under
	// the others.
	storeLogs := &syncWriter{w: new(bytes.Buffer)}
	store, err := rendezvous.Listen("127.0.0.1:0", rendezvous.WithToken("token-a"),
		rendezvous.WithLogger(slog.New(slog.NewTextHandler(storeLogs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	logs := &syncWriter{w: new(bytes.Buffer)}
	start := time.Now()
	_, errs := newRanks(t, []string{"token-a", "token-a", "token-b"}, timeout, store, logs)
	if err := errs[2]; !errors.Is(err, rendezvous.ErrAuthFailed) || errors.Is(err, context.DeadlineExceeded) ||
		!strings.Contains(err.Error(), "authentication failed") || !strings.Contains(err.Error(), "KIZUNA_TOKEN") {
		t.Errorf("New(rank 2, other token) = %v; want an authentication failure before the timeout", err)
	}
	for r := range 2 {
		err := errs[r]
		var jte *rendezvous.JoinTimeoutError
		if !errors.As(err, &jte) || fmt.Sprint(jte.Missing) != "[2]" || !errors.Is(err, context.DeadlineExceeded) ||
			!strings.Contains(err.Error(), "rank 2") {
			t.Errorf("New(rank %d) = %v; want a timeout naming rank 2 as missing", r, err)
		}
	}
	if d := time.Since(start); d > 10*timeout {
		t.Errorf("New took %v with a %v timeout; want it to give up at the timeout", d, timeout)
	}
	// Rank 2 hangs up after sending its (empty) proof; the store may log
	// a moment after rank 2's New returned, but before the others' timeout.
	refused := 0
	for line := range strings.Lines(storeLogs.String()) {
		if strings.Contains(line, "level=WARN") && strings.Contains(line, "authentication failed") && strings.Contains(line, "remote=127.0.0.1:") {
			refused++
		}
	}
	if refused != 1 {
		t.Errorf("the store logged %d warnings about a refused connection; want 1 (rank 2). Logs:\n%s", refused, storeLogs)
	}
	if strings.Contains(logs.String()+storeLogs.String(), "token-") {
		t.Errorf("a token appears in the logs:\n%s%s", logs, storeLogs)
	}
}

// TestAuthNewLocalTCP: NewLocal over TCP authenticates its ranks with a
// token of its own, so it warns of nothing, and the ranks work.
func TestAuthNewLocalTCP(t *testing.T) {
	logs := &syncWriter{w: new(bytes.Buffer)}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	comms, err := collective.NewLocal(context.Background(), 3, collective.WithTransport(collective.TransportTCP),
		collective.WithConfig(func(c *collective.Config) { c.Logger = log }))
	if err != nil {
		t.Fatalf("NewLocal(3, tcp) = %v", err)
	}
	defer func() {
		for r := len(comms) - 1; r >= 0; r-- {
			comms[r].Close()
		}
	}()
	allReduce(t, comms)
	if out := logs.String(); strings.Contains(out, openWarning) {
		t.Errorf("NewLocal(tcp) warned of an open job:\n%s", out)
	}
}

// TestAuthTokenFromEnv: ConfigFromEnv takes the token from KIZUNA_TOKEN.
func TestAuthTokenFromEnv(t *testing.T) {
	tests := []struct {
		name, env string
	}{
		{"set", "from-the-env"},
		{"unset", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(collective.EnvRank, "0")
			t.Setenv(collective.EnvWorldSize, "1")
			t.Setenv(collective.EnvToken, tt.env)
			cfg, err := collective.ConfigFromEnv()
			if err != nil || cfg.Token != tt.env {
				t.Fatalf("ConfigFromEnv() = token %q, %v; want %q", cfg.Token, err, tt.env)
			}
		})
	}
}
