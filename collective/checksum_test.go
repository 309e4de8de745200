package collective

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kizuna-hpc/kizuna/transport"
	"github.com/kizuna-hpc/kizuna/transport/faulty"
	"github.com/kizuna-hpc/kizuna/transport/inproc"
)

// NewLocalWrapped is NewLocal over inproc with every rank's endpoint
// passed through wrap and rank r's config adjusted by cfg(r, ...), for the
// fault tests (here and in soak_test.go).
func NewLocalWrapped(ctx context.Context, n int, cfg func(rank int, c *Config), wrap func(transport.Endpoint) (transport.Endpoint, error)) ([]*Comm, error) {
	f := inproc.NewFabric(n)
	comms := make([]*Comm, n)
	cfgs := make([]Config, n)
	fail := func(err error) ([]*Comm, error) {
		for _, c := range comms {
			if c != nil {
				c.Close()
			}
		}
		f.Close()
		return nil, err
	}
	for r := range n {
		c := Config{Rank: 0, Size: n, Transport: TransportInproc, Timeout: 30 * time.Second}
		if cfg != nil {
			cfg(r, &c)
		}
		if err := validateConfig(&c); err != nil {
			return fail(err)
		}
		cfgs[r] = c
		ep, err := wrap(f.Endpoint(r))
		if err != nil {
			return fail(err)
		}
		if comms[r], err = newComm(ep, c); err != nil {
			ep.Close()
			return fail(err)
		}
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for r, c := range comms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[r] = c.start(ctx, &cfgs[r])
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fail(err)
	}
	return comms, nil
}

// runRanks runs fn on every rank of comms and closes them.
func runRanks(comms []*Comm, fn func(c *Comm) error) []error {
	errs := make([]error, len(comms))
	var wg sync.WaitGroup
	for r, c := range comms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[r] = fn(c)
		}()
	}
	wg.Wait()
	for _, c := range comms {
		c.Close()
	}
	return errs
}

// TestChecksumCorrupt: with checksums on, a payload corrupted in transit
// fails the operation with ErrCorrupt naming the peer and the operation on
// the rank that received it, and every other rank fails too; nothing is
// reduced into a result. Without checksums the same corruption goes
// unnoticed, which is what the option is for.
func TestChecksumCorrupt(t *testing.T) {
	for _, coll := range []string{"allreduce", "recv"} {
		t.Run(coll, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			const n = 4
			fab := faulty.New(n, faulty.Config{Seed: 7, CorruptProb: 1})
			fab.SetArmed(false) // the communicators start cleanly
			comms, err := NewLocalWrapped(ctx, n, func(_ int, c *Config) { c.Checksum = ChecksumCRC32C },
				func(ep transport.Endpoint) (transport.Endpoint, error) { return fab.Wrap(ep) })
			if err != nil {
				t.Fatal(err)
			}
			fab.SetArmed(true)
			errs := runRanks(comms, func(c *Comm) error {
				buf := make([]float32, 4096)
				for i := range buf {
					buf[i] = float32(c.Rank() + i)
				}
				if coll == "recv" {
					b := make([]byte, 4096)
					switch c.Rank() {
					case 0:
						return c.SendBytes(ctx, b, Uint8, 1, 5)
					case 1:
						return c.RecvBytes(ctx, b, Uint8, 0, 5)
					}
					return nil
				}
				return AllReduce(ctx, c, buf, buf, Sum)
			})
			corrupt := 0
			for r, err := range errs {
				if coll == "recv" && r != 1 {
					continue
				}
				if err == nil {
					t.Errorf("rank %d: %s over a corrupting link succeeded; want an error", r, coll)
					continue
				}
				if errors.Is(err, ErrCorrupt) {
					corrupt++
					var oe *OpError
					if !errors.As(err, &oe) || oe.Op != coll || oe.Peer < 0 || !strings.Contains(err.Error(), fmt.Sprintf("from rank %d", oe.Peer)) {
						t.Errorf("rank %d: err = %v; want an *OpError for %s naming the peer", r, err, coll)
					}
				}
			}
			if corrupt == 0 {
				t.Errorf("no rank reported ErrCorrupt: %v", errs)
			}
		})
	}
}

// TestChecksumClean: with checksums on and nothing corrupted, collectives
// and Send/Recv give the right answers (the receiver's check passes).
func TestChecksumClean(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const n = 3
	comms, err := NewLocalWrapped(ctx, n, func(_ int, c *Config) { c.Checksum = ChecksumCRC32C },
		func(ep transport.Endpoint) (transport.Endpoint, error) { return ep, nil })
	if err != nil {
		t.Fatal(err)
	}
	errs := runRanks(comms, func(c *Comm) error {
		for _, count := range []int{1, 1000, 300000} {
			buf := make([]int64, count)
			for i := range buf {
				buf[i] = int64(c.Rank()*7 + i)
			}
			if err := AllReduce(ctx, c, buf, buf, Sum); err != nil {
				return err
			}
			for i, v := range buf {
				if want := int64(7*(0+1+2) + 3*i); v != want {
					return fmt.Errorf("AllReduce(count %d)[%d] = %d; want %d", count, i, v, want)
				}
			}
		}
		msg := []byte(fmt.Sprintf("from %d", c.Rank()))
		got := make([]byte, len(msg))
		next, prev := (c.Rank()+1)%n, (c.Rank()+n-1)%n
		if err := c.SendBytes(ctx, msg, Uint8, next, 1); err != nil {
			return err
		}
		if err := c.RecvBytes(ctx, got, Uint8, prev, 1); err != nil {
			return err
		}
		if want := fmt.Sprintf("from %d", prev); string(got) != want {
			return fmt.Errorf("Recv = %q; want %q", got, want)
		}
		return nil
	})
	for r, err := range errs {
		if err != nil {
			t.Errorf("rank %d: %v", r, err)
		}
	}
}

// TestChecksumSettingsDiffer: a rank with checksums on among ranks with
// them off is detected at the first exchange (the communicator's start
// exchanges placement information), with an error naming the setting,
// instead of a false corruption report or a silent pass.
func TestChecksumSettingsDiffer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	comms, err := NewLocalWrapped(ctx, 3, func(r int, c *Config) {
		if r == 0 {
			c.Checksum = ChecksumCRC32C
		}
	}, func(ep transport.Endpoint) (transport.Endpoint, error) { return ep, nil })
	errs := []error{err}
	if err == nil {
		errs = runRanks(comms, func(c *Comm) error {
			buf := make([]float64, 100)
			return AllReduce(ctx, c, buf, buf, Sum)
		})
	}
	named := 0
	for r, err := range errs {
		if err == nil {
			t.Errorf("rank %d: AllReduce with differing checksum settings succeeded", r)
			continue
		}
		if errors.Is(err, ErrMismatch) && strings.Contains(err.Error(), EnvChecksum) {
			named++
		}
	}
	if named == 0 {
		t.Errorf("no rank named %s: %v", EnvChecksum, errs)
	}
}

// TestParseChecksum: the setting's accepted forms.
func TestParseChecksum(t *testing.T) {
	tests := []struct {
		in      string
		want    bool
		wantErr bool
	}{
		{"off", false, false},
		{"crc32c", true, false},
		{"CRC32C", true, false},
		{"md5", false, true},
	}
	for _, tt := range tests {
		got, err := parseChecksum(tt.in)
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("parseChecksum(%q) = %v, %v; want %v (error %v)", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

// BenchmarkChecksum: all-reduce of 4 MiB of float32 on 4 goroutine ranks,
// with and without payload checksums.
//
//	go test ./collective -run '^$' -bench Checksum -benchtime 20x
func BenchmarkChecksum(b *testing.B) {
	for _, sum := range []string{ChecksumOff, ChecksumCRC32C} {
		b.Run(sum, func(b *testing.B) {
			ctx := context.Background()
			const n, count = 4, 1 << 20
			comms, err := NewLocalWrapped(ctx, n, func(_ int, c *Config) { c.Checksum = sum },
				func(ep transport.Endpoint) (transport.Endpoint, error) { return ep, nil })
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(4 * count)
			b.ResetTimer()
			errs := runRanks(comms, func(c *Comm) error {
				buf := make([]float32, count)
				for range b.N {
					if err := AllReduce(ctx, c, buf, buf, Sum); err != nil {
						return err
					}
				}
				return nil
			})
			if err := errors.Join(errs...); err != nil {
				b.Fatal(err)
			}
		})
	}
}
