package main

import (
	"bytes"
	"encoding/xml"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeKizuna prints `kizuna bench -json` rows for sizes -b..-e (doubling):
// busbw is 2 GB/s on the first run, 4 on the second, 40 on the third
// (median 4); time_us is 10, 20, 200; an in-place row with busbw 999 must
// be ignored.
const fakeKizuna = `#!/bin/sh
n=$(cat "$STATE/k" 2>/dev/null || echo 0); n=$((n+1)); echo $n > "$STATE/k"
case $n in 1) bw=2 t=10;; 2) bw=4 t=20;; *) bw=40 t=200;; esac
while [ $# -gt 0 ]; do case $1 in -b) b=$2;; -e) e=$2;; esac; shift; done
s=$b
while [ $s -le $e ]; do
  echo "{\"op\":\"allreduce\",\"bytes\":$s,\"inplace\":false,\"time_us\":$t,\"busbw_gbps\":$bw,\"wrong\":0}"
  echo "{\"op\":\"allreduce\",\"bytes\":$s,\"inplace\":true,\"time_us\":1,\"busbw_gbps\":999,\"wrong\":0}"
  s=$((s*2))
done
`

// fakePeer prints the peers script's columns: busbw 1, 1, 3 over three
// runs (median 1), time 40 us.
const fakePeer = `#!/bin/sh
n=$(cat "$STATE/p$1" 2>/dev/null || echo 0); n=$((n+1)); echo $n > "$STATE/p$1"
case $n in 3) bw=3;; *) bw=1;; esac
echo "op bytes time_us algbw busbw wrong"
s=$4
while [ $s -le $5 ]; do echo "$3 $s 40.0 $bw $bw 0"; s=$((s*2)); done
`

func TestPairedRatio(t *testing.T) {
	tests := []struct {
		name     string
		num, den []float64
		want     float64
	}{
		{"same runs", []float64{2, 40, 40}, []float64{1, 3, 1}, 40.0 / 3},
		{"even count", []float64{4, 6}, []float64{2, 2}, 2.5},
		{"uneven lengths use the common runs", []float64{1, 2, 100}, []float64{1, 1}, 1.5},
		{"a zero denominator is left out", []float64{3, 5, 7}, []float64{0, 1, 1}, 6},
	}
	for _, tt := range tests {
		if got := pairedRatio(tt.num, tt.den); math.Abs(got-tt.want) > 1e-9 {
			t.Errorf("%s: pairedRatio(%v, %v) = %v; want %v", tt.name, tt.num, tt.den, got, tt.want)
		}
	}
	if got := pairedRatio(nil, []float64{1}); !math.IsNaN(got) {
		t.Errorf("pairedRatio with no runs = %v; want NaN", got)
	}
}

func writeScript(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestRunMediansAndRatios runs the whole comparison against fake programs
// and checks the medians, ratios, latency row and chart.
func TestRunMediansAndRatios(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("STATE", dir)
	k := writeScript(t, dir, "kizuna", fakeKizuna)
	p := writeScript(t, dir, "run.sh", fakePeer)
	out := filepath.Join(dir, "cmp")
	var stdout, stderr bytes.Buffer
	args := []string{"-kizuna", k, "-peers-script", p, "-peers", "mpi-tcp,gloo", "-np", "2", "-b", "64", "-e", "128",
		"-runs", "3", "-latency", "-out", out}
	if err := run(args, &stdout, &stderr); err != nil {
		t.Fatalf("run(%q) = %v\n%s", args, err, stderr.String())
	}
	md, err := os.ReadFile(out + ".md")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(md, stdout.Bytes()) {
		t.Errorf("OUT.md differs from what was printed")
	}
	// Each run starts the latency measurement too: Kizuna ran 6 times, so
	// the sweeps are runs 1, 3, 5 (busbw 2, 40, 40: median 40) and the
	// latency runs 2, 4, 6 (time 20, 200, 200: median 200). The peer's
	// sweeps are its runs 1, 3, 5 (busbw 1, 3, 1: median 1).
	for _, want := range []string{
		"| size | Kizuna | mpi-tcp | gloo | Kizuna/mpi-tcp | Kizuna/gloo | run by run, mpi-tcp | run by run, gloo |\n",
		// Run by run: 2/1, 40/3, 40/1, median 13.33.
		"| 64B | 40.000 | 1.000 | 1.000 | 40.00x | 40.00x | 13.33x | 13.33x |\n",
		"| 128B | 40.000 | 1.000 | 1.000 | 40.00x | 40.00x | 13.33x | 13.33x |\n",
		// Run by run: 40/20, 40/200, 40/200, median 0.2.
		"| 8 B latency (us) | 200.0 | 40.0 | 40.0 | 0.20x | 0.20x | 0.20x | 0.20x |\n",
		"#### allreduce, np=2",
	} {
		if !strings.Contains(string(md), want) {
			t.Errorf("table lacks %q:\n%s", want, md)
		}
	}
	svg, err := os.ReadFile(out + ".svg")
	if err != nil {
		t.Fatal(err)
	}
	if err := xml.Unmarshal(svg, new(struct{})); err != nil {
		t.Errorf("chart is not XML: %v", err)
	}
	for _, name := range []string{"np=2 vs mpi-tcp", "np=2 vs gloo"} {
		if !bytes.Contains(svg, []byte(`data-name="`+name+`"`)) {
			t.Errorf("chart lacks series %q", name)
		}
	}

	// -replot redraws the same table and chart from OUT.json, running nothing.
	again := filepath.Join(dir, "again")
	stdout.Reset()
	if err := run([]string{"-replot", out + ".json", "-out", again, "-kizuna", "/nonexistent"}, &stdout, &stderr); err != nil {
		t.Fatalf("run(-replot) = %v", err)
	}
	md2, err1 := os.ReadFile(again + ".md")
	svg2, err2 := os.ReadFile(again + ".svg")
	if err1 != nil || err2 != nil {
		t.Fatalf("-replot wrote no files: %v %v", err1, err2)
	}
	if !bytes.Equal(md2, md) || !bytes.Equal(svg2, svg) {
		t.Errorf("-replot output differs from the run's:\n%s\nwant\n%s", md2, md)
	}
	if _, err := os.Stat(again + ".json"); err == nil {
		t.Error("-replot wrote a JSON file; want only the table and chart")
	}
}

func TestReplotErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"tables":[]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{filepath.Join(dir, "missing.json"), bad} {
		if err := run([]string{"-replot", path}, &bytes.Buffer{}, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "-replot") {
			t.Errorf("run(-replot %s) = %v; want an error naming -replot", path, err)
		}
	}
}

func TestRunPeerWrongIsError(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("STATE", dir)
	k := writeScript(t, dir, "kizuna", fakeKizuna)
	p := writeScript(t, dir, "run.sh", "#!/bin/sh\necho 'op bytes time_us algbw busbw wrong'\necho \"$3 64 1.0 1 1 5\"\n")
	var stdout, stderr bytes.Buffer
	err := run([]string{"-kizuna", k, "-peers-script", p, "-b", "64", "-e", "64", "-runs", "1"}, &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "wrong") {
		t.Errorf("run(peer with wrong elements) = %v; want an error about wrong elements", err)
	}
}

func TestParseFlagErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"-np", "1"}, "-np"},
		{[]string{"-op", "broadcast"}, "-op"},
		{[]string{"-peers", "nccl"}, "-peers"},
		{[]string{"-b", "1M", "-e", "1K"}, "min <= max"},
		{[]string{"-runs", "0"}, "-runs"},
		{[]string{"extra"}, "unexpected"},
	}
	for _, tt := range tests {
		_, err := parseFlags(tt.args, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("parseFlags(%q) = %v; want an error mentioning %q", tt.args, err, tt.want)
		}
	}
}

func TestParsePeer(t *testing.T) {
	out := []byte("op bytes time_us algbw busbw wrong\nallreduce 65536 75.3 0.871 0.871 0\nWarning: something\nallreduce 131072 196.4 0.667 0.667 0\n")
	pts, err := parsePeer(out)
	if err != nil || len(pts) != 2 || pts[1].bytes != 131072 || pts[1].busbw != 0.667 || pts[0].timeUS != 75.3 {
		t.Errorf("parsePeer() = %+v, %v; want 2 rows (65536: 75.3us; 131072: 0.667 GB/s)", pts, err)
	}
}
