package shm

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kizuna-hpc/kizuna/transport"
	"github.com/kizuna-hpc/kizuna/transport/transporttest"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// connect links size in-process ranks with each other over shared memory,
// each with its own Mux, as separate processes would be. cfgFn may adjust
// each rank's config.
func connect(tb testing.TB, size int, ring int, cfgFn func(*Config)) []*Endpoint {
	tb.Helper()
	ids := make([]string, size)
	for i := range ids {
		ids[i] = rand.Text()
	}
	job := "test-" + rand.Text()[:8]
	preps := make([]*Prepared, size)
	for r := range size {
		var peers []int
		for p := range size {
			if p != r {
				peers = append(peers, p)
			}
		}
		cfg := Config{Rank: r, Size: size, Peers: peers, IDs: ids, JobID: job, Token: "tok", RingBytes: ring, Logger: quiet}
		if cfgFn != nil {
			cfgFn(&cfg)
		}
		p, err := Prepare(cfg)
		if err != nil {
			for _, q := range preps[:r] {
				q.Close()
			}
			tb.Fatalf("Prepare(rank %d) = %v", r, err)
		}
		preps[r] = p
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	eps := make([]*Endpoint, size)
	errs := make([]error, size)
	var wg sync.WaitGroup
	for r := range size {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m := transport.NewMux(r, size)
			m.SetFIFO(true)
			eps[r], errs[r] = preps[r].Connect(ctx, m)
		}()
	}
	wg.Wait()
	for r, err := range errs {
		if err != nil {
			for _, ep := range eps {
				if ep != nil {
					ep.Close()
				}
			}
			tb.Fatalf("Connect(rank %d) = %v", r, err)
		}
	}
	tb.Cleanup(func() {
		for _, ep := range eps {
			ep.Close()
		}
	})
	return eps
}

func endpoints(eps []*Endpoint) []transport.Endpoint {
	out := make([]transport.Endpoint, len(eps))
	for i, ep := range eps {
		out[i] = ep
	}
	return out
}

func TestConformance(t *testing.T) {
	// A small ring makes most frames of the suite wrap and stream through
	// it in pieces; the default ring is the one used in production.
	// Receivers reading inline (poll.go) and only the reader goroutines
	// must pass alike.
	// Non-temporal copies into the ring too (copy.go; auto chooses them
	// on a slow machine, so a fast one must test them by name), in the
	// default ring: the small one's pieces are under ntMinBytes.
	for _, ring := range []int{minRingBytes, DefaultRingBytes} {
		modes := []struct{ inline, copy string }{{"on", ""}, {"off", ""}}
		if ring >= 4*ntMinBytes {
			modes = append(modes, struct{ inline, copy string }{"on", CopyNT})
		}
		for _, mode := range modes {
			t.Run(fmt.Sprintf("ring=%d/inline=%s/copy=%s", ring, mode.inline, mode.copy), func(t *testing.T) {
				transporttest.Run(t, func(t *testing.T, size int) []transport.Endpoint {
					return endpoints(connect(t, size, ring, func(c *Config) { c.Inline, c.Copy = mode.inline, mode.copy }))
				})
			})
		}
	}
	if left := leftovers(t, ""); len(left) > 0 {
		t.Fatalf("segment files left in %s: %v", DefaultDir, left)
	}
}

// leftovers lists the segment files of job (any job when "") in DefaultDir.
func leftovers(t *testing.T, job string) []string {
	t.Helper()
	pattern := filepath.Join(DefaultDir, "kizuna-test-*")
	if job != "" {
		pattern = filepath.Join(DefaultDir, "kizuna-"+safeJob(job)+"-*")
	}
	m, err := filepath.Glob(pattern)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestNoFilesAfterConnect(t *testing.T) {
	dir := t.TempDir()
	eps := connect(t, 3, minRingBytes, func(c *Config) { c.Dir = dir })
	if names := dirNames(t, dir); len(names) != 0 {
		t.Fatalf("files in %s after Connect: %v; want none", dir, names)
	}
	for _, ep := range eps {
		ep.Close()
	}
	if names := dirNames(t, dir); len(names) != 0 {
		t.Fatalf("files in %s after Close: %v; want none", dir, names)
	}
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// TestConnectFailures: a peer that never connects, or holds another token,
// fails Connect with an error naming it, and no file is left behind.
func TestConnectFailures(t *testing.T) {
	tests := []struct {
		name  string
		token string // rank 1's token
		join  bool   // rank 1 connects
		want  string
	}{
		{"peer absent", "tok", false, "no link with ranks [1] (not started"},
		{"wrong token", "other", true, "another job id, token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			ids := []string{"a", "b"}
			cfg := func(r int, tok string) Config {
				return Config{Rank: r, Size: 2, Peers: []int{1 - r}, IDs: ids, JobID: "j", Token: tok, Dir: dir, RingBytes: minRingBytes, Logger: quiet}
			}
			p0, err := Prepare(cfg(0, "tok"))
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			var wg sync.WaitGroup
			var err1 error
			if tt.join {
				p1, err := Prepare(cfg(1, tt.token))
				if err != nil {
					t.Fatal(err)
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					var ep *Endpoint
					ep, err1 = p1.Connect(ctx, transport.NewMux(1, 2))
					if ep != nil {
						ep.Close()
					}
				}()
			}
			ep, err := p0.Connect(ctx, transport.NewMux(0, 2))
			wg.Wait()
			if ep != nil {
				ep.Close()
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Connect(rank 0) = %v; want error containing %q", err, tt.want)
			}
			if tt.join && err1 == nil {
				t.Fatalf("Connect(rank 1) = nil; want error")
			}
			if names := dirNames(t, dir); len(names) != 0 {
				t.Fatalf("files in %s after failed Connect: %v; want none", dir, names)
			}
		})
	}
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"rank out of range", Config{Rank: 2, Size: 2, IDs: []string{"a", "b"}}, "out of range"},
		{"ids", Config{Rank: 0, Size: 2, IDs: []string{"a"}}, "1 ids for 2 ranks"},
		{"self peer", Config{Rank: 0, Size: 2, Peers: []int{0}, IDs: []string{"a", "b"}}, "invalid or repeated peer 0"},
		{"ring not power of two", Config{Rank: 0, Size: 2, IDs: []string{"a", "b"}, RingBytes: 5000}, "power of two"},
		{"inline mode", Config{Rank: 0, Size: 2, IDs: []string{"a", "b"}, Inline: "yes"}, `inline reads "yes"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Prepare(tt.cfg)
			if err == nil {
				p.Close()
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Prepare(%+v) = %v; want error containing %q", tt.cfg, err, tt.want)
			}
		})
	}
}

var benchSizes = []int{8, 64 << 10, 4 << 20}

// BenchmarkPingPong: rank 0 sends size bytes to rank 1, which sends them
// back; one op is one round trip. Both ranks are goroutines of this
// process, each with its own Mux, exactly as two processes would use it.
func BenchmarkPingPong(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			transporttest.BenchPingPong(b, endpoints(connect(b, 2, 0, nil)), n)
		})
	}
}

// BenchmarkStream: rank 0 sends size-byte frames to rank 1 as fast as it
// can, with up to 8 receives posted ahead.
func BenchmarkStream(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			transporttest.BenchStream(b, endpoints(connect(b, 2, 0, nil)), n)
		})
	}
}
