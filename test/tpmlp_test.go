package test

import (
	"fmt"
	"math"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// parseLosses reads the "step N loss X" lines: one per step, in order, X
// with at least 9 significant digits.
func parseLosses(t *testing.T, out string, steps int) []float64 {
	t.Helper()
	var losses []float64
	for line := range strings.Lines(out) {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != "step" {
			continue
		}
		if len(f) != 4 || f[1] != strconv.Itoa(len(losses)+1) || f[2] != "loss" {
			t.Fatalf("line %q; want \"step %d loss X\"", line, len(losses)+1)
		}
		mant, _, _ := strings.Cut(strings.TrimPrefix(f[3], "-"), "e")
		if digits := len(strings.TrimLeft(strings.ReplaceAll(mant, ".", ""), "0")); digits < 9 {
			t.Errorf("line %q: loss has %d significant digits; want at least 9", line, digits)
		}
		x, err := strconv.ParseFloat(f[3], 64)
		if err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		losses = append(losses, x)
	}
	if len(losses) != steps {
		t.Fatalf("%d step lines; want %d:\n%s", len(losses), steps, out)
	}
	return losses
}

// TestTPMLP: `kizuna run -np TP*DP -- tpmlp -tp TP -dp DP -steps 50` prints
// the losses of `kizuna run -np 1 -- tpmlp -tp 1 -dp 1 -steps 50`, within
// 1e-5 relative, at every step, for every layout; and the model learns.
func TestTPMLP(t *testing.T) {
	bin := buildProg(t, "../examples/tpmlp")
	const steps = 50
	args := func(tp, dp int) []string {
		return []string{"-np", strconv.Itoa(tp * dp), "--", bin, "-tp", strconv.Itoa(tp), "-dp", strconv.Itoa(dp), "-steps", strconv.Itoa(steps)}
	}
	want := parseLosses(t, runJob(t, args(1, 1)...), steps)
	if !(want[steps-1] < want[0]/3) {
		t.Fatalf("losses %v do not fall to a third in %d steps: the model does not learn, and equal losses would prove little", want, steps)
	}

	tests := []struct{ tp, dp int }{{1, 1}, {2, 1}, {1, 2}, {2, 2}, {4, 1}}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("tp%dxdp%d", tt.tp, tt.dp), func(t *testing.T) {
			out := runJob(t, args(tt.tp, tt.dp)...)
			if h := fmt.Sprintf("# tpmlp: %d ranks, tp=%d dp=%d,", tt.tp*tt.dp, tt.tp, tt.dp); !strings.Contains(out, h) {
				t.Errorf("output lacks %q (one header, from rank 0 of one job):\n%s", h, out)
			}
			got := parseLosses(t, out, steps)
			for s := range steps {
				if d := math.Abs(got[s]-want[s]) / want[s]; !(d <= 1e-5) {
					t.Errorf("tp=%d dp=%d: step %d loss %v; -np 1 gives %v (relative difference %.2g > 1e-5)", tt.tp, tt.dp, s+1, got[s], want[s], d)
				}
			}
		})
	}

	// Outside any launcher it runs alone, with the same losses.
	cmd := exec.Command(bin, "-steps", strconv.Itoa(steps))
	cmd.Env = launcherEnv()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("tpmlp alone: %v\n%s", err, out)
	}
	if got := parseLosses(t, string(out), steps); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("tpmlp alone: losses %v; want %v", got, want)
	}
}

// TestTPMLPBadLayout: a layout that does not fill the job fails on every
// rank with a message naming it.
func TestTPMLPBadLayout(t *testing.T) {
	bin := buildProg(t, "../examples/tpmlp")
	mark := newMark(t)
	cmd, stdout, stderr := startRun(t, mark, "", "-np", "3", "--", bin, "-tp", "2", "-dp", "2")
	err, ended := waitExit(cmd, 60*time.Second)
	if !ended || exitStatus(err) != 1 {
		t.Fatalf("kizuna run -np 3 -- tpmlp -tp 2 -dp 2: status %d (ended %v); want 1\n%s\n%s", exitStatus(err), ended, stdout, stderr)
	}
	if want := "-tp 2 x -dp 2 = 4 ranks, but the job has 3"; !strings.Contains(stderr.String(), want) {
		t.Errorf("stderr lacks %q:\n%s", want, stderr)
	}
	checkNoLeftovers(t, mark)
}
