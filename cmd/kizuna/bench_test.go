package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kizuna-hpc/kizuna/bench"
)

// TestBenchReportFlagErrors: the reporting flags refuse bad values with a
// message naming the flag.
func TestBenchReportFlagErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"-transport", "tcp,tcp"}, "twice"},
		{[]string{"-transport", "tcp,pigeon"}, "-transport"},
		{[]string{"-compare", "ring,bogus"}, "-compare"},
		{[]string{"-compare", "ring,ring"}, "twice"},
		{[]string{"-op", "allgather", "-compare", "ring,tree"}, "tree"},
		{[]string{"-plot", "out.png"}, "-plot"},
		{[]string{"-json", "-csv"}, "-csv"},
	}
	t.Setenv("KIZUNA_RANK", "")
	t.Setenv("KIZUNA_WORLD_SIZE", "")
	for _, tt := range tests {
		err := runBench(tt.args)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("runBench(%q) = %v; want an error mentioning %q", tt.args, err, tt.want)
		}
	}
}

// TestBenchCompareTransportsCSVPlot runs the built command with two
// transports (processes over TCP, goroutines in process) and two forced
// algorithms in one invocation: one CSV header, every combination's rows
// checked, and a chart with one line per combination.
func TestBenchCompareTransportsCSVPlot(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the command and starts processes")
	}
	dir := t.TempDir()
	exe := filepath.Join(dir, "kizuna")
	if out, err := exec.Command("go", "build", "-o", exe, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	svg := filepath.Join(dir, "busbw.svg")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe, "bench", "-np", "2", "-transport", "tcp,inproc", "-compare", "ring,tree",
		"-csv", "-plot", svg, "-b", "1K", "-e", "4K", "-f", "4", "-n", "2", "-w", "0")
	cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "KIZUNA_") })
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kizuna bench: %v\nstderr:\n%s", err, stderr.String())
	}
	recs, err := csv.NewReader(bytes.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatalf("output is not CSV: %v\n%s", err, out)
	}
	header := bench.CSVHeader()
	if !slices.Equal(recs[0], header) {
		t.Fatalf("first line %v; want the header %v", recs[0], header)
	}
	col := func(name string) int { return slices.Index(header, name) }
	got := map[string]int{}
	for _, rec := range recs[1:] {
		if slices.Equal(rec, header) {
			t.Fatalf("header repeated:\n%s", out)
		}
		if rec[col("wrong")] != "0" {
			t.Errorf("row %v: wrong elements", rec)
		}
		got[rec[col("transport")]+"/"+rec[col("choice")]]++
	}
	// sizes 1K, 4K x (out-of-place, in-place) for each combination
	want := map[string]int{"tcp/ring": 4, "tcp/tree": 4, "inproc/ring": 4, "inproc/tree": 4}
	if len(got) != len(want) {
		t.Fatalf("rows per transport/algo = %v; want %v", got, want)
	}
	for k, n := range want {
		if got[k] != n {
			t.Fatalf("rows per transport/algo = %v; want %v", got, want)
		}
	}
	pic, err := os.ReadFile(svg)
	if err != nil {
		t.Fatalf("-plot wrote no file: %v", err)
	}
	for _, name := range []string{"algo ring, tcp", "algo tree, tcp", "algo ring, inproc", "algo tree, inproc"} {
		if !bytes.Contains(pic, []byte(`data-name="`+name+`"`)) {
			t.Errorf("chart lacks the series %q", name)
		}
	}
}
