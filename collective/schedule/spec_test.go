package schedule

import (
	"errors"
	"strings"
	"testing"
)

func TestParseAlgoSpec(t *testing.T) {
	type allow struct {
		c Coll
		a Algo
	}
	tests := []struct {
		in      string
		str     string  // canonical String
		allowed []allow // must be allowed
		denied  []allow // must be denied
	}{
		{"", "", []allow{{AllReduce, Tree}, {Barrier, Ring}, {AllGather, RecursiveDoubling}}, nil},
		{" ; ", "", []allow{{AllReduce, Tree}}, nil},
		{"ring", "ring", []allow{{AllReduce, Ring}, {Broadcast, Ring}}, []allow{{AllReduce, Tree}, {Reduce, Tree}}},
		{"allreduce:tree;ring", "ring;allreduce:tree",
			[]allow{{AllReduce, Tree}, {Broadcast, Ring}}, []allow{{AllReduce, Ring}, {Broadcast, Tree}}},
		{"^tree", "^tree", []allow{{AllReduce, Ring}, {AllReduce, HalvingDoubling}, {Broadcast, Ring}},
			[]allow{{AllReduce, Tree}, {Broadcast, Tree}}},
		{"allreduce:ring,hd", "allreduce:ring,hd",
			[]allow{{AllReduce, Ring}, {AllReduce, HalvingDoubling}, {Broadcast, Tree}},
			[]allow{{AllReduce, Tree}, {AllReduce, RecursiveDoubling}}},
		{" AllReduce : Rabenseifner , Recursive_Doubling ; BCAST:^ring ", "allreduce:hd,rd;broadcast:^ring",
			[]allow{{AllReduce, HalvingDoubling}, {AllReduce, RecursiveDoubling}, {Broadcast, Tree}, {Reduce, Ring}},
			[]allow{{AllReduce, Ring}, {Broadcast, Ring}}},
		{"halving-doubling;reduce_scatter:ring", "hd;reducescatter:ring",
			[]allow{{ReduceScatter, Ring}, {AllReduce, HalvingDoubling}}, []allow{{AllGather, Ring}}},
	}
	for _, tt := range tests {
		s, err := ParseAlgoSpec(tt.in)
		if err != nil {
			t.Errorf("ParseAlgoSpec(%q) = %v", tt.in, err)
			continue
		}
		if got := s.String(); got != tt.str {
			t.Errorf("ParseAlgoSpec(%q).String() = %q; want %q", tt.in, got, tt.str)
		}
		for _, x := range tt.allowed {
			if !s.Allowed(x.c, x.a) {
				t.Errorf("ParseAlgoSpec(%q).Allowed(%v, %v) = false; want true", tt.in, x.c, x.a)
			}
		}
		for _, x := range tt.denied {
			if s.Allowed(x.c, x.a) {
				t.Errorf("ParseAlgoSpec(%q).Allowed(%v, %v) = true; want false", tt.in, x.c, x.a)
			}
		}
		// String round-trips.
		back, err := ParseAlgoSpec(s.String())
		if err != nil || back.String() != s.String() {
			t.Errorf("ParseAlgoSpec(%q) = %v, %v; want %q", s.String(), back, err, s.String())
		}
		for c := AllReduce; c <= SendRecv; c++ {
			for a := AlgoAuto; a <= RecursiveDoubling; a++ {
				if back.Allowed(c, a) != s.Allowed(c, a) {
					t.Errorf("round trip of %q changes Allowed(%v, %v)", tt.in, c, a)
				}
			}
		}
	}
}

func TestParseAlgoSpecErrors(t *testing.T) {
	tests := []struct {
		in   string
		says string // the bad token, quoted
	}{
		{"rign", `"rign"`},
		{"allreduce:tree,bogus", `"bogus"`},
		{"allreduse:tree", `"allreduse"`},
		{"^", "empty algorithm name"},
		{"allreduce:", "empty algorithm name"},
		{"ring,,tree", "empty algorithm name"},
		{"auto", `"auto"`},
		{"ring;tree", "bare list given twice"},
		{"allreduce:ring;allreduce:tree", "allreduce given twice"},
		{"tree^", `"tree^"`},
	}
	for _, tt := range tests {
		s, err := ParseAlgoSpec(tt.in)
		if s != nil || !errors.Is(err, ErrSpec) || !strings.Contains(err.Error(), tt.says) {
			t.Errorf("ParseAlgoSpec(%q) = %v, %v; want ErrSpec mentioning %s", tt.in, s, err, tt.says)
		}
	}
}

func TestNilAlgoSpec(t *testing.T) {
	var s *AlgoSpec
	if !s.Allowed(AllReduce, Tree) || s.String() != "" {
		t.Errorf("nil AlgoSpec: Allowed = %v, String = %q; want true, \"\"", s.Allowed(AllReduce, Tree), s.String())
	}
}

func TestParseAlgo(t *testing.T) {
	tests := []struct {
		in   string
		want Algo
	}{
		{"ring", Ring}, {"RING", Ring}, {"tree", Tree}, {"hd", HalvingDoubling},
		{"halvingdoubling", HalvingDoubling}, {"Halving-Doubling", HalvingDoubling},
		{"rabenseifner", HalvingDoubling}, {"rd", RecursiveDoubling},
		{"recursive_doubling", RecursiveDoubling}, {" auto ", AlgoAuto},
	}
	for _, tt := range tests {
		if got, err := ParseAlgo(tt.in); got != tt.want || err != nil {
			t.Errorf("ParseAlgo(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "rings", "bfs"} {
		if _, err := ParseAlgo(bad); !errors.Is(err, ErrSpec) {
			t.Errorf("ParseAlgo(%q) error = %v; want ErrSpec", bad, err)
		}
	}
	// Every algorithm's String parses back.
	for a := AlgoAuto; a <= RecursiveDoubling; a++ {
		if got, err := ParseAlgo(a.String()); got != a || err != nil {
			t.Errorf("ParseAlgo(%q) = %v, %v; want %v", a.String(), got, err, a)
		}
	}
}

func TestParseColl(t *testing.T) {
	for c := AllReduce; c <= SendRecv; c++ {
		if got, err := ParseColl(c.String()); got != c || err != nil {
			t.Errorf("ParseColl(%q) = %v, %v; want %v", c.String(), got, err, c)
		}
	}
	tests := []struct {
		in   string
		want Coll
	}{{"bcast", Broadcast}, {"All_Reduce", AllReduce}, {"reduce-scatter", ReduceScatter}, {"AllToAll", AllToAll}}
	for _, tt := range tests {
		if got, err := ParseColl(tt.in); got != tt.want || err != nil {
			t.Errorf("ParseColl(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
	if _, err := ParseColl("allreduse"); !errors.Is(err, ErrSpec) || !strings.Contains(err.Error(), `"allreduse"`) {
		t.Errorf("ParseColl(\"allreduse\") error = %v; want ErrSpec naming it", err)
	}
}
