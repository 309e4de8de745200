package collective

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/kizuna-hpc/kizuna/collective/schedule"
	"github.com/kizuna-hpc/kizuna/collective/topo"
	"github.com/kizuna-hpc/kizuna/topology"
)

// topoConfig is this rank's reading of Config.Topology, Config.Placement,
// Config.Coord and Config.Host.
type topoConfig struct {
	t      topology.Topology // nil: no topology
	spec   string            // the placement spec
	info   topology.RankInfo // this rank's host and coordinates
	digest [32]byte          // of the topology, the spec and a placement file's contents
}

// Sizes in the rank record that start exchanges (see rankRecord).
const (
	recordCoord = 63  // longest Coord
	recordHost  = 159 // longest Host
	recordLen   = 32 + 1 + recordCoord + 1 + recordHost
)

// readTopoConfig checks the topology and placement settings of cfg and
// reads what this rank contributes. newComm calls it to fail early on a
// bad setting; start calls it again to build the layout.
func readTopoConfig(cfg *Config) (*topoConfig, error) {
	tc := &topoConfig{spec: strings.TrimSpace(cfg.Placement), info: topology.RankInfo{Host: cfg.Host, Coord: cfg.Coord}}
	if tc.info.Host == "" {
		tc.info.Host, _ = os.Hostname()
	}
	if len(tc.info.Coord) > recordCoord {
		return nil, fmt.Errorf("%w: %s=%q: longer than %d bytes", ErrInvalid, EnvCoord, tc.info.Coord, recordCoord)
	}
	if len(tc.info.Host) > recordHost {
		return nil, fmt.Errorf("%w: host name %q: longer than %d bytes", ErrInvalid, tc.info.Host, recordHost)
	}
	h := sha256.New()
	if cfg.Topology != "" && cfg.Topology != "flat" {
		t, err := topology.Parse(cfg.Topology)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrInvalid, EnvTopology, err)
		}
		tc.t = t
		fmt.Fprintf(h, "%s\x00%s\x00", t.Name(), tc.spec)
		if kind, path, _ := strings.Cut(tc.spec, ":"); strings.EqualFold(kind, "file") {
			data, err := os.ReadFile(path)
			if err != nil {
				return nil, fmt.Errorf("%w: %s=%q: %v", ErrInvalid, EnvPlacement, tc.spec, err)
			}
			h.Write(data)
		} else if !topology.NeedsRankInfo(tc.spec) {
			if _, err := topology.PlaceBy(t, tc.spec, cfg.Size, nil); err != nil {
				return nil, fmt.Errorf("%w: %s=%q on %s: %v", ErrInvalid, EnvPlacement, tc.spec, t.Name(), err)
			}
		}
	}
	copy(tc.digest[:], h.Sum(nil))
	return tc, nil
}

// rankRecord encodes what this rank tells the others at start: the digest
// of its topology settings, its Coord and its Host, each with a length byte.
func (tc *topoConfig) rankRecord() []byte {
	b := make([]byte, recordLen)
	copy(b, tc.digest[:])
	b[32] = byte(len(tc.info.Coord))
	copy(b[33:], tc.info.Coord)
	b[33+recordCoord] = byte(len(tc.info.Host))
	copy(b[34+recordCoord:], tc.info.Host)
	return b
}

// decodeRecord is rankRecord's inverse; lengths are clamped, since the
// record came from another process.
func decodeRecord(b []byte) (digest []byte, info topology.RankInfo) {
	nc := min(int(b[32]), recordCoord)
	nh := min(int(b[33+recordCoord]), recordHost)
	return b[:32], topology.RankInfo{Coord: string(b[33 : 33+nc]), Host: string(b[34+recordCoord : 34+recordCoord+nh])}
}

// buildLayout places the ranks, as every rank told (info, by rank), and
// derives the schedule layout and the chooser that prices algorithms on it
// (nils for no topology; a nil chooser beyond maxChooserRanks ranks).
func (tc *topoConfig) buildLayout(info []topology.RankInfo) (*schedule.Layout, *topo.Chooser, error) {
	if tc.t == nil {
		return nil, nil, nil
	}
	p, err := topology.PlaceBy(tc.t, tc.spec, len(info), info)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %s=%q on %s: %v", ErrInvalid, EnvPlacement, tc.spec, tc.t.Name(), err)
	}
	l, err := topo.LayoutFor(tc.t, p)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %s=%q: %v", ErrInvalid, EnvTopology, tc.t.Name(), err)
	}
	if len(info) > maxChooserRanks {
		return l, nil, nil
	}
	ch, err := topo.NewChooser(tc.t, p, l, topo.NetFor(tc.t).Hop)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %s=%q: %v", ErrInvalid, EnvTopology, tc.t.Name(), err)
	}
	return l, ch, nil
}

// maxChooserRanks bounds the communicators whose automatic choice analyses
// every algorithm's steps on the topology (topo.Chooser): the analysis of a
// ring grows as ranks squared. At 256 ranks on torus:16x16 (random:1) the
// first all-reduce choice, which analyses every all-reduce algorithm, took
// 0.15-0.16 s on a 2-core machine with load average 2.4
// (go test -run '^$' -bench ChooserAtLimit -benchtime 1x -count 3
// ./collective/), paid once, on the first call of each collective whose
// algorithm the cost model chooses.
const maxChooserRanks = 256

// chooseOnTopology is the cost model's choice on a topology: each
// algorithm priced with the hops and link loads of its own steps under the
// network's routing (topo.Chooser), with this communicator's Costs and the
// network's time per hop. Beyond maxChooserRanks ranks, where that
// analysis would take too long, it falls back to schedule.ChooseOn without
// hops or contention.
func (c *Comm) chooseOnTopology(coll schedule.Coll, bytes int64, allowed func(schedule.Coll, schedule.Algo) bool) schedule.Algo {
	if c.netCost == nil {
		return schedule.ChooseOn(coll, bytes, c.size, c.costs, schedule.StepCost{Layout: c.layout}, allowed)
	}
	return c.netCost.Choose(coll, bytes, c.costs, allowed)
}

// layoutDigest is a digest of the layout every rank must agree on.
func layoutDigest(l *schedule.Layout) [32]byte {
	if l == nil {
		return sha256.Sum256(nil)
	}
	b, _ := json.Marshal(l) // plain data: cannot fail
	return sha256.Sum256(b)
}

// placeRanks gathers every rank's record (topology settings digest, Coord,
// Host), checks that all ranks were given the same topology and placement,
// and builds the layout from everyone's records, so that placements that
// read per-rank values (KIZUNA_COORD, host names in a placement file) come
// out the same on every rank. Every rank must call it; every rank fails
// alike on a bad placement.
func (c *Comm) placeRanks(ctx context.Context, cfg *Config) error {
	tc, err := readTopoConfig(cfg)
	if err != nil {
		return err
	}
	mine := tc.rankRecord()
	all := mine
	if c.size > 1 {
		all = make([]byte, recordLen*c.size)
		if err := c.AllGatherBytes(ctx, mine, all, Uint8, WithAlgo(Ring)); err != nil {
			return fmt.Errorf("collective: rank %d: exchange placement information: %w", c.rank, err)
		}
	}
	info := make([]topology.RankInfo, c.size)
	for r := range c.size {
		var d []byte
		d, info[r] = decodeRecord(all[recordLen*r : recordLen*(r+1)])
		if !bytes.Equal(d, tc.digest[:]) {
			return fmt.Errorf("%w: rank %d was given a different %s, %s or placement file than rank %d: every rank must have the same",
				ErrMismatch, r, EnvTopology, EnvPlacement, c.rank)
		}
	}
	c.layout, c.netCost, err = tc.buildLayout(info)
	return err
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
// links are up: place the ranks on the topology and agree on the plan and,
// if asked, measure costs.
func (c *Comm) start(ctx context.Context, cfg *Config) error {
	if err := c.placeRanks(ctx, cfg); err != nil {
		return err
	}
	if c.layout != nil {
		if err := c.checkLayout(ctx); err != nil {
			return err
		}
	}
	if cfg.MeasureCosts {
		return c.measureCosts(ctx)
	}
	return nil
}

// Layout returns the topology layout the communicator's schedules use
// (embedded rings, rank grid, groups, trees), or nil without a topology. It
// is fixed once the communicator has started and shared: the caller must
// not modify it. It may be called concurrently.
func (c *Comm) Layout() *schedule.Layout { return c.layout }
