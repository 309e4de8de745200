package schedule

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// Simulate runs the schedules of all ranks of one call in memory, over
// float64 elements with sum as the reduction, and returns every rank's Out.
// in[r] is rank r's input: its In contents per the package's buffer
// conventions (for InPlace AllGather and Gather, the rank's own block; for a
// non-root Scatter, empty). Out and Scratch start filled with NaN, so a
// schedule that reads what it never wrote shows NaNs.
//
// It first calls Validate, then executes the way an executor may: a step
// does its Copies, then issues its Sends (reading their regions at once),
// and finishes when all its Recvs have arrived, applying them in listed
// order; a non-reducing Recv of the next step is posted as soon as the
// current step's Sends are issued and lands the moment its message is sent,
// so a schedule that relies on a later step's receive not overwriting memory
// early gives wrong results here. It does not retain its arguments and may
// be called concurrently.
func Simulate(scheds []*Schedule, params []Params, in [][]float64) ([][]float64, error) {
	return simulate(scheds, params, in, math.NaN(), func(dst, src []float64) {
		for i, v := range src {
			dst[i] += v
		}
	}, simOptions{})
}

// simOptions tune simulate for tests.
type simOptions struct {
	// rng, when set, picks which ready rank advances next at random;
	// otherwise ranks are swept in order, each as far as it can go.
	rng *rand.Rand
	// strict disables early posting of the next step's receives.
	strict bool
}

// simMsg is a message in flight.
type simMsg[T any] struct {
	data   []T
	landed bool // already written to its posted non-reducing receive
}

// simulate is Simulate over any element type: add(dst, src) must set
// dst[i] = dst[i] op src[i].
func simulate[T any](scheds []*Schedule, params []Params, in [][]T, poison T,
	add func(dst, src []T), o simOptions) ([][]T, error) {
	if err := Validate(scheds, params); err != nil {
		return nil, err
	}
	ls := make([]layout, len(params))
	for r := range params {
		ls[r] = layoutOf(params[r])
	}
	return run(scheds, ls, in, poison, add, o)
}

// run executes validated schedules whose ranks' buffers have layouts ls.
func run[T any](scheds []*Schedule, ls []layout, in [][]T, poison T,
	add func(dst, src []T), o simOptions) ([][]T, error) {
	p := len(scheds)
	if len(in) != p {
		return nil, fmt.Errorf("%w: simulate: %d inputs for %d ranks", ErrInvalid, len(in), p)
	}
	mem := make([][3][]T, p)
	for r := range p {
		l := ls[r]
		if len(in[r]) != l.in {
			return nil, fmt.Errorf("%w: simulate: rank %d input has %d elements; want %d", ErrInvalid, r, len(in[r]), l.in)
		}
		for s, n := range l.spaceLens(scheds[r].Scratch) {
			m := make([]T, n)
			if n > 0 {
				m[0] = poison
				for i := 1; i < n; i *= 2 {
					copy(m[i:], m[:i])
				}
			}
			mem[r][s] = m
		}
		sp, off := l.resolve(Region{In, 0, l.in})
		copy(mem[r][sp][off:], in[r])
	}
	view := func(r int, g Region) []T {
		sp, off := ls[r].resolve(g)
		return mem[r][sp][off : off+g.N]
	}
	// Message buffers are recycled: most messages of a schedule have the
	// same few sizes.
	var free [][]T
	get := func(n int) []T {
		for i := len(free) - 1; i >= 0 && i >= len(free)-4; i-- {
			if b := free[i]; cap(b) >= n {
				free = append(free[:i], free[i+1:]...)
				return b[:n]
			}
		}
		return make([]T, n)
	}
	put := func(b []T) {
		if cap(b) > 0 && len(free) < 64 {
			free = append(free, b)
		}
	}
	box := make(map[msgKey]*simMsg[T])
	posted := make(map[msgKey]Region) // early non-reducing receives still waiting
	pos := make([]int, p)
	postedTo := make([]int, p) // receives of steps below this are posted
	post := func(r, j int) {
		if j >= len(scheds[r].Steps) || j < postedTo[r] {
			return
		}
		postedTo[r] = j + 1
		for _, x := range scheds[r].Steps[j].Recvs {
			if x.Reduce {
				continue
			}
			k := recvKey(r, x)
			if m, ok := box[k]; ok {
				copy(view(r, x.Region), m.data)
				m.landed = true
			} else {
				posted[k] = x.Region
			}
		}
	}
	start := func(r int) {
		j := pos[r]
		if j >= len(scheds[r].Steps) {
			return
		}
		st := scheds[r].Steps[j]
		for _, c := range st.Copies {
			copy(view(r, c.Dst), view(r, c.Src))
		}
		post(r, j)
		for _, x := range st.Sends {
			k := sendKey(r, x)
			m := &simMsg[T]{data: get(x.Region.N)}
			copy(m.data, view(r, x.Region))
			if g, ok := posted[k]; ok {
				delete(posted, k)
				copy(view(x.Peer, g), m.data)
				m.landed = true
			}
			box[k] = m
		}
		if !o.strict {
			post(r, j+1)
		}
	}
	ready := func(r int) bool {
		if pos[r] >= len(scheds[r].Steps) {
			return false
		}
		for _, x := range scheds[r].Steps[pos[r]].Recvs {
			if box[recvKey(r, x)] == nil {
				return false
			}
		}
		return true
	}
	complete := func(r int) {
		for _, x := range scheds[r].Steps[pos[r]].Recvs {
			k := recvKey(r, x)
			m := box[k]
			delete(box, k)
			switch {
			case x.Reduce:
				add(view(r, x.Region), m.data)
			case !m.landed:
				copy(view(r, x.Region), m.data)
			}
			put(m.data)
		}
		pos[r]++
		start(r)
	}
	for r := range p {
		start(r)
	}
	var ready1 []int
	for {
		if o.rng != nil {
			ready1 = ready1[:0]
			for r := range p {
				if ready(r) {
					ready1 = append(ready1, r)
				}
			}
			if len(ready1) == 0 {
				break
			}
			complete(ready1[o.rng.IntN(len(ready1))])
			continue
		}
		progressed := false
		for r := range p {
			for ready(r) {
				complete(r)
				progressed = true
			}
		}
		if !progressed {
			break
		}
	}
	out := make([][]T, p)
	for r := range p {
		if pos[r] < len(scheds[r].Steps) {
			// Validate rules this out; reaching here is a bug in simulate.
			return nil, fmt.Errorf("%w: simulate: rank %d stuck at step %d", ErrMismatch, r, pos[r])
		}
		out[r] = view(r, Region{Out, 0, ls[r].out})
	}
	return out, nil
}
