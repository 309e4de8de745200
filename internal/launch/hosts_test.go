package launch

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseHosts(t *testing.T) {
	tests := []struct {
		in      string
		want    []Host
		wantErr bool
	}{
		{"a", []Host{{"a", 1}}, false},
		{"a:2,b,c:4", []Host{{"a", 2}, {"b", 1}, {"c", 4}}, false},
		{"a:2, a:3", []Host{{"a", 5}}, false},
		{"[fd00::1]:2,10.0.0.1:3", []Host{{"fd00::1", 2}, {"10.0.0.1", 3}}, false},
		{"fd00::1", []Host{{"fd00::1", 1}}, false},
		{"a:0", nil, true},
		{"a:x", nil, true},
		{":3", nil, true},
		{",", nil, true},
	}
	for _, tt := range tests {
		got, err := ParseHosts(tt.in)
		if (err != nil) != tt.wantErr || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseHosts(%q) = %v, %v; want %v (error %v)", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestParseHostfile(t *testing.T) {
	tests := []struct {
		in      string
		want    []Host
		wantErr bool
	}{
		{"a\nb slots=3\n\n# comment\nc:2 # trailing\n", []Host{{"a", 1}, {"b", 3}, {"c", 2}}, false},
		{"a slots=2 max_slots=4\na\n", []Host{{"a", 3}}, false},
		{"a slots=0\n", nil, true},
		{"a cpus=3\n", nil, true},
		{"# nothing\n", nil, true},
	}
	for _, tt := range tests {
		got, err := ParseHostfile(strings.NewReader(tt.in))
		if (err != nil) != tt.wantErr || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseHostfile(%q) = %v, %v; want %v (error %v)", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestPlace(t *testing.T) {
	type placed struct {
		host  string
		local bool
		ranks []int
		index int
	}
	tests := []struct {
		name    string
		np      int
		hosts   []Host
		want    []placed
		wantErr bool
	}{
		{"this host", 3, nil, []placed{{"localhost", true, []int{0, 1, 2}, 0}}, false},
		{"fill in order", 5, []Host{{"a", 2}, {"b", 2}, {"c", 4}},
			[]placed{{"a", false, []int{0, 1}, 0}, {"b", false, []int{2, 3}, 1}, {"c", false, []int{4}, 2}}, false},
		{"unused hosts left out", 2, []Host{{"a", 4}, {"b", 4}}, []placed{{"a", false, []int{0, 1}, 0}}, false},
		{"localhost is local", 2, []Host{{"localhost", 1}, {"b", 1}},
			[]placed{{"localhost", true, []int{0}, 0}, {"b", false, []int{1}, 1}}, false},
		{"too few slots", 5, []Host{{"a", 2}, {"b", 2}}, nil, true},
	}
	for _, tt := range tests {
		nodes, err := place(tt.np, tt.hosts)
		var got []placed
		for _, nd := range nodes {
			got = append(got, placed{nd.host, nd.local, nd.ranks, nd.index})
		}
		if (err != nil) != tt.wantErr || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: place(%d, %v) = %v, %v; want %v (error %v)", tt.name, tt.np, tt.hosts, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestRankList(t *testing.T) {
	tests := []struct {
		in   []int
		want string
	}{
		{[]int{0}, "0"},
		{[]int{0, 1, 2, 3}, "0-3"},
		{[]int{1, 4, 5, 7}, "1, 4-5, 7"},
	}
	for _, tt := range tests {
		if got := rankList(tt.in); got != tt.want {
			t.Errorf("rankList(%v) = %q; want %q", tt.in, got, tt.want)
		}
	}
}

func TestSplitCommand(t *testing.T) {
	tests := []struct {
		in      string
		want    []string
		wantErr bool
	}{
		{"ssh -o BatchMode=yes", []string{"ssh", "-o", "BatchMode=yes"}, false},
		{`ip netns exec {host}`, []string{"ip", "netns", "exec", "{host}"}, false},
		{`sh -c 'exec "$@"' x`, []string{"sh", "-c", `exec "$@"`, "x"}, false},
		{`a "b c" d\ e "\"q\""`, []string{"a", "b c", "d e", `"q"`}, false},
		{`a ''`, []string{"a", ""}, false},
		{`a 'b`, nil, true},
		{`a \`, nil, true},
	}
	for _, tt := range tests {
		got, err := splitCommand(tt.in)
		if (err != nil) != tt.wantErr || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("splitCommand(%q) = %q, %v; want %q (error %v)", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestRshArgv(t *testing.T) {
	tests := []struct {
		template, host string
		want           []string
	}{
		{"ssh -o BatchMode=yes", "n1", []string{"ssh", "-o", "BatchMode=yes", "n1", "/k", "agent"}},
		{"ip netns exec {host}", "ns0", []string{"ip", "netns", "exec", "ns0", "/k", "agent"}},
		{"env H={host} X={host}y", "h", []string{"env", "H=h", "X=hy", "/k", "agent"}},
	}
	for _, tt := range tests {
		got, err := rshArgv(tt.template, tt.host, []string{"/k", "agent"})
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("rshArgv(%q, %q) = %q, %v; want %q", tt.template, tt.host, got, err, tt.want)
		}
	}
}
