package sim

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/kizuna-hpc/kizuna/collective/schedule"
	"github.com/kizuna-hpc/kizuna/topology"
)

// Sentinel errors.
var (
	// ErrInvalid reports a machine or query that describes nothing to price.
	ErrInvalid = errors.New("sim: invalid input")
	// ErrTooLarge reports a query that only the full per-rank evaluator could
	// price (no symmetry applies) on more ranks than MaxFullRanks.
	ErrTooLarge = errors.New("sim: too many ranks for full per-rank evaluation")
	// ErrAsymmetric reports a schedule that the symmetric evaluator was asked
	// for but that is not the translation of one representative rank's
	// schedule (a spot-checked rank disagreed).
	ErrAsymmetric = errors.New("sim: schedule is not translation-symmetric")
)

// MaxFullRanks is the most ranks the full evaluator builds every rank's
// schedule for. Beyond it only the symmetric evaluator runs (ring, torus
// and hierarchical all-reduce; see Mode).
const MaxFullRanks = 4096

// Net is the link model of the network.
type Net struct {
	// LinkBW is the bandwidth of one directed link, bytes per second.
	LinkBW float64
	// HopLatency is the time a message spends per link it crosses (wire,
	// router), seconds.
	HopLatency float64
	// Alpha is the fixed cost of one message at its endpoints (software,
	// injection), seconds.
	Alpha float64
	// Gamma is the time to reduce (or copy) one byte locally, seconds.
	Gamma float64
	// LocalBW is the bandwidth of a message between two ranks on one node
	// (no link crossed), bytes per second; 0 means LinkBW.
	LocalBW float64
}

func (n Net) check() error {
	switch {
	case !(n.LinkBW > 0) || math.IsInf(n.LinkBW, 0):
		return fmt.Errorf("%w: link bandwidth %g B/s, want > 0", ErrInvalid, n.LinkBW)
	case n.HopLatency < 0 || n.Alpha < 0 || n.Gamma < 0 || n.LocalBW < 0:
		return fmt.Errorf("%w: negative hop latency, alpha, gamma or local bandwidth", ErrInvalid)
	}
	return nil
}

// Machine is a network with ranks placed on it: what Price needs besides
// the query. Layout is the schedule layout the runtime would use there
// (collective/topo.LayoutFor), nil for none. A Machine is read-only once
// passed to NewPricer.
type Machine struct {
	Topo   topology.Topology
	Place  topology.Placement
	Layout *schedule.Layout
	Net    Net
}

// Query is one collective call to price.
type Query struct {
	Coll schedule.Coll
	Algo schedule.Algo // not AlgoAuto
	// Count is the element count in schedule.Params' convention.
	Count int
	// ElemSize is the bytes per element; 0 means 4 (float32).
	ElemSize int
	// ChunkElems caps one message as schedule.Params.ChunkElems does.
	ChunkElems int
	// Root is the root of a rooted collective.
	Root int
	// Timing selects the full evaluator's timing (LockStep by default).
	Timing Timing
}

// Mode says how a schedule was evaluated.
type Mode uint8

const (
	// Full builds every rank's schedule and prices every message.
	Full Mode = iota + 1
	// Symmetric builds one representative rank's schedule and derives
	// every other rank's messages by translation (along the ring, the
	// torus grid, or the dragonfly groups), after checking a few ranks'
	// real schedules against the translation.
	Symmetric
)

func (m Mode) String() string {
	switch m {
	case Full:
		return "full"
	case Symmetric:
		return "symmetric"
	}
	return fmt.Sprintf("mode(%d)", uint8(m))
}

// Estimate is the priced cost of one query.
type Estimate struct {
	Seconds float64
	// Steps is the number of lock-step rounds priced (the longest schedule).
	Steps int
	// Patterns is the number of distinct message patterns routed; every
	// other step reused one of them.
	Patterns int
	Mode     Mode
}

// Pricer prices queries on one Machine. It caches routed message patterns
// across queries, so a size sweep routes each pattern once. A Pricer is not
// safe for concurrent use; the Machine it holds must not change.
type Pricer struct {
	m       Machine
	net     Net
	full    map[uint64][]*fullPattern
	sym     map[uint64][]*symPattern // by hashRels
	checked map[checkKey]bool        // symmetric schedules already spot-checked
	symm    map[schedule.Algo]symmetry
	maxFull int
	// PerRank timing's route cache: link ids per (src, dst).
	routes  map[flow][]int32
	linkIDs map[topology.Link]int32
}

// checkKey names a (collective, algorithm) whose symmetry was checked.
type checkKey struct {
	coll schedule.Coll
	algo schedule.Algo
}

// NewPricer checks m and returns a Pricer for it.
func NewPricer(m Machine) (*Pricer, error) {
	if m.Topo == nil {
		return nil, fmt.Errorf("%w: no topology", ErrInvalid)
	}
	if err := m.Net.check(); err != nil {
		return nil, err
	}
	if m.Place.Ranks() < 1 {
		return nil, fmt.Errorf("%w: no ranks placed", ErrInvalid)
	}
	if err := m.Place.Validate(m.Topo); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	net := m.Net
	if net.LocalBW == 0 {
		net.LocalBW = net.LinkBW
	}
	return &Pricer{
		m: m, net: net,
		full:    make(map[uint64][]*fullPattern),
		sym:     make(map[uint64][]*symPattern),
		checked: make(map[checkKey]bool),
		symm:    make(map[schedule.Algo]symmetry),
		maxFull: MaxFullRanks,
	}, nil
}

// Ranks is the number of ranks of the machine.
func (p *Pricer) Ranks() int { return p.m.Place.Ranks() }

// Price returns the modelled time of q. It uses the symmetric evaluator
// when q's schedule has a translation symmetry on the machine (ring
// all-reduce, all-gather and reduce-scatter along Layout.Ring; torus
// all-reduce on Layout.Dims; hierarchical all-reduce on equal
// Layout.Groups) and the full one otherwise. ctx is checked between steps.
func (p *Pricer) Price(ctx context.Context, q Query) (Estimate, error) {
	if q.ElemSize == 0 {
		q.ElemSize = 4
	}
	if q.ElemSize < 0 || q.Count < 0 {
		return Estimate{}, fmt.Errorf("%w: element size %d, count %d", ErrInvalid, q.ElemSize, q.Count)
	}
	if sy := p.symmetryFor(q); sy != nil && p.Ranks() > 1 {
		return p.priceSymmetric(ctx, q, sy)
	}
	return p.PriceFull(ctx, q)
}

// params returns the schedule parameters of rank r for q.
func (p *Pricer) params(q Query, r, count int) schedule.Params {
	return schedule.Params{
		Coll: q.Coll, Algo: q.Algo, Rank: r, Size: p.Ranks(), Count: count,
		Root: q.Root, ChunkElems: q.ChunkElems, Layout: p.m.Layout,
	}
}

// msgTime is the arrival time, after the step starts, of a message of b
// bytes crossing hops links whose busiest link carries load messages.
func (p *Pricer) msgTime(hops int, load int, b float64) float64 {
	if hops == 0 {
		return p.net.Alpha + b/p.net.LocalBW
	}
	return p.net.Alpha + float64(hops)*p.net.HopLatency + float64(load)*b/p.net.LinkBW
}
