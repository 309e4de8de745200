package schedule

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
)

// twoRanks returns params for a 2-rank AllReduce of n elements.
func twoRanks(n int, inplace bool) []Params {
	return []Params{
		{Coll: AllReduce, Algo: Ring, Rank: 0, Size: 2, Count: n, InPlace: inplace},
		{Coll: AllReduce, Algo: Ring, Rank: 1, Size: 2, Count: n, InPlace: inplace},
	}
}

func send(peer int, tag uint32, g Region) Xfer { return Xfer{Peer: peer, Tag: tag, Region: g} }
func recv(peer int, tag uint32, g Region, reduce bool) Xfer {
	return Xfer{Peer: peer, Tag: tag, Region: g, Reduce: reduce}
}

// TestValidateRejects feeds Validate broken schedules for two ranks; each
// must be rejected with a message naming the problem.
func TestValidateRejects(t *testing.T) {
	in4, out4 := Region{In, 0, 4}, Region{Out, 0, 4}
	good := func() [2][]Step {
		return [2][]Step{
			{{Copies: []Copy{{in4, out4}}, Sends: []Xfer{send(1, 0, in4)}, Recvs: []Xfer{recv(1, 0, out4, true)}}},
			{{Copies: []Copy{{in4, out4}}, Sends: []Xfer{send(0, 0, in4)}, Recvs: []Xfer{recv(0, 0, out4, true)}}},
		}
	}
	tests := []struct {
		name    string
		edit    func(s *[2][]Step)
		scratch int
		inplace bool
		says    string
	}{
		{"unmatched send", func(s *[2][]Step) { s[1][0].Recvs = nil }, 0, false, "has no recv"},
		{"unmatched recv", func(s *[2][]Step) { s[1][0].Sends = nil }, 0, false, "has no send"},
		{"wrong tag", func(s *[2][]Step) { s[1][0].Recvs[0].Tag = 5 }, 0, false, "tag 5 has no send"},
		{"wrong length", func(s *[2][]Step) { s[1][0].Recvs[0].Region.N = 3 }, 0, false, "of 3 elements"},
		{"duplicate tag", func(s *[2][]Step) {
			s[0] = append(s[0], Step{Sends: []Xfer{send(1, 0, in4)}})
			s[1] = append(s[1], Step{Recvs: []Xfer{recv(0, 0, out4, false)}})
		}, 0, false, "twice"},
		{"out of bounds", func(s *[2][]Step) { s[0][0].Sends[0].Region.Off = 1 }, 0, false, "outside buffer"},
		{"negative offset", func(s *[2][]Step) { s[0][0].Copies[0].Dst.Off = -1 }, 0, false, "outside buffer"},
		{"scratch beyond Scratch", func(s *[2][]Step) {
			s[0][0].Recvs[0].Region = Region{Scratch, 0, 4}
		}, 3, false, "outside buffer of 3"},
		{"bad buffer", func(s *[2][]Step) { s[0][0].Sends[0].Region.Buf = 7 }, 0, false, "unknown buffer"},
		{"self peer", func(s *[2][]Step) { s[0][0].Sends[0].Peer = 0 }, 0, false, "bad peer"},
		{"peer out of range", func(s *[2][]Step) { s[0][0].Sends[0].Peer = 2 }, 0, false, "bad peer"},
		{"reducing send", func(s *[2][]Step) { s[0][0].Sends[0].Reduce = true }, 0, false, "cannot reduce"},
		{"writes In", func(s *[2][]Step) { s[0][0].Recvs[0].Region = in4 }, 0, false, "writes the caller's In"},
		{"send overlaps recv", func(s *[2][]Step) { s[0][0].Sends[0].Region = Region{Out, 2, 2} }, 0, false, "overlaps send"},
		{"in place send overlaps recv", func(s *[2][]Step) {}, 0, true, "overlaps send"},
		{"recvs overlap", func(s *[2][]Step) {
			s[0] = append(s[0], Step{Recvs: []Xfer{recv(1, 1, out4, true), recv(1, 2, Region{Out, 3, 1}, true)}})
			s[1] = append(s[1], Step{Sends: []Xfer{send(0, 1, in4), send(0, 2, Region{In, 0, 1})}})
		}, 0, false, "overlap"},
		{"copy lengths", func(s *[2][]Step) { s[0][0].Copies[0].Dst.N = 3 }, 0, false, "lengths differ"},
		{"copy onto plain recv", func(s *[2][]Step) { s[0][0].Recvs[0].Reduce = false }, 0, false, "overlaps recv"},
		{"copies overlap", func(s *[2][]Step) {
			s[0][0].Copies = append(s[0][0].Copies, Copy{Region{In, 0, 1}, Region{Out, 3, 1}})
		}, 0, false, "copies"},
		{"deadlock", func(s *[2][]Step) {
			// Each rank waits for the other before sending.
			s[0] = []Step{{Recvs: []Xfer{recv(1, 0, out4, false)}}, {Sends: []Xfer{send(1, 0, in4)}}}
			s[1] = []Step{{Recvs: []Xfer{recv(0, 0, out4, false)}}, {Sends: []Xfer{send(0, 0, in4)}}}
		}, 0, false, "deadlock"},
	}
	for _, tt := range tests {
		steps := good()
		tt.edit(&steps)
		scheds := []*Schedule{{Steps: steps[0], Scratch: tt.scratch}, {Steps: steps[1], Scratch: tt.scratch}}
		err := Validate(scheds, twoRanks(4, tt.inplace))
		if !errors.Is(err, ErrMismatch) || !strings.Contains(err.Error(), tt.says) {
			t.Errorf("%s: Validate = %v; want ErrMismatch mentioning %q", tt.name, err, tt.says)
		}
	}
	steps := good()
	if err := Validate([]*Schedule{{Steps: steps[0]}, {Steps: steps[1]}}, twoRanks(4, false)); err != nil {
		t.Errorf("Validate(good) = %v; want nil", err)
	}
}

// TestValidateParams: the params must describe the ranks of one call.
func TestValidateParams(t *testing.T) {
	s := []*Schedule{{}, {}}
	tests := []struct {
		name   string
		params []Params
		scheds []*Schedule
		err    error
	}{
		{"empty", nil, nil, ErrMismatch},
		{"count differs", []Params{twoRanks(4, false)[0], twoRanks(5, false)[1]}, s, ErrMismatch},
		{"ranks swapped", []Params{twoRanks(4, false)[1], twoRanks(4, false)[0]}, s, ErrMismatch},
		{"size wrong", twoRanks(4, false)[:1], s[:1], ErrMismatch},
		{"nil schedule", twoRanks(4, false), []*Schedule{nil, {}}, ErrMismatch},
		{"bad params", []Params{{Coll: AllGather, Algo: Tree, Size: 1}}, s[:1], ErrUnavailable},
	}
	for _, tt := range tests {
		if err := Validate(tt.scheds, tt.params); !errors.Is(err, tt.err) {
			t.Errorf("%s: Validate = %v; want %v", tt.name, err, tt.err)
		}
	}
	// In-place may differ between ranks.
	mixed := twoRanks(0, false)
	mixed[1].InPlace = true
	if err := Validate(s, mixed); err != nil {
		t.Errorf("Validate(mixed in-place) = %v; want nil", err)
	}
}

// TestValidateBarrierEarlyExit: a barrier where rank 1 leaves without hearing
// from anyone is rejected.
func TestValidateBarrierEarlyExit(t *testing.T) {
	params := []Params{{Coll: Barrier, Algo: Ring, Rank: 0, Size: 2}, {Coll: Barrier, Algo: Ring, Rank: 1, Size: 2}}
	scheds := []*Schedule{
		{Steps: []Step{{Recvs: []Xfer{{Peer: 1}}}}},
		{Steps: []Step{{Sends: []Xfer{{Peer: 0}}}}},
	}
	if err := Validate(scheds, params); err == nil || !strings.Contains(err.Error(), "barrier: rank 1") {
		t.Errorf("Validate(one-way barrier) = %v; want barrier error for rank 1", err)
	}
}

// TestValidateBroadcastReadsIn: a non-root Broadcast may not read In.
func TestValidateBroadcastReadsIn(t *testing.T) {
	params := []Params{{Coll: Broadcast, Algo: Ring, Rank: 0, Size: 2, Count: 1}, {Coll: Broadcast, Algo: Ring, Rank: 1, Size: 2, Count: 1}}
	scheds := []*Schedule{{}, {Steps: []Step{{Copies: []Copy{{Region{In, 0, 1}, Region{Out, 0, 1}}}}}}}
	if err := Validate(scheds, params); err == nil || !strings.Contains(err.Error(), "only the root") {
		t.Errorf("Validate(non-root reads In) = %v; want error", err)
	}
}

// TestSimulateEarlyPosting: a schedule that is right only if the next step's
// receive waits for the current step gives a different result under
// Simulate (which posts it early, as an executor may) than in strict order.
func TestSimulateEarlyPosting(t *testing.T) {
	params := []Params{
		{Coll: AllReduce, Algo: Ring, Rank: 0, Size: 3, Count: 1},
		{Coll: AllReduce, Algo: Ring, Rank: 1, Size: 3, Count: 1},
		{Coll: AllReduce, Algo: Ring, Rank: 2, Size: 3, Count: 1},
	}
	one := Region{Out, 0, 1}
	in1 := Region{In, 0, 1}
	scheds := []*Schedule{
		// Rank 0 reduces rank 1's value into Out, then overwrites Out
		// with rank 2's; rank 2's message may land before the reduction.
		{Steps: []Step{
			{Copies: []Copy{{in1, one}}, Recvs: []Xfer{recv(1, 0, one, true)}},
			{Recvs: []Xfer{recv(2, 0, one, false)}},
		}},
		{Steps: []Step{{Sends: []Xfer{send(0, 0, in1)}}}},
		{Steps: []Step{{Sends: []Xfer{send(0, 0, in1)}}}},
	}
	in := [][]float64{{1}, {10}, {100}}
	add := func(dst, src []float64) {
		for i := range dst {
			dst[i] += src[i]
		}
	}
	strict, err := simulate(scheds, params, in, math.NaN(), add, simOptions{strict: true})
	if err != nil {
		t.Fatal(err)
	}
	early, err := Simulate(scheds, params, in)
	if err != nil {
		t.Fatal(err)
	}
	if strict[0][0] != 100 || early[0][0] == 100 {
		t.Errorf("rank 0 Out = %v strict, %v early; want 100 strict and something else early", strict[0][0], early[0][0])
	}
}

// TestSimulateNaNUnwritten: Out starts as NaN, so a rank that never writes
// it shows NaN.
func TestSimulateNaNUnwritten(t *testing.T) {
	params := twoRanks(2, false)
	out, err := Simulate([]*Schedule{{}, {}}, params, [][]float64{{1, 2}, {3, 4}})
	if err != nil {
		t.Fatal(err)
	}
	if !math.IsNaN(out[0][0]) || !math.IsNaN(out[1][1]) {
		t.Errorf("Simulate(empty schedules) = %v; want NaNs", out)
	}
	if _, err := Simulate([]*Schedule{{}, {}}, params, [][]float64{{1}, {3, 4}}); !errors.Is(err, ErrInvalid) {
		t.Errorf("Simulate(short input) = %v; want ErrInvalid", err)
	}
}

// naiveAllReduce builds a correct but non-deterministic-looking AllReduce:
// every rank sends its whole In to every other rank and sums, starting from
// its own input, so ranks associate differently.
func naiveAllReduce(p, n int) ([]*Schedule, []Params) {
	scheds := make([]*Schedule, p)
	params := make([]Params, p)
	for r := range p {
		params[r] = Params{Coll: AllReduce, Algo: Ring, Rank: r, Size: p, Count: n}
		all := Region{Out, 0, n}
		st := Step{Copies: []Copy{{Region{In, 0, n}, all}}}
		for s := 1; s < p; s++ {
			st.Sends = append(st.Sends, send((r+s)%p, 0, Region{In, 0, n}))
		}
		scheds[r] = &Schedule{Steps: []Step{st}}
		for s := 1; s < p; s++ {
			scheds[r].Steps = append(scheds[r].Steps, Step{Recvs: []Xfer{recv((r-s+p)%p, 0, all, true)}})
		}
	}
	return scheds, params
}

// TestOracleCatchesDisagreement: the matrix's checks must fail on an
// AllReduce whose ranks sum in different orders, though each sum is right.
func TestOracleCatchesDisagreement(t *testing.T) {
	p, n := 4, 50
	scheds, params := naiveAllReduce(p, n)
	sy := newSymbols(p, n)
	in := inputs(simCase{coll: AllReduce, p: p, n: n}, func(r, i int) int32 { return sy.leaf(r, i) }, -1)
	out, err := simulate(scheds, params, in, -1, sy.add, simOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		got := sy.leaves(nil, out[1][i])
		slices.SortFunc(got, cmpPair)
		if len(got) != p {
			t.Fatalf("naive AllReduce Out[%d] = sum of %v; want all %d ranks", i, got, p)
		}
	}
	if slices.Equal(out[0], out[1]) {
		t.Errorf("symbolic ids of ranks 0 and 1 agree; the oracle cannot see association")
	}
	pin := inputs(simCase{coll: AllReduce, p: p, n: n}, func(r, i int) pair { return pair{exactVal(r, i), wideVal(r, i)} }, pair{})
	pout, err := simulate(scheds, params, pin, pair{}, addPairs, simOptions{})
	if err != nil {
		t.Fatal(err)
	}
	differ := 0
	for i := range n {
		if math.Float64bits(pout[0][i][1]) != math.Float64bits(pout[1][i][1]) {
			differ++
		}
	}
	if differ == 0 {
		t.Errorf("wide inputs give equal bits on ranks 0 and 1 for all %d elements; the float check cannot see association", n)
	}
}

// TestAssociationIgnoresChunk: the association of every reduced element
// depends on (Algo, Size, Count, Root) only, not on ChunkElems or InPlace.
func TestAssociationIgnoresChunk(t *testing.T) {
	for _, coll := range []Coll{AllReduce, Reduce, ReduceScatter} {
		for _, algo := range AvailableOn(coll, nil) {
			for _, p := range []int{2, 3, 5, 6, 8, 11} {
				for _, n := range []int{1, p + 1, 97} {
					sy := newSymbols(p, n*p)
					var first [][]int32
					for _, chunk := range []int{0, 1, 3, 40} {
						for _, ip := range []bool{false, true} {
							c := simCase{coll, algo, p, n, chunk, p - 1, ip, nil}
							scheds, params, err := c.build()
							if err != nil {
								t.Fatal(err)
							}
							in := inputs(c, func(r, i int) int32 { return sy.leaf(r, i) }, -1)
							out, err := simulate(scheds, params, in, -1, sy.add, simOptions{})
							if err != nil {
								t.Fatalf("%v: %v", c, err)
							}
							if first == nil {
								first = out
								continue
							}
							for r := range out {
								if !slices.Equal(out[r], first[r]) {
									t.Errorf("%v: rank %d associates differently than with chunk 0 out of place", c, r)
								}
							}
						}
					}
				}
			}
		}
	}
}
