package launch

import (
	"strconv"
	"strings"
	"testing"
)

// FuzzParseHostfile checks that any hostfile either parses into hosts with
// names and positive slots, or fails with an error, and never panics; what
// parses survives a round trip through the "name slots=N" form.
func FuzzParseHostfile(f *testing.F) {
	for _, s := range []string{
		"a\nb slots=3\n\n# comment\nc:2 # trailing\n",
		"a slots=2 max_slots=4\na\n",
		"[fd00::1]:2\n10.0.0.1 slots=3\n",
		"a slots=x\n",
		"a:0\n",
		"a bogus=1\n",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		hosts, err := ParseHostfile(strings.NewReader(in))
		if err != nil {
			return
		}
		if len(hosts) == 0 {
			t.Fatalf("ParseHostfile(%q) = no hosts and no error", in)
		}
		var sb strings.Builder
		seen := map[string]bool{}
		for _, h := range hosts {
			if h.Name == "" || h.Slots < 1 {
				t.Fatalf("ParseHostfile(%q) = host %+v; want a name and positive slots", in, h)
			}
			if seen[h.Name] {
				t.Fatalf("ParseHostfile(%q) lists %q twice", in, h.Name)
			}
			seen[h.Name] = true
			if strings.ContainsAny(h.Name, ":#,[] \t") {
				return // names that need quoting do not round-trip; parsing them was enough
			}
			sb.WriteString(h.Name + " slots=" + strconv.Itoa(h.Slots) + "\n")
		}
		again, err := ParseHostfile(strings.NewReader(sb.String()))
		if err != nil || len(again) != len(hosts) {
			t.Fatalf("round trip of %q: ParseHostfile(%q) = %v, %v; want %v", in, sb.String(), again, err, hosts)
		}
		for i := range hosts {
			if again[i] != hosts[i] {
				t.Fatalf("round trip of %q: host %d = %+v; want %+v", in, i, again[i], hosts[i])
			}
		}
	})
}

// FuzzParseHosts checks the -H list parser the same way.
func FuzzParseHosts(f *testing.F) {
	for _, s := range []string{"a", "a:2,b,c:4", "a:2, a:3", "[fd00::1]:2,10.0.0.1:3", "fd00::1", "a:0", ":3", ","} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		hosts, err := ParseHosts(in)
		if err != nil {
			return
		}
		for _, h := range hosts {
			if h.Name == "" || h.Slots < 1 {
				t.Fatalf("ParseHosts(%q) = host %+v; want a name and positive slots", in, h)
			}
		}
	})
}
