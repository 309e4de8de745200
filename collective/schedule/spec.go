package schedule

import (
	"errors"
	"fmt"
	"strings"
)

// ErrSpec reports a malformed algorithm name, collective name or algorithm
// spec; the wrapping error names the bad token.
var ErrSpec = errors.New("schedule: bad algorithm spec")

// normName lower-cases s and drops surrounding space, '_' and '-', so that
// "All_Reduce" and "halving-doubling" parse.
func normName(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	return strings.NewReplacer("_", "", "-", "").Replace(s)
}

// ParseAlgo parses an algorithm name: ring; tree; hd, halvingdoubling or
// rabenseifner; rd or recursivedoubling; torus; hier or hierarchical;
// swing; multiring; auto. Case, '_' and '-' are
// ignored. Errors wrap ErrSpec.
func ParseAlgo(s string) (Algo, error) {
	if a, ok := algoByName(s); ok {
		return a, nil
	}
	return 0, fmt.Errorf("%w: unknown algorithm %q", ErrSpec, s)
}

func algoByName(s string) (Algo, bool) {
	switch normName(s) {
	case "auto":
		return AlgoAuto, true
	case "ring":
		return Ring, true
	case "tree":
		return Tree, true
	case "hd", "halvingdoubling", "rabenseifner":
		return HalvingDoubling, true
	case "rd", "recursivedoubling":
		return RecursiveDoubling, true
	case "torus":
		return Torus, true
	case "hier", "hierarchical":
		return Hierarchical, true
	case "swing":
		return Swing, true
	case "multiring":
		return MultiRing, true
	}
	return 0, false
}

// ParseColl parses a collective name as Coll.String prints it (allreduce,
// broadcast, reduce, allgather, reducescatter, alltoall, gather, scatter,
// barrier, sendrecv), or bcast. Case, '_' and '-' are ignored. Errors wrap
// ErrSpec.
func ParseColl(s string) (Coll, error) {
	if c, ok := collByName(s); ok {
		return c, nil
	}
	return 0, fmt.Errorf("%w: unknown collective %q", ErrSpec, s)
}

func collByName(s string) (Coll, bool) {
	n := normName(s)
	if n == "bcast" {
		return Broadcast, true
	}
	for c := AllReduce; c <= SendRecv; c++ {
		if c.String() == n {
			return c, true
		}
	}
	return 0, false
}

// algoSet is a set of algorithms, bit a for Algo a.
type algoSet uint32

func (s algoSet) has(a Algo) bool { return a < 32 && s&(1<<a) != 0 }

// clause is one parsed LIST: the named algorithms, or all but them.
type clause struct {
	set    algoSet
	except bool
	ok     bool // the clause was given
}

func (c clause) allows(a Algo) bool { return c.set.has(a) != c.except }

func (c clause) String() string {
	var names []string
	for a := Ring; a <= lastAlgo; a++ {
		if c.set.has(a) {
			names = append(names, a.String())
		}
	}
	s := strings.Join(names, ",")
	if c.except {
		s = "^" + s
	}
	return s
}

// AlgoSpec restricts the algorithms the cost model may choose, per
// collective, in the grammar of NCCL_ALGO (see ParseAlgoSpec). The zero
// value and nil allow everything. An AlgoSpec is immutable once parsed and
// may be used concurrently.
type AlgoSpec struct {
	all   clause
	colls [SendRecv + 1]clause
}

// ParseAlgoSpec parses the value of KIZUNA_ALGO or a per-call algorithm
// option: ';'-separated clauses, each LIST (for every collective) or
// COLL:LIST (for that collective, overriding a bare LIST), where LIST is
// comma-separated algorithm names (see ParseAlgo; auto is not allowed),
// optionally prefixed with '^' to mean all algorithms except those. Space
// around tokens and empty clauses are ignored, and "" allows everything.
// Examples: "ring", "allreduce:tree;ring", "^tree", "allreduce:ring,hd".
// Giving the bare LIST or one collective twice is an error. Errors wrap
// ErrSpec and name the bad token.
func ParseAlgoSpec(s string) (*AlgoSpec, error) {
	spec := &AlgoSpec{}
	for raw := range strings.SplitSeq(s, ";") {
		cl := strings.TrimSpace(raw)
		if cl == "" {
			continue
		}
		target, what := &spec.all, "the bare list"
		if name, list, ok := strings.Cut(cl, ":"); ok {
			c, ok := collByName(name)
			if !ok {
				return nil, fmt.Errorf("%w %q: unknown collective %q", ErrSpec, s, name)
			}
			target, what, cl = &spec.colls[c], c.String(), list
		}
		if target.ok {
			return nil, fmt.Errorf("%w %q: %s given twice", ErrSpec, s, what)
		}
		c, err := parseList(cl)
		if err != "" {
			return nil, fmt.Errorf("%w %q: %s", ErrSpec, s, err)
		}
		*target = c
	}
	return spec, nil
}

// parseList parses a LIST, [^]name{,name}, or says what is wrong with it.
func parseList(s string) (clause, string) {
	c := clause{ok: true}
	s = strings.TrimSpace(s)
	if rest, ok := strings.CutPrefix(s, "^"); ok {
		c.except, s = true, rest
	}
	for tok := range strings.SplitSeq(s, ",") {
		a, ok := algoByName(tok)
		switch {
		case strings.TrimSpace(tok) == "":
			return clause{}, fmt.Sprintf("empty algorithm name in list %q", s)
		case !ok:
			return clause{}, fmt.Sprintf("unknown algorithm %q", tok)
		case a == AlgoAuto:
			return clause{}, fmt.Sprintf("%q in a list (leave the collective out instead)", tok)
		}
		c.set |= 1 << a
	}
	return c, ""
}

// Allowed reports whether the spec lets collective c use algorithm a: the
// clause for c if given, else the bare clause if given, else true. It does
// not check that a has a schedule for c (see Available). A nil spec allows
// everything.
func (s *AlgoSpec) Allowed(c Coll, a Algo) bool {
	if s == nil {
		return true
	}
	if int(c) < len(s.colls) && s.colls[c].ok {
		return s.colls[c].allows(a)
	}
	if s.all.ok {
		return s.all.allows(a)
	}
	return true
}

// String returns the spec in canonical form (bare clause first, then
// collectives in Coll order, algorithms in Algo order), which
// ParseAlgoSpec parses back to an equal spec. A nil or empty spec gives "".
func (s *AlgoSpec) String() string {
	if s == nil {
		return ""
	}
	var parts []string
	if s.all.ok {
		parts = append(parts, s.all.String())
	}
	for c, cl := range s.colls {
		if cl.ok {
			parts = append(parts, Coll(c).String()+":"+cl.String())
		}
	}
	return strings.Join(parts, ";")
}
