package collective

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/kizuna-hpc/kizuna/rendezvous"
	"github.com/kizuna-hpc/kizuna/transport/inproc"
)

// LocalOption adjusts NewLocal and RunLocal.
type LocalOption func(*Config)

// WithTransport picks the transport of local ranks: TransportInproc (the
// default: goroutine ranks exchange through memory), TransportTCP (real
// sockets on loopback, one listener per rank), TransportShm (shared-memory
// rings, as between processes on one host), or TransportAuto (each rank
// chooses per peer as processes do, which on one host is shared memory).
func WithTransport(name string) LocalOption { return func(c *Config) { c.Transport = name } }

// WithConfig lets the caller set any other Config field (timeout, algorithm
// spec, chunk size, costs, logger) for every local rank; Rank, Size and
// Transport are overwritten.
func WithConfig(f func(*Config)) LocalOption { return func(c *Config) { f(c) } }

// NewLocal starts n ranks in this process and returns their communicators,
// indexed by rank. The caller closes each of them. The tuning variables
// KIZUNA_TIMEOUT, KIZUNA_ALGO, KIZUNA_CHUNK_BYTES and KIZUNA_COSTS apply,
// and options override them. Over TransportTCP the ranks' connections are
// authenticated with a random token, unless an option sets Config.Token.
func NewLocal(ctx context.Context, n int, opts ...LocalOption) ([]*Comm, error) {
	var base Config
	if err := knobsFromLookup(&base, os.LookupEnv, false); err != nil {
		return nil, err
	}
	base.Transport = TransportInproc
	base.Emulate = os.Getenv(EnvEmulate)
	for _, o := range opts {
		o(&base)
	}
	base.Size = n
	if n < 1 {
		return nil, fmt.Errorf("%w: %d local ranks, want at least 1", ErrInvalid, n)
	}
	if err := setupEmulation(&base, n); err != nil { // emulate.go
		return nil, err
	}
	switch base.Transport {
	case TransportInproc:
		cfg := base
		cfg.Rank = 0
		cfg.Transport = TransportInproc
		if err := validateConfig(&cfg); err != nil {
			return nil, err
		}
		f := inproc.NewFabric(n)
		comms := make([]*Comm, n)
		for r := range n {
			ep, err := emulated(cfg.emulate, f.Endpoint(r))
			if err != nil {
				f.Close()
				return nil, err
			}
			c, err := newComm(ep, cfg)
			if err != nil {
				ep.Close()
				for _, c := range comms[:r] { // stops their metrics servers
					c.Close()
				}
				f.Close()
				return nil, err
			}
			comms[r] = c
		}
		{
			errs := make([]error, n)
			var wg sync.WaitGroup
			for r, c := range comms {
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs[r] = c.start(ctx, &cfg)
				}()
			}
			wg.Wait()
			if err := errors.Join(errs...); err != nil {
				for _, c := range comms {
					c.Close()
				}
				return nil, err
			}
		}
		return comms, nil
	case TransportTCP, TransportShm, "", TransportAuto:
	default:
		return nil, fmt.Errorf("%w: unknown transport %q (want inproc, tcp or shm)", ErrInvalid, base.Transport)
	}
	medium := TransportTCP // goroutine ranks choose inproc before anything else
	if base.Transport == TransportShm || base.Transport == TransportAuto {
		medium = base.Transport
	}
	// TCP on loopback: a store of our own, then every rank joins it
	// concurrently, exactly as separate processes would, with a random
	// token (unless the options set one) that authenticates the links.
	if base.Token == "" {
		base.Token = rand.Text()
	}
	store, err := rendezvous.Listen("127.0.0.1:0", rendezvous.WithToken(base.Token))
	if err != nil {
		return nil, fmt.Errorf("collective: local rendezvous store: %w", err)
	}
	comms := make([]*Comm, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for r := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cfg := base
			cfg.Rank = r
			cfg.Transport = medium
			cfg.MasterAddr = store.Addr()
			cfg.ExternalStore = true
			if cfg.BindAddr == "" {
				cfg.BindAddr = "127.0.0.1"
			}
			comms[r], errs[r] = New(ctx, cfg)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		for _, c := range comms {
			if c != nil {
				c.Close()
			}
		}
		store.Close()
		return nil, err
	}
	// The last communicator to close stops the store.
	comms[0].store = store
	return comms, nil
}

// RunLocal starts n ranks in this process, calls fn on each in its own
// goroutine with that rank's communicator, waits for all of them and closes
// every communicator. It returns the ranks' errors joined (nil if all
// succeeded). A rank whose fn fails aborts the others, so none is left
// waiting.
func RunLocal(ctx context.Context, n int, fn func(ctx context.Context, c *Comm) error, opts ...LocalOption) error {
	comms, err := NewLocal(ctx, n, opts...)
	if err != nil {
		return err
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for r, c := range comms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fn(ctx, c); err != nil {
				errs[r] = fmt.Errorf("rank %d: %w", r, err)
				c.Abort()
			}
		}()
	}
	wg.Wait()
	// Close rank 0 last: it owns the loopback store.
	for r := n - 1; r >= 0; r-- {
		if err := comms[r].Close(); err != nil && errs[r] == nil {
			errs[r] = fmt.Errorf("rank %d: close: %w", r, err)
		}
	}
	return errors.Join(errs...)
}
