package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestRunSchedBatch starts `kizuna run -np 2` on a host with a processor
// per rank and reads, from each rank, the scheduling policy (field 41 of
// /proc/PID/stat: 0 normal, 3 SCHED_BATCH) of the rank, of its agent and
// of the launcher: all under SCHED_BATCH by default, none with
// -x KIZUNA_SCHED=normal.
func TestRunSchedBatch(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the command and starts processes")
	}
	if runtime.GOOS != "linux" || runtime.NumCPU() < 2 {
		t.Skipf("%s with %d processors: ranks are not bound", runtime.GOOS, runtime.NumCPU())
	}
	self, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		t.Skip(err)
	}
	if f := strings.Fields(string(self)); len(f) < 41 || f[40] != "0" {
		t.Skip("the test does not run under the normal scheduling policy")
	}
	dir := t.TempDir()
	exe := filepath.Join(dir, "kizuna")
	if out, err := exec.Command("go", "build", "-o", exe, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	// The rank is the shell; its parent is the agent, whose parent is the
	// launcher. No field before 41 holds a space for these commands.
	script := `agent=$PPID; launcher=$(cut -d' ' -f4 /proc/$agent/stat); ` +
		`echo "policy rank=$(cut -d' ' -f41 /proc/self/stat) agent=$(cut -d' ' -f41 /proc/$agent/stat) launcher=$(cut -d' ' -f41 /proc/$launcher/stat)"`
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"default", nil, "policy rank=3 agent=3 launcher=3"},
		{"normal", []string{"-x", "KIZUNA_SCHED=normal"}, "policy rank=0 agent=0 launcher=0"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			args := append([]string{"run", "-np", "2"}, tt.args...)
			cmd := exec.CommandContext(ctx, exe, append(args, "--", "sh", "-c", script)...)
			cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "KIZUNA_") })
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("kizuna run: %v\nstderr:\n%s", err, stderr.String())
			}
			if n := strings.Count(string(out), tt.want+"\n"); n != 2 {
				t.Errorf("%q from %d ranks; want 2. Output:\n%s", tt.want, n, out)
			}
		})
	}
}
