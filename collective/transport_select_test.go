package collective

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kizuna-hpc/kizuna/internal/cpus"
)

// TestTransportChoice: each rank links over shared memory with the ranks
// that publish its host id and over TCP with the others, behind one
// endpoint; Transport() says what was chosen, and every collective still
// gives the oracle's answer.
func TestTransportChoice(t *testing.T) {
	tests := []struct {
		name      string
		transport string
		hosts     func(rank int) string // shared-memory host id per rank; nil = the real one
		want      string
	}{
		{"auto one host", TransportAuto, nil, "shm"},
		{"auto two hosts", TransportAuto, func(r int) string { return fmt.Sprintf("host%d", r/2) }, "shm+tcp"},
		{"auto no shared memory", TransportAuto, func(int) string { return "" }, "tcp"},
		{"tcp forced", TransportTCP, nil, "tcp"},
		{"shm", TransportShm, nil, "shm"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.hosts != nil {
				old := shmHostID
				shmHostID = func(cfg *Config) string { return tt.hosts(cfg.Rank) }
				t.Cleanup(func() { shmHostID = old })
			}
			comms := newLocalMedium(t, 4, tt.transport)
			err := runComms(comms, func(ctx context.Context, c *Comm) error {
				if got := c.Transport(); got != tt.want {
					return fmt.Errorf("Transport() = %q; want %q", got, tt.want)
				}
				return checkAllReduce(ctx, c, []int{1, 1000, 100000})
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestTransportShmNeedsOneHost: TransportShm with a rank on another host is
// refused, naming the rank.
func TestTransportShmNeedsOneHost(t *testing.T) {
	old := shmHostID
	shmHostID = func(cfg *Config) string { return fmt.Sprintf("host%d", cfg.Rank/2) }
	t.Cleanup(func() { shmHostID = old })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := NewLocal(ctx, 3, WithTransport(TransportShm), WithConfig(func(cfg *Config) { cfg.Timeout = 5 * time.Second }))
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("NewLocal(shm, ranks on two hosts) = %v; want ErrInvalid", err)
	}
}

// TestTransportUnknown: an unknown transport name is refused.
func TestTransportUnknown(t *testing.T) {
	cfg := Config{Size: 1, Transport: "carrier-pigeon"}
	if err := validateConfig(&cfg); !errors.Is(err, ErrInvalid) {
		t.Fatalf("validateConfig(transport carrier-pigeon) = %v; want ErrInvalid", err)
	}
	cfg = Config{Size: 1}
	if err := validateConfig(&cfg); err != nil || cfg.Transport != TransportAuto {
		t.Fatalf("validateConfig(no transport) = %v, Transport %q; want nil, %q", err, cfg.Transport, TransportAuto)
	}
}

// TestShmNoFilesLeft: once the ranks are connected, and after they close,
// no segment file of the job is left in /dev/shm.
func TestShmNoFilesLeft(t *testing.T) {
	job := fmt.Sprintf("leftover-%d", os.Getpid())
	comms := newLocalMedium(t, 3, TransportShm, func(cfg *Config) { cfg.JobID = job })
	pattern := filepath.Join("/dev/shm", "kizuna-"+job+"-*")
	if m, _ := filepath.Glob(pattern); len(m) != 0 {
		t.Fatalf("segment files after start: %v; want none", m)
	}
	for i := len(comms) - 1; i >= 0; i-- {
		comms[i].Close()
	}
	if m, _ := filepath.Glob(pattern); len(m) != 0 {
		t.Fatalf("segment files after Close: %v; want none", m)
	}
}

// newLocalMedium starts n in-process ranks that connect as processes do
// (rendezvous, then a transport per peer) with transport; they are closed
// when t ends.
func newLocalMedium(t *testing.T, n int, transport string, opts ...func(*Config)) []*Comm {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	comms, err := NewLocal(ctx, n, WithTransport(transport), WithConfig(func(cfg *Config) {
		cfg.ChunkBytes = 16 << 10
		for _, o := range opts {
			o(cfg)
		}
	}))
	if err != nil {
		t.Fatalf("NewLocal(%d, %s) = %v", n, transport, err)
	}
	t.Cleanup(func() {
		for i := len(comms) - 1; i >= 0; i-- {
			comms[i].Close()
		}
	})
	return comms
}

// runComms runs fn on every communicator concurrently and joins the errors;
// a failing rank aborts the others.
func runComms(comms []*Comm, fn func(ctx context.Context, c *Comm) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	errs := make([]error, len(comms))
	done := make(chan int)
	for r, c := range comms {
		go func() {
			if err := fn(ctx, c); err != nil {
				errs[r] = fmt.Errorf("rank %d: %w", r, err)
				c.Abort()
			}
			done <- r
		}()
	}
	for range comms {
		<-done
	}
	return errors.Join(errs...)
}

// checkAllReduce runs a float64 sum AllReduce and an AllGather of each count
// and checks every element against the naive answer (small integers, so
// every summation order gives the same sum).
func checkAllReduce(ctx context.Context, c *Comm, counts []int) error {
	n := c.Size()
	for _, count := range counts {
		send := make([]float64, count)
		for i := range send {
			send[i] = float64((i*7 + c.Rank()*13) % 101)
		}
		recv := make([]float64, count)
		if err := AllReduce(ctx, c, send, recv, Sum); err != nil {
			return fmt.Errorf("AllReduce(count %d): %w", count, err)
		}
		for i, got := range recv {
			want := 0.0
			for r := range n {
				want += float64((i*7 + r*13) % 101)
			}
			if got != want {
				return fmt.Errorf("AllReduce(count %d)[%d] = %v; want %v", count, i, got, want)
			}
		}
		all := make([]float64, count*n)
		if err := AllGather(ctx, c, send, all); err != nil {
			return fmt.Errorf("AllGather(count %d): %w", count, err)
		}
		for i, got := range all {
			r, j := i/count, i%count
			if want := float64((j*7 + r*13) % 101); got != want {
				return fmt.Errorf("AllGather(count %d)[%d] = %v; want %v", count, i, got, want)
			}
		}
	}
	return nil
}

// BenchmarkAllReduceShm: 256 KiB float32 all-reduces between two goroutine
// ranks linked over shared memory as processes are (one ring per
// direction, each rank with its own Mux).
func BenchmarkAllReduceShm(b *testing.B) {
	ctx := context.Background()
	comms, err := NewLocal(ctx, 2, WithTransport(TransportShm))
	if err != nil {
		b.Fatal(err)
	}
	defer func() { comms[1].Close(); comms[0].Close() }()
	n := b.N
	b.SetBytes(256 << 10)
	b.ReportAllocs()
	b.ResetTimer()
	errs := make(chan error, len(comms))
	for _, c := range comms {
		go func() {
			send, recv := make([]float32, 64<<10), make([]float32, 64<<10)
			for range n {
				if err := AllReduce(ctx, c, send, recv, Sum); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range comms {
		if err := <-errs; err != nil {
			b.Fatal(err)
		}
	}
}

// TestHostCPUsMalformed: a KIZUNA_HOST_CPUS that is not a positive count is
// refused with ErrInvalid naming it, before anything connects; a valid one
// decides whether the host is oversubscribed.
func TestHostCPUsMalformed(t *testing.T) {
	for _, v := range []string{"0", "-1", "two", "1.5"} {
		t.Setenv(cpus.EnvHost, v)
		cfg := Config{Size: 1}
		err := validateConfig(&cfg)
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), cpus.EnvHost) {
			t.Errorf("validateConfig with %s=%q = %v; want ErrInvalid naming %s", cpus.EnvHost, v, err, cpus.EnvHost)
		}
	}
	// The host's count, not this process's processors, decides.
	for _, tt := range []struct {
		host string
		want bool
	}{
		{"2", true},
		{strconv.Itoa(runtime.NumCPU() + 3), false},
	} {
		t.Setenv(cpus.EnvHost, tt.host)
		c, err := NewLocal(context.Background(), 1, WithConfig(func(cfg *Config) { cfg.LocalSize = 3 }))
		if err != nil {
			t.Fatal(err)
		}
		if c[0].oversub != tt.want {
			t.Errorf("3 local ranks with %s=%s: oversubscribed = %v; want %v", cpus.EnvHost, tt.host, c[0].oversub, tt.want)
		}
		c[0].Close()
	}
}
