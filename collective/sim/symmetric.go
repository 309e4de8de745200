package sim

import (
	"context"
	"fmt"
	"slices"

	"github.com/kizuna-hpc/kizuna/collective/schedule"
)

// symmetry maps a representative rank's messages onto every rank. A
// relation encodes where a peer sits relative to a rank (a ring offset, a
// torus displacement, a group and member offset); apply(r, rel) is the
// rank with relation rel to r.
type symmetry interface {
	kind() uint64
	rep() int
	rel(r, peer int) int
	apply(r, rel int) int
}

// ringSym: positions along a ring (Layout.Ring, or rank order).
type ringSym struct {
	ring, pos []int
}

func newRingSym(ring []int, n int) *ringSym {
	s := &ringSym{ring: ring, pos: make([]int, n)}
	if ring == nil {
		s.ring = make([]int, n)
		for i := range n {
			s.ring[i] = i
		}
	}
	for i, r := range s.ring {
		s.pos[r] = i
	}
	return s
}

func (s *ringSym) kind() uint64 { return 1 }
func (s *ringSym) rep() int     { return s.ring[0] }
func (s *ringSym) rel(r, peer int) int {
	return mod(s.pos[peer]-s.pos[r], len(s.ring))
}
func (s *ringSym) apply(r, rel int) int { return s.ring[(s.pos[r]+rel)%len(s.ring)] }

// gridSym: displacements on the rank grid of Layout.Dims (dimension 0
// fastest), with wrap-around.
type gridSym struct {
	dims      []int
	grid, idx []int // grid index -> rank, rank -> grid index
}

func newGridSym(dims, grid []int, n int) *gridSym {
	s := &gridSym{dims: dims, grid: grid, idx: make([]int, n)}
	if grid == nil {
		s.grid = make([]int, n)
		for i := range n {
			s.grid[i] = i
		}
	}
	for i, r := range s.grid {
		s.idx[r] = i
	}
	return s
}

func (s *gridSym) kind() uint64 { return 2 }
func (s *gridSym) rep() int     { return s.grid[0] }
func (s *gridSym) rel(r, peer int) int {
	a, b := s.idx[r], s.idx[peer]
	rel, stride := 0, 1
	for _, d := range s.dims {
		rel += mod(b%d-a%d, d) * stride
		a, b, stride = a/d, b/d, stride*d
	}
	return rel
}
func (s *gridSym) apply(r, rel int) int {
	a := s.idx[r]
	out, stride := 0, 1
	for _, d := range s.dims {
		out += (a%d + rel%d) % d * stride
		a, rel, stride = a/d, rel/d, stride*d
	}
	return s.grid[out]
}

// groupSym: (group, member) offsets over equal-sized Layout.Groups.
type groupSym struct {
	groups [][]int
	g, m   []int // rank -> group index, member index
}

func newGroupSym(groups [][]int, n int) *groupSym {
	s := &groupSym{groups: groups, g: make([]int, n), m: make([]int, n)}
	for gi, g := range groups {
		for mi, r := range g {
			s.g[r], s.m[r] = gi, mi
		}
	}
	return s
}

func (s *groupSym) kind() uint64 { return 3 }
func (s *groupSym) rep() int     { return s.groups[0][0] }
func (s *groupSym) rel(r, peer int) int {
	ng, nm := len(s.groups), len(s.groups[0])
	return mod(s.g[peer]-s.g[r], ng)*nm + mod(s.m[peer]-s.m[r], nm)
}
func (s *groupSym) apply(r, rel int) int {
	ng, nm := len(s.groups), len(s.groups[0])
	return s.groups[(s.g[r]+rel/nm)%ng][(s.m[r]+rel%nm)%nm]
}

func mod(a, n int) int {
	a %= n
	if a < 0 {
		a += n
	}
	return a
}

// symmetryFor returns the translation symmetry of q's schedule on the
// machine, or nil when it has none the pricer knows.
func (p *Pricer) symmetryFor(q Query) symmetry {
	l := p.m.Layout
	if l == nil {
		l = &schedule.Layout{}
	}
	var mk func() symmetry
	n := p.Ranks()
	switch {
	case q.Algo == schedule.Ring && (q.Coll == schedule.AllReduce || q.Coll == schedule.AllGather || q.Coll == schedule.ReduceScatter):
		mk = func() symmetry { return newRingSym(l.Ring, n) }
	case q.Algo == schedule.Torus && q.Coll == schedule.AllReduce && len(l.Dims) > 0:
		mk = func() symmetry { return newGridSym(l.Dims, l.Grid, n) }
	case q.Algo == schedule.Hierarchical && q.Coll == schedule.AllReduce && equalGroups(l.Groups):
		mk = func() symmetry { return newGroupSym(l.Groups, n) }
	default:
		return nil
	}
	s, ok := p.symm[q.Algo]
	if !ok {
		s = mk()
		p.symm[q.Algo] = s
	}
	return s
}

func equalGroups(gs [][]int) bool {
	if len(gs) == 0 {
		return false
	}
	for _, g := range gs {
		if len(g) != len(gs[0]) || len(g) == 0 {
			return false
		}
	}
	return true
}

// symPattern is one routed step of the symmetric evaluator: per receive j
// of the representative, the worst hops and bottleneck load over the
// translations of that receive to every rank.
type symPattern struct {
	kind       uint64
	rels       []int
	hops, load []int32
}

func hashRels(kind uint64, rels []int) uint64 {
	const prime = 1099511628211
	h := uint64(14695981039346656037) ^ kind
	h *= prime
	for _, r := range rels {
		for range 4 {
			h ^= uint64(r & 0xffff)
			h *= prime
			r >>= 16
		}
	}
	return h
}

// symPattern returns the routed pattern in which every rank receives from
// the ranks with relations rels, in that order.
func (p *Pricer) symPattern(s symmetry, rels []int) *symPattern {
	key := hashRels(s.kind(), rels)
	for _, c := range p.sym[key] {
		if c.kind == s.kind() && slices.Equal(c.rels, rels) {
			return c
		}
	}
	n := p.Ranks()
	flows := make([]flow, 0, n*len(rels))
	for r := range n {
		for _, rel := range rels {
			flows = append(flows, flow{src: int32(s.apply(r, rel)), dst: int32(r)})
		}
	}
	hops, load := loads(p.m.Topo, p.m.Place, flows)
	c := &symPattern{kind: s.kind(), rels: slices.Clone(rels), hops: make([]int32, len(rels)), load: make([]int32, len(rels))}
	for i := range flows {
		j := i % len(rels)
		c.hops[j] = max(c.hops[j], hops[i])
		c.load[j] = max(c.load[j], load[i])
	}
	p.sym[key] = append(p.sym[key], c)
	return c
}

// spotRanks returns the ranks whose real schedules are checked against the
// representative's translation: every rank on small machines, a fixed
// spread of ranks on large ones.
func spotRanks(n, rep int) []int {
	var rs []int
	if n <= 64 {
		for r := range n {
			rs = append(rs, r)
		}
	} else {
		rs = []int{1, n / 3, n / 2, (2 * n) / 3, n - 1}
	}
	return slices.DeleteFunc(rs, func(r int) bool { return r == rep })
}

// checkSymmetry builds the schedules of spotRanks at count and verifies
// that each is the representative's, translated: the same steps, copies of
// the same sizes, and every send and receive with the translated peer, the
// same size and the same reduce flag.
func (p *Pricer) checkSymmetry(q Query, s symmetry, count int) error {
	rep := s.rep()
	base, err := schedule.Build(p.params(q, rep, count))
	if err != nil {
		return fmt.Errorf("sim: %v %v rank %d: %w", q.Coll, q.Algo, rep, err)
	}
	same := func(r int, a, b []schedule.Xfer) bool {
		if len(a) != len(b) {
			return false
		}
		for j := range a {
			if a[j].Region.N != b[j].Region.N || a[j].Reduce != b[j].Reduce || b[j].Peer != s.apply(r, s.rel(rep, a[j].Peer)) {
				return false
			}
		}
		return true
	}
	copied := func(st *schedule.Step) int {
		k := 0
		for _, c := range st.Copies {
			k += c.Src.N
		}
		return k
	}
	for _, r := range spotRanks(p.Ranks(), rep) {
		sc, err := schedule.Build(p.params(q, r, count))
		if err != nil {
			return fmt.Errorf("sim: %v %v rank %d: %w", q.Coll, q.Algo, r, err)
		}
		if len(sc.Steps) != len(base.Steps) {
			return fmt.Errorf("%w: %v %v: rank %d has %d steps, rank %d has %d", ErrAsymmetric, q.Coll, q.Algo, r, len(sc.Steps), rep, len(base.Steps))
		}
		for i := range sc.Steps {
			a, b := &base.Steps[i], &sc.Steps[i]
			if !same(r, a.Recvs, b.Recvs) || !same(r, a.Sends, b.Sends) || copied(a) != copied(b) {
				return fmt.Errorf("%w: %v %v: step %d of rank %d is not rank %d's translated", ErrAsymmetric, q.Coll, q.Algo, i, r, rep)
			}
		}
	}
	return nil
}

// priceSymmetric prices q from one representative rank's schedule: every
// other rank's messages in a step are the translations of the
// representative's (checked once per algorithm on spotRanks at a count
// where every block is equal), so a round costs what the representative's
// receives cost with the worst hops and load over the translations.
//
// Below p elements (AllReduce) the representative is built at p elements
// and its message sizes scaled by count/p: the real schedules send one
// element in fewer messages, which the model prices as every rank sending
// a fraction of an element (the latency terms dominate there). At other
// counts the representative's messages stand for everyone's (blocks of a
// split count differ by at most one element).
func (p *Pricer) priceSymmetric(ctx context.Context, q Query, s symmetry) (Estimate, error) {
	n := p.Ranks()
	if q.Count == 0 {
		return Estimate{Mode: Symmetric}, nil
	}
	key := checkKey{coll: q.Coll, algo: q.Algo}
	if !p.checked[key] {
		sq := q
		sq.ChunkElems = 0
		c0 := 8
		if q.Coll == schedule.AllReduce {
			c0 = 8 * n
		}
		if err := p.checkSymmetry(sq, s, c0); err != nil {
			return Estimate{}, err
		}
		p.checked[key] = true
	}
	count, scale := q.Count, 1.0
	if q.Coll == schedule.AllReduce && count < n {
		count, scale = n, float64(q.Count)/float64(n)
	}
	rep := s.rep()
	sc, err := schedule.Build(p.params(q, rep, count))
	if err != nil {
		return Estimate{}, fmt.Errorf("sim: %v %v rank %d: %w", q.Coll, q.Algo, rep, err)
	}
	es := float64(q.ElemSize) * scale
	est := Estimate{Steps: len(sc.Steps), Mode: Symmetric}
	used := make(map[*symPattern]bool)
	var rels []int
	for i := range sc.Steps {
		if i&1023 == 0 {
			if err := ctx.Err(); err != nil {
				return Estimate{}, err
			}
		}
		st := &sc.Steps[i]
		if len(st.Recvs) == 0 {
			continue
		}
		rels = rels[:0]
		for _, x := range st.Recvs {
			rels = append(rels, s.rel(rep, x.Peer))
		}
		pat := p.symPattern(s, rels)
		used[pat] = true
		start := 0.0
		for _, c := range st.Copies {
			start += float64(c.Src.N) * es * p.net.Gamma
		}
		t := start
		for j, x := range st.Recvs {
			b := float64(x.Region.N) * es
			t = max(t, start+p.msgTime(int(pat.hops[j]), int(pat.load[j]), b))
			if x.Reduce {
				t += b * p.net.Gamma
			}
		}
		est.Seconds += t
	}
	est.Patterns = len(used)
	return est, nil
}
