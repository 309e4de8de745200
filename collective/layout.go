package collective

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"

	"github.com/kizuna-hpc/kizuna/collective/schedule"
	"github.com/kizuna-hpc/kizuna/collective/topo"
	"github.com/kizuna-hpc/kizuna/topology"
)

// buildLayout turns Config.Topology and Config.Placement into the schedule
// layout of a world of size ranks (nil for no topology).
func buildLayout(cfg *Config, size int) (*schedule.Layout, error) {
	if cfg.Topology == "" || cfg.Topology == "flat" {
		return nil, nil
	}
	t, err := topology.Parse(cfg.Topology)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrInvalid, EnvTopology, err)
	}
	spec := cfg.Placement
	if spec == "" {
		spec = "linear"
	}
	p, err := topology.Place(t, spec, size)
	if err != nil {
		return nil, fmt.Errorf("%w: %s=%q on %s: %v", ErrInvalid, EnvPlacement, spec, cfg.Topology, err)
	}
	l, err := topo.LayoutFor(t, p)
	if err != nil {
		return nil, fmt.Errorf("%w: %s=%q: %v", ErrInvalid, EnvTopology, cfg.Topology, err)
	}
	return l, nil
}

// layoutDigest is a digest of the layout every rank must agree on.
func layoutDigest(l *schedule.Layout) [32]byte {
	if l == nil {
		return sha256.Sum256(nil)
	}
	b, _ := json.Marshal(l) // plain data: cannot fail
	return sha256.Sum256(b)
}

// checkLayout makes sure every rank computed the same layout (the same
// topology, placement and algorithm plans): ranks that disagree would run
// schedules that do not fit together. Every rank must call it.
func (c *Comm) checkLayout(ctx context.Context) error {
	mine := layoutDigest(c.layout)
	all := make([]byte, 32*c.size)
	if err := c.AllGatherBytes(ctx, mine[:], all, Uint8, WithAlgo(Ring)); err != nil {
		return fmt.Errorf("collective: rank %d: exchange topology digests: %w", c.rank, err)
	}
	for r := range c.size {
		if !bytes.Equal(all[32*r:32*r+32], mine[:]) {
			return fmt.Errorf("%w: rank %d computed a different topology plan than rank %d: every rank must set the same %s and %s",
				ErrMismatch, r, c.rank, EnvTopology, EnvPlacement)
		}
	}
	return nil
}

// start runs what every rank of a new communicator does together once the
// links are up: agree on the topology plan and, if asked, measure costs.
func (c *Comm) start(ctx context.Context, cfg *Config) error {
	if err := c.checkLayout(ctx); err != nil {
		return err
	}
	if cfg.MeasureCosts {
		return c.measureCosts(ctx)
	}
	return nil
}
