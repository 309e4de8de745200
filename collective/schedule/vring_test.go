package schedule

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// vcase is one per-rank-count call.
type vcase struct {
	coll    Coll
	counts  []int
	chunk   int
	inplace bool
}

func (c vcase) String() string {
	return fmt.Sprintf("%v counts=%v chunk=%d inplace=%v", c.coll, c.counts, c.chunk, c.inplace)
}

func (c vcase) params(r int) VParams {
	return VParams{Coll: c.coll, Algo: Ring, Rank: r, Size: len(c.counts), Counts: c.counts, ChunkElems: c.chunk, InPlace: c.inplace}
}

// TestBuildVOracle: the AllGatherV and ReduceScatterV rings pass Validate's
// checks and compute, in the simulator (which poisons unwritten memory and
// lands early receives as soon as it may), what a sequential reference
// computes, for world sizes 1-7, uneven counts with zeros, several chunk
// sizes, in and out of place.
func TestBuildVOracle(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var tests []vcase
	for _, p := range []int{1, 2, 3, 4, 5, 7} {
		patterns := [][]int{make([]int, p)}
		for range 3 {
			c := make([]int, p)
			for i := range c {
				if rng.IntN(3) > 0 {
					c[i] = rng.IntN(13)
				}
			}
			patterns = append(patterns, c)
		}
		one := make([]int, p)
		one[rng.IntN(p)] = 9
		patterns = append(patterns, one)
		for _, counts := range patterns {
			for _, coll := range []Coll{AllGatherV, ReduceScatterV} {
				for _, chunk := range []int{0, 1, 4} {
					for _, ip := range []bool{false, true} {
						tests = append(tests, vcase{coll, counts, chunk, ip})
					}
				}
			}
		}
	}
	for _, tt := range tests {
		if err := checkV(tt); err != nil {
			t.Fatal(err)
		}
	}
}

// checkV builds every rank's schedule for tt, simulates them and compares
// every rank's Out with a sequential reference.
func checkV(tt vcase) error {
	p := len(tt.counts)
	scheds := make([]*Schedule, p)
	params := make([]VParams, p)
	for r := range p {
		params[r] = tt.params(r)
		s, err := BuildV(params[r])
		if err != nil {
			return fmt.Errorf("BuildV(%v) rank %d: %w", tt, r, err)
		}
		scheds[r] = s
	}
	displ := make([]int, p+1)
	for i, n := range tt.counts {
		displ[i+1] = displ[i] + n
	}
	total := displ[p]
	val := func(r, i int) float64 { return float64(1 + r*1000 + i) }
	in := make([][]float64, p)
	for r := range p {
		n := total
		if tt.coll == AllGatherV {
			n = tt.counts[r]
		}
		in[r] = make([]float64, n)
		for i := range in[r] {
			in[r][i] = val(r, i)
		}
	}
	out, err := SimulateV(scheds, params, in)
	if err != nil {
		return fmt.Errorf("SimulateV(%v): %w", tt, err)
	}
	for r := range p {
		var want []float64
		if tt.coll == AllGatherV {
			for q := range p {
				for i := range tt.counts[q] {
					want = append(want, val(q, i))
				}
			}
		} else {
			for i := range tt.counts[r] {
				s := 0.0
				for q := range p {
					s += val(q, displ[r]+i)
				}
				want = append(want, s)
			}
		}
		if !slices.Equal(out[r], want) {
			return fmt.Errorf("SimulateV(%v) rank %d = %v; want %v", tt, r, out[r], want)
		}
	}
	return nil
}

// FuzzBuildV: BuildV never panics, fails only with its sentinel errors,
// and whatever it builds fits together and computes the reference result.
// Each byte of counts is one rank's count.
func FuzzBuildV(f *testing.F) {
	f.Add(uint8(AllGatherV), []byte{3, 0, 5}, 2, false)
	f.Add(uint8(ReduceScatterV), []byte{0, 0, 0, 9}, 0, true)
	f.Add(uint8(ReduceScatterV), []byte{1}, 1, false)
	f.Add(uint8(AllGatherV), []byte{}, 1, true)
	f.Add(uint8(AllReduce), []byte{2, 2}, -1, false)
	f.Fuzz(func(t *testing.T, coll uint8, counts []byte, chunk int, ip bool) {
		if len(counts) > 24 {
			return // an input filter: keep each case cheap; sizes up to 7 are covered above
		}
		c := make([]int, len(counts))
		for i, b := range counts {
			c[i] = int(b % 32)
		}
		tt := vcase{coll: Coll(coll), counts: c, chunk: chunk, inplace: ip}
		_, err := BuildV(tt.params(0))
		if err != nil {
			if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrUnavailable) {
				t.Fatalf("BuildV(%v) = %v; want ErrInvalid or ErrUnavailable", tt, err)
			}
			return
		}
		if err := checkV(tt); err != nil {
			t.Fatal(err)
		}
	})
}

// TestBuildVErrors: VParams that describe no call are refused with the
// right sentinel, and ValidateV catches ranks that disagree on counts.
func TestBuildVErrors(t *testing.T) {
	tests := []struct {
		name string
		p    VParams
		want error
	}{
		{"coll", VParams{Coll: AllGather, Algo: Ring, Size: 2, Counts: []int{1, 1}}, ErrInvalid},
		{"algo", VParams{Coll: AllGatherV, Algo: Tree, Size: 2, Counts: []int{1, 1}}, ErrUnavailable},
		{"counts length", VParams{Coll: AllGatherV, Algo: Ring, Size: 3, Counts: []int{1, 1}}, ErrInvalid},
		{"negative", VParams{Coll: ReduceScatterV, Algo: Ring, Size: 2, Counts: []int{1, -1}}, ErrInvalid},
		{"rank", VParams{Coll: ReduceScatterV, Algo: Ring, Rank: 2, Size: 2, Counts: []int{1, 1}}, ErrInvalid},
		{"large", VParams{Coll: AllGatherV, Algo: Ring, Size: 3, Counts: []int{1 << 29, 0, 1 << 29}}, nil},
		{"too large", VParams{Coll: AllGatherV, Algo: Ring, Size: 3, Counts: []int{1 << 30, 0, 1 << 30}}, ErrInvalid},
	}
	for _, tt := range tests {
		_, err := BuildV(tt.p)
		if tt.want == nil {
			if err != nil {
				t.Errorf("BuildV(%s) = %v; want nil", tt.name, err)
			}
			continue
		}
		if !errors.Is(err, tt.want) {
			t.Errorf("BuildV(%s) = %v; want %v", tt.name, err, tt.want)
		}
	}
	a := vcase{coll: AllGatherV, counts: []int{2, 3}}
	b := vcase{coll: AllGatherV, counts: []int{3, 2}}
	s0, _ := BuildV(a.params(0))
	s1, _ := BuildV(b.params(1))
	if err := ValidateV([]*Schedule{s0, s1}, []VParams{a.params(0), b.params(1)}); !errors.Is(err, ErrMismatch) {
		t.Errorf("ValidateV(counts differ) = %v; want ErrMismatch", err)
	}
}
