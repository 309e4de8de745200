package launch

import (
	"context"
	"os"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kizuna-hpc/kizuna/internal/cpus"
)

// TestPolicies: KIZUNA_BIND and KIZUNA_SCHED, unset, set, set twice (the
// last wins, as in exec) and set to what neither knows.
func TestPolicies(t *testing.T) {
	tests := []struct {
		name    string
		f       func([]string) (string, error)
		env     []string
		want    string
		wantErr bool
	}{
		{"bindPolicy", bindPolicy, nil, "core", false},
		{"bindPolicy", bindPolicy, []string{"KIZUNA_BIND=core"}, "core", false},
		{"bindPolicy", bindPolicy, []string{"KIZUNA_BIND=none"}, "none", false},
		{"bindPolicy", bindPolicy, []string{"KIZUNA_BIND=none", "KIZUNA_BIND=core"}, "core", false},
		{"bindPolicy", bindPolicy, []string{"KIZUNA_BIND=socket"}, "", true},
		{"schedPolicy", schedPolicy, nil, "batch", false},
		{"schedPolicy", schedPolicy, []string{"KIZUNA_SCHED=batch"}, "batch", false},
		{"schedPolicy", schedPolicy, []string{"KIZUNA_SCHED=normal"}, "normal", false},
		{"schedPolicy", schedPolicy, []string{"KIZUNA_SCHED=normal", "KIZUNA_SCHED=batch"}, "batch", false},
		{"schedPolicy", schedPolicy, []string{"KIZUNA_SCHED=fifo"}, "", true},
	}
	for _, tt := range tests {
		got, err := tt.f(tt.env)
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("%s(%q) = %q, %v; want %q, error %v", tt.name, tt.env, got, err, tt.want, tt.wantErr)
		}
		if err != nil && !strings.Contains(err.Error(), strings.Split(tt.env[len(tt.env)-1], "=")[0]) {
			t.Errorf("%s(%q) error %q does not name the variable", tt.name, tt.env, err)
		}
	}
}

func TestBindSets(t *testing.T) {
	tests := []struct {
		name  string
		cpus  []int
		ranks int
		want  [][]int
	}{
		{"one each", []int{0, 1}, 2, [][]int{{0}, {1}}},
		{"shared out", []int{0, 1, 2, 3, 4, 5, 6, 7}, 4, [][]int{{0, 1}, {2, 3}, {4, 5}, {6, 7}}},
		{"rounded down", []int{2, 3, 5, 7, 11}, 2, [][]int{{2, 3}, {5, 7}}},
		{"one rank", []int{0, 1, 2}, 1, [][]int{{0, 1, 2}}},
		{"more ranks than cpus", []int{0, 1}, 4, nil},
		{"nothing known", nil, 2, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := bindSets(tt.cpus, tt.ranks)
			if !slices.EqualFunc(got, tt.want, slices.Equal) {
				t.Errorf("bindSets(%v, %d) = %v; want %v", tt.cpus, tt.ranks, got, tt.want)
			}
		})
	}
}

// TestRanksBound starts two ranks through the agent and reads the
// processors each may run on.
func TestRanksBound(t *testing.T) {
	if _, err := os.Stat("/proc/self/status"); err != nil || runtime.GOOS != "linux" {
		t.Skip("no /proc/self/status")
	}
	allowed := cpus.Allowed()
	if len(allowed) < 2 {
		t.Skipf("%d processors: two ranks are not bound", len(allowed))
	}
	if os.Getenv(EnvBind) != "" {
		t.Skipf("%s is set in the test's environment", EnvBind)
	}
	if os.Getenv(EnvSched) != "" {
		t.Skipf("%s is set in the test's environment", EnvSched)
	}
	if p, err := getScheduler(); err != nil || p != schedOther {
		t.Skipf("the test runs under scheduling policy %d (%v), not the normal one", p, err)
	}
	tests := []struct {
		name     string
		env      []string
		distinct bool
		policy   string // field 41 of /proc/self/stat (sched(7)): 0 normal, 3 batch
	}{
		{"bound", nil, true, "3"},
		{"bound normal", []string{"KIZUNA_SCHED=normal"}, true, "0"},
		{"none", []string{"KIZUNA_BIND=none"}, false, "0"},
	}
	re := regexp.MustCompile(`(?m)^Cpus_allowed_list:\s*(\S+)$`)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out lockedBuf
			// The policy is field 41 of stat; the command name (field 2)
			// is "(cat)", without spaces.
			err := RunLocal(context.Background(), Job{NP: 2, Env: tt.env,
				Argv:   sh(`cat /proc/self/status; echo policy=$(cut -d' ' -f41 /proc/self/stat); echo host_cpus=$KIZUNA_HOST_CPUS`),
				Stdout: &out, Stderr: &out, Grace: 500 * time.Millisecond})
			if err != nil {
				t.Fatalf("RunLocal() = %v; output %q", err, out.String())
			}
			for _, want := range []string{"policy=" + tt.policy, "host_cpus=" + strconv.Itoa(hostProcs())} {
				if n := strings.Count(out.String(), want+"\n"); n != 2 {
					t.Errorf("%q in %d ranks' output; want 2 (output %q)", want, n, out.String())
				}
			}
			var lists []string
			for _, m := range re.FindAllStringSubmatch(out.String(), -1) {
				lists = append(lists, m[1])
			}
			if len(lists) != 2 {
				t.Fatalf("found %d Cpus_allowed_list lines in %q; want 2", len(lists), out.String())
			}
			if tt.distinct {
				if lists[0] == lists[1] {
					t.Errorf("ranks may run on %q and %q; want disjoint processors", lists[0], lists[1])
				}
				return
			}
			if lists[0] != lists[1] {
				t.Errorf("with %v ranks may run on %q and %q; want the same, unbound", tt.env, lists[0], lists[1])
			}
		})
	}
}

// TestBindPlan: what an agent (and its host's launcher) decides from the
// environment: bound and SCHED_BATCH only with a processor per rank and
// neither policy turned off; a bad policy is an error.
func TestBindPlan(t *testing.T) {
	n := len(cpus.Allowed())
	if n < 1 {
		t.Skip("no CPU affinity mask here")
	}
	tests := []struct {
		name      string
		env       []string
		ranks     int
		bound     bool
		batch     bool
		wantError bool
	}{
		{"default", nil, n, true, true, false},
		{"sched normal", []string{"KIZUNA_SCHED=normal"}, n, true, false, false},
		{"bind none", []string{"KIZUNA_BIND=none"}, n, false, false, false},
		{"oversubscribed", nil, n + 1, false, false, false},
		{"bad sched", []string{"KIZUNA_SCHED=fifo"}, n, false, false, true},
		{"bad bind", []string{"KIZUNA_BIND=socket"}, n, false, false, true},
	}
	for _, tt := range tests {
		sets, batch, err := bindPlan(tt.env, tt.ranks)
		if (err != nil) != tt.wantError || (sets != nil) != tt.bound || batch != tt.batch {
			t.Errorf("%s: bindPlan(%q, %d) = %v, %v, %v; want bound %v, batch %v, error %v",
				tt.name, tt.env, tt.ranks, sets, batch, err, tt.bound, tt.batch, tt.wantError)
		}
	}
}
