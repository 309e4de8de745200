package schedule

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestAvailable(t *testing.T) {
	tests := []struct {
		c    Coll
		want []Algo
	}{
		{AllReduce, []Algo{Ring, Tree, HalvingDoubling, RecursiveDoubling, Torus, Hierarchical, Swing, MultiRing}},
		{Broadcast, []Algo{Ring, Tree}},
		{Reduce, []Algo{Ring, Tree}},
		{AllGather, []Algo{Ring, RecursiveDoubling}},
		{ReduceScatter, []Algo{Ring, HalvingDoubling}},
		{AllToAll, []Algo{Ring}},
		{Gather, []Algo{Ring}},
		{Scatter, []Algo{Ring}},
		{Barrier, []Algo{Ring}},
		{SendRecv, nil},
		{Coll(0), nil},
		{Coll(99), nil},
	}
	for _, tt := range tests {
		if got := Available(tt.c); !slices.Equal(got, tt.want) {
			t.Errorf("Available(%v) = %v; want %v", tt.c, got, tt.want)
		}
	}
}

func TestBuildErrors(t *testing.T) {
	ok := Params{Coll: AllReduce, Algo: Ring, Rank: 0, Size: 4, Count: 10}
	with := func(f func(*Params)) Params {
		p := ok
		f(&p)
		return p
	}
	tests := []struct {
		name string
		p    Params
		err  error
		says []string // substrings the message must contain
	}{
		{"unknown coll", with(func(p *Params) { p.Coll = 42 }), ErrInvalid, []string{"coll(42)"}},
		{"sendrecv", with(func(p *Params) { p.Coll = SendRecv }), ErrInvalid, []string{"sendrecv"}},
		{"auto", with(func(p *Params) { p.Algo = AlgoAuto }), ErrUnavailable, []string{"auto", "allreduce", "ring, tree, hd, rd"}},
		{"tree allgather", with(func(p *Params) { p.Coll, p.Algo = AllGather, Tree }), ErrUnavailable,
			[]string{"tree", "allgather", "available: ring"}},
		{"hd broadcast", with(func(p *Params) { p.Coll, p.Algo = Broadcast, HalvingDoubling }), ErrUnavailable,
			[]string{"hd", "broadcast", "available: ring, tree"}},
		{"unknown algo", with(func(p *Params) { p.Algo = 9 }), ErrUnavailable, []string{"algo(9)"}},
		{"size 0", with(func(p *Params) { p.Size = 0 }), ErrInvalid, []string{"size 0"}},
		{"size huge", with(func(p *Params) { p.Algo, p.Size = Tree, 1<<40 }), ErrInvalid, []string{"size 1099511627776"}},
		{"rank negative", with(func(p *Params) { p.Rank = -1 }), ErrInvalid, []string{"rank -1"}},
		{"rank too big", with(func(p *Params) { p.Rank = 4 }), ErrInvalid, []string{"rank 4"}},
		{"count negative", with(func(p *Params) { p.Count = -1 }), ErrInvalid, []string{"count -1"}},
		{"chunk negative", with(func(p *Params) { p.ChunkElems = -1 }), ErrInvalid, []string{"chunk -1"}},
		{"root negative", with(func(p *Params) { p.Coll, p.Root = Broadcast, -1 }), ErrInvalid, []string{"root -1"}},
		{"root too big", with(func(p *Params) { p.Coll, p.Root = Gather, 4 }), ErrInvalid, []string{"root 4"}},
		{"barrier count", with(func(p *Params) { p.Coll = Barrier }), ErrInvalid, []string{"barrier count 10"}},
		{"overflow", with(func(p *Params) { p.Coll, p.Count = AllToAll, 1<<40 }), ErrInvalid, []string{"overflows"}},
		{"too many tags", with(func(p *Params) { p.Algo, p.Count, p.ChunkElems = HalvingDoubling, 1<<30, 1 }), ErrInvalid,
			[]string{"tags", "ChunkElems"}},
	}
	for _, tt := range tests {
		s, err := Build(tt.p)
		if s != nil || !errors.Is(err, tt.err) {
			t.Errorf("%s: Build(%+v) = %v, %v; want nil, %v", tt.name, tt.p, s, err, tt.err)
			continue
		}
		for _, w := range tt.says {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: Build(%+v) error %q does not mention %q", tt.name, tt.p, err, w)
			}
		}
	}
}

// TestRootIgnoredWhenUnrooted: a collective without a root accepts any
// Root, so callers need not fill it.
func TestRootIgnoredWhenUnrooted(t *testing.T) {
	p := Params{Coll: AllReduce, Algo: Ring, Rank: 1, Size: 3, Count: 5, Root: -7}
	if _, err := Build(p); err != nil {
		t.Errorf("Build(%+v) = %v; want no error", p, err)
	}
}

// TestBuildDeterministic: Build is a pure function of Params.
func TestBuildDeterministic(t *testing.T) {
	for _, c := range []simCase{
		{AllReduce, Tree, 7, 1000, 7, 0, false, nil},
		{AllReduce, HalvingDoubling, 7, 1001, 13, 0, true, nil},
		{Gather, Ring, 5, 33, 4, 3, false, nil},
	} {
		for r := range c.p {
			a, err1 := Build(c.params(r))
			b, err2 := Build(c.params(r))
			if err1 != nil || err2 != nil {
				t.Fatalf("Build(%+v) = %v, %v", c.params(r), err1, err2)
			}
			if !equalSchedules(a, b) {
				t.Errorf("Build(%+v) differs between calls", c.params(r))
			}
		}
	}
}

func equalSchedules(a, b *Schedule) bool {
	if a.Scratch != b.Scratch || len(a.Steps) != len(b.Steps) {
		return false
	}
	for i := range a.Steps {
		x, y := a.Steps[i], b.Steps[i]
		if !slices.Equal(x.Copies, y.Copies) || !slices.Equal(x.Sends, y.Sends) || !slices.Equal(x.Recvs, y.Recvs) {
			return false
		}
	}
	return true
}

// TestChunkCap: no message carries more than ChunkElems elements.
func TestChunkCap(t *testing.T) {
	for _, coll := range []Coll{AllReduce, Broadcast, Reduce, AllGather, ReduceScatter, AllToAll, Gather, Scatter} {
		for _, algo := range AvailableOn(coll, nil) {
			for _, chunk := range []int{1, 7, 64} {
				c := simCase{coll, algo, 6, 500, chunk, 5, false, nil}
				for r := range c.p {
					s, err := Build(c.params(r))
					if err != nil {
						t.Fatalf("Build(%+v) = %v", c.params(r), err)
					}
					for i, st := range s.Steps {
						for _, x := range slices.Concat(st.Sends, st.Recvs) {
							if x.Region.N > chunk {
								t.Errorf("%v rank %d step %d: message of %d elements; want <= %d", c, r, i, x.Region.N, chunk)
							}
						}
					}
				}
			}
		}
	}
}

// TestScratchBounds checks Schedule.Scratch against the bounds in doc.go.
func TestScratchBounds(t *testing.T) {
	bound := func(c simCase, r int) int {
		n := c.n
		switch {
		case c.algo == Ring && c.coll == Reduce:
			if c.chunk > 0 {
				return min(n, 2*c.chunk)
			}
			return n
		case c.algo == Ring && c.coll == ReduceScatter:
			if c.inplace && c.p > 3 {
				return 2 * n
			}
			return n
		case c.algo == Ring && c.coll == AllToAll && c.inplace:
			return c.p / 2 * n
		case c.algo == Ring && (c.coll == Gather || c.coll == Scatter):
			return 2 * n
		case c.algo == HalvingDoubling && c.coll == ReduceScatter:
			if pow2(c.p) {
				return c.p / 2 * n // the kept half, p/2 blocks
			}
			if c.inplace && c.p > 3 { // the ring's
				return 2 * n
			}
			return n
		case c.algo == Tree && c.coll == Reduce, c.algo == RecursiveDoubling:
			return n
		}
		return 0
	}
	for _, coll := range []Coll{AllReduce, Broadcast, Reduce, AllGather, ReduceScatter, AllToAll, Gather, Scatter, Barrier} {
		for _, algo := range AvailableOn(coll, nil) {
			for _, p := range []int{2, 3, 4, 5, 8, 13} {
				for _, chunk := range []int{0, 5} {
					for _, ip := range []bool{false, true} {
						c := simCase{coll, algo, p, 101, chunk, p / 2, ip, nil}
						if coll == Barrier {
							c.n = 0
						}
						for r := range p {
							s, err := Build(c.params(r))
							if err != nil {
								t.Fatalf("Build(%+v) = %v", c.params(r), err)
							}
							if b := bound(c, r); s.Scratch > b {
								t.Errorf("Build(%v rank %d).Scratch = %d; want <= %d", c, r, s.Scratch, b)
							}
						}
					}
				}
			}
		}
	}
}

// TestNoEmptySteps: every step does something, and a call with nothing to
// move (Count 0, or one rank in place) has no steps at all.
func TestNoEmptySteps(t *testing.T) {
	for _, coll := range []Coll{AllReduce, Broadcast, Reduce, AllGather, ReduceScatter, AllToAll, Gather, Scatter, Barrier} {
		for _, algo := range AvailableOn(coll, nil) {
			for _, p := range []int{1, 2, 3, 4, 7} {
				for _, n := range []int{0, 1, 2, 9} {
					for _, ip := range []bool{false, true} {
						c := simCase{coll, algo, p, n, 2, p - 1, ip, nil}
						if coll == Barrier {
							c.n = 0
						}
						for r := range p {
							s, err := Build(c.params(r))
							if err != nil {
								t.Fatalf("Build(%+v) = %v", c.params(r), err)
							}
							for i, st := range s.Steps {
								if len(st.Copies)+len(st.Sends)+len(st.Recvs) == 0 {
									t.Errorf("Build(%v rank %d) step %d is empty", c, r, i)
								}
							}
							idle := c.n == 0 && coll != Barrier || p == 1 && (ip || c.n == 0)
							if idle && len(s.Steps) != 0 {
								t.Errorf("Build(%v rank %d) has %d steps; want none", c, r, len(s.Steps))
							}
						}
					}
				}
			}
		}
	}
}
