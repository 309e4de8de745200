package main

import (
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/kizuna-hpc/kizuna/internal/launch"
)

// TestParseRun: the command line becomes the job it says.
func TestParseRun(t *testing.T) {
	t.Setenv("KIZUNA_TEST_COPIED", "from-here")
	hostfile := filepath.Join(t.TempDir(), "hosts")
	if err := os.WriteFile(hostfile, []byte("n1 slots=2\nn2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args []string
		want launch.Job
	}{
		{[]string{"-np", "4", "--", "prog", "-a", "b"},
			launch.Job{NP: 4, Argv: []string{"prog", "-a", "b"}, Rsh: launch.DefaultRsh, Grace: launch.DefaultGrace}},
		{[]string{"-np", "2", "prog", "--flag"}, // no "--": the program's flags stay its own
			launch.Job{NP: 2, Argv: []string{"prog", "--flag"}, Rsh: launch.DefaultRsh, Grace: launch.DefaultGrace}},
		{[]string{"-H", "a:2,b", "-x", "A=1", "-x", "KIZUNA_TEST_COPIED", "-x", "KIZUNA_TEST_UNSET_VAR", "--tag-output",
			"--timeout", "90", "--rsh", "ip netns exec {host}", "--grace", "1s", "--master-addr", "10.0.0.1", "-v", "--", "prog"},
			launch.Job{NP: 3, Argv: []string{"prog"}, Hosts: []launch.Host{{Name: "a", Slots: 2}, {Name: "b", Slots: 1}},
				Env: []string{"A=1", "KIZUNA_TEST_COPIED=from-here"}, TagOutput: true, Timeout: 90 * time.Second,
				Rsh: "ip netns exec {host}", Grace: time.Second, MasterAddr: "10.0.0.1", Verbose: true}},
		{[]string{"-np", "2", "-hostfile", hostfile, "--", "prog"},
			launch.Job{NP: 2, Argv: []string{"prog"}, Hosts: []launch.Host{{Name: "n1", Slots: 2}, {Name: "n2", Slots: 1}},
				Rsh: launch.DefaultRsh, Grace: launch.DefaultGrace}},
	}
	for _, tt := range tests {
		rc, err := parseRun(tt.args, io.Discard)
		if err != nil || !reflect.DeepEqual(rc.job, tt.want) {
			t.Errorf("parseRun(%q) = %+v, %v; want %+v", tt.args, rc.job, err, tt.want)
		}
	}
}

// TestParseRunErrors: bad command lines are refused with a message naming
// what is wrong.
func TestParseRunErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"-np", "2"}, "no program"},
		{[]string{"--", "prog"}, "-np"},
		{[]string{"-np", "2", "-H", "a", "-hostfile", "f", "--", "prog"}, "not both"},
		{[]string{"-np", "2", "-H", "a:zero", "--", "prog"}, "-H"},
		{[]string{"-np", "2", "-hostfile", "/no/such/hostfile", "--", "prog"}, "-hostfile"},
		{[]string{"-np", "2", "--timeout", "later", "--", "prog"}, "--timeout"},
		{[]string{"-np", "2", "--timeout", "0", "--", "prog"}, "--timeout"},
		{[]string{"-np", "2", "--grace", "-1s", "--", "prog"}, "--grace"},
		{[]string{"-np", "2", "-x", "=v", "--", "prog"}, "VAR"},
	}
	for _, tt := range tests {
		_, err := parseRun(tt.args, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("parseRun(%q) = %v; want an error mentioning %q", tt.args, err, tt.want)
		}
	}
}
