package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/kizuna-hpc/kizuna/bench"
	"github.com/kizuna-hpc/kizuna/bench/plot"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "compare:", err)
		}
		os.Exit(2)
	}
}

// kizunaName is the implementation name of Kizuna in tables and charts.
const kizunaName = "Kizuna"

// config is what the flags select.
type config struct {
	nps         []int
	ops         []string
	minB, maxB  int64
	iters, runs int
	peers       []string
	transport   string // Kizuna's transport (kizuna bench -transport)
	latency     bool
	latIters    int
	out         string // OUT.md and OUT.svg; "" writes the table to stdout only
	kizuna      string // kizuna binary; "" builds ./cmd/kizuna
	peersScript string
	timeout     time.Duration
	replot      string   // redraw OUT.md and OUT.svg from this OUT.json
	args        []string // the command line, for the report
}

func parseFlags(args []string, stderr io.Writer) (*config, error) {
	fs := flag.NewFlagSet("compare", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		nps       = fs.String("np", "2", "comma list of rank counts")
		ops       = fs.String("op", "allreduce", "comma list: allreduce, allgather, reducescatter")
		minB      = fs.String("b", "64K", "smallest size (K, M suffixes); sizes double up to -e")
		maxB      = fs.String("e", "64M", "largest size")
		iters     = fs.Int("n", 20, "timed iterations per size (the peers use a quarter, at least 2, from 16 MiB)")
		runs      = fs.Int("runs", 3, "runs of each library; the table shows medians")
		peers     = fs.String("peers", "mpi-tcp", "comma list of peers: mpi-tcp, mpi-shm, gloo (gloo: allreduce only)")
		transport = fs.String("transport", "tcp", "Kizuna's transport (kizuna bench -transport)")
		latency   = fs.Bool("latency", false, "also measure the 8-byte operation's time")
		latIters  = fs.Int("latency-n", 500, "iterations of the 8-byte measurement")
		out       = fs.String("out", "", "write OUT.md (the table) and OUT.svg (the ratio chart)")
		kizuna    = fs.String("kizuna", "", "kizuna binary (default: go build ./cmd/kizuna)")
		script    = fs.String("peers-script", defaultPeersScript(), "the peers' run.sh")
		timeout   = fs.Duration("timeout", 15*time.Minute, "limit for each program run")
		replot    = fs.String("replot", "", "measure nothing: rewrite the table and chart from the OUT.json of an earlier run (into -out, default the same OUT)")
	)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	c := &config{iters: *iters, runs: *runs, transport: *transport, latency: *latency, latIters: *latIters,
		out: *out, kizuna: *kizuna, peersScript: *script, timeout: *timeout, replot: *replot, args: args}
	for _, s := range strings.Split(*nps, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 2 {
			return nil, fmt.Errorf("-np %q: want rank counts of at least 2", *nps)
		}
		c.nps = append(c.nps, n)
	}
	for _, s := range strings.Split(*ops, ",") {
		s = strings.TrimSpace(s)
		switch s {
		case "allreduce", "allgather", "reducescatter":
		default:
			return nil, fmt.Errorf("-op %q: want allreduce, allgather or reducescatter", s)
		}
		c.ops = append(c.ops, s)
	}
	for _, s := range strings.Split(*peers, ",") {
		s = strings.TrimSpace(s)
		switch s {
		case "":
			continue
		case "mpi-tcp", "mpi-shm", "gloo":
		default:
			return nil, fmt.Errorf("-peers %q: want mpi-tcp, mpi-shm or gloo", s)
		}
		c.peers = append(c.peers, s)
	}
	var err error
	if c.minB, err = bench.ParseBytes(*minB); err != nil {
		return nil, fmt.Errorf("-b: %w", err)
	}
	if c.maxB, err = bench.ParseBytes(*maxB); err != nil {
		return nil, fmt.Errorf("-e: %w", err)
	}
	switch {
	case c.minB < 4 || c.maxB < c.minB:
		return nil, fmt.Errorf("-b %d -e %d: want 4 <= min <= max", c.minB, c.maxB)
	case c.iters < 1 || c.latIters < 1:
		return nil, fmt.Errorf("-n %d -latency-n %d: want at least 1", c.iters, c.latIters)
	case c.runs < 1:
		return nil, fmt.Errorf("-runs %d: want at least 1", c.runs)
	}
	return c, nil
}

// defaultPeersScript is ../shared/peers/run.sh from the repository root (the
// working directory of `go run ./bench/cmd/compare`).
func defaultPeersScript() string {
	return filepath.Join("..", "shared", "peers", "run.sh")
}

func run(args []string, stdout, stderr io.Writer) error {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	if cfg.replot != "" {
		rep, err := loadReport(cfg.replot)
		if err != nil {
			return err
		}
		if cfg.out == "" {
			cfg.out = strings.TrimSuffix(cfg.replot, ".json")
		}
		return rep.write(cfg.out, stdout, false)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if cfg.kizuna == "" {
		dir, err := os.MkdirTemp("", "kizuna-compare-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		cfg.kizuna = filepath.Join(dir, "kizuna")
		if out, err := exec.CommandContext(ctx, "go", "build", "-o", cfg.kizuna, "./cmd/kizuna").CombinedOutput(); err != nil {
			return fmt.Errorf("go build ./cmd/kizuna (run from the repository root, or pass -kizuna): %v\n%s", err, out)
		}
	}
	r := &runner{cfg: cfg, log: stderr}
	rep := report{Machine: bench.Machine(), Args: cfg.args, Runs: cfg.runs, Iters: cfg.iters, Transport: cfg.transport,
		LoadBefore: bench.LoadAvg(), DistanceBefore: bench.DescribeDistance(), Start: time.Now()}
	for _, op := range cfg.ops {
		for _, np := range cfg.nps {
			t, err := r.compare(ctx, op, np)
			if err != nil {
				return err
			}
			rep.Tables = append(rep.Tables, t)
		}
	}
	rep.LoadAfter = bench.LoadAvg()
	rep.Elapsed = time.Since(rep.Start)
	rep.DistanceAfter = bench.DescribeDistance()
	return rep.write(cfg.out, stdout, true)
}

// write prints the markdown table and, with out set, writes OUT.md,
// OUT.svg and (with data) OUT.json, the measurements for -replot.
func (rep *report) write(out string, stdout io.Writer, data bool) error {
	var md bytes.Buffer
	rep.writeMarkdown(&md)
	if _, err := stdout.Write(md.Bytes()); err != nil {
		return err
	}
	if out == "" {
		return nil
	}
	if err := os.WriteFile(out+".md", md.Bytes(), 0o644); err != nil {
		return err
	}
	var svg bytes.Buffer
	if err := rep.chart().WriteSVG(&svg); err != nil {
		return fmt.Errorf("chart: %w", err)
	}
	if err := os.WriteFile(out+".svg", svg.Bytes(), 0o644); err != nil {
		return err
	}
	if !data {
		return nil
	}
	js, err := json.MarshalIndent(rep, "", " ")
	if err != nil {
		return err
	}
	return os.WriteFile(out+".json", append(js, '\n'), 0o644)
}

// loadReport reads the OUT.json of an earlier run.
func loadReport(path string) (*report, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("-replot: %w", err)
	}
	rep := new(report)
	if err := json.Unmarshal(b, rep); err != nil {
		return nil, fmt.Errorf("-replot %s: %w", path, err)
	}
	if len(rep.Tables) == 0 {
		return nil, fmt.Errorf("-replot %s: no measurements", path)
	}
	for _, t := range rep.Tables {
		if len(t.Impls) == 0 || t.Impls[0] != kizunaName || t.BusBW[kizunaName] == nil {
			return nil, fmt.Errorf("-replot %s: table %s np=%d lacks %s's measurements", path, t.Op, t.NP, kizunaName)
		}
	}
	return rep, nil
}

// table is one operation at one rank count: per implementation and size,
// the bus bandwidths of every run; and the 8-byte times.
type table struct {
	Op    string                         `json:"op"`
	NP    int                            `json:"np"`
	Impls []string                       `json:"impls"` // Kizuna first, then the peers that ran
	BusBW map[string]map[int64][]float64 `json:"busbw_gbps"`
	LatUS map[string][]float64           `json:"latency_us,omitempty"`
	LatB  int64                          `json:"latency_bytes"` // size of the latency runs
}

// latencyBytes is the size of the latency measurement: 8 bytes for
// all-reduce, one float32 per rank for the per-rank collectives (their
// size counts every rank's block).
func latencyBytes(op string, np int) int64 {
	if op == "allreduce" {
		return 8
	}
	return 4 * int64(np)
}

type runner struct {
	cfg *config
	log io.Writer
}

// compare runs every implementation cfg.runs times, interleaved.
func (r *runner) compare(ctx context.Context, op string, np int) (*table, error) {
	t := &table{Op: op, NP: np, Impls: []string{kizunaName}, BusBW: map[string]map[int64][]float64{}, LatUS: map[string][]float64{},
		LatB: latencyBytes(op, np)}
	for _, p := range r.cfg.peers {
		if p == "gloo" && op != "allreduce" {
			fmt.Fprintf(r.log, "compare: gloo has no %s here; left out\n", op)
			continue
		}
		t.Impls = append(t.Impls, p)
	}
	for _, impl := range t.Impls {
		t.BusBW[impl] = map[int64][]float64{}
	}
	for run := 1; run <= r.cfg.runs; run++ {
		for _, impl := range t.Impls {
			fmt.Fprintf(r.log, "compare: %s np=%d run %d/%d: %s\n", op, np, run, r.cfg.runs, impl)
			pts, err := r.measure(ctx, impl, op, np, r.cfg.minB, r.cfg.maxB, r.cfg.iters)
			if err != nil {
				return nil, err
			}
			for _, p := range pts {
				t.BusBW[impl][p.bytes] = append(t.BusBW[impl][p.bytes], p.busbw)
			}
			if r.cfg.latency {
				lat, err := r.measure(ctx, impl, op, np, t.LatB, t.LatB, r.cfg.latIters)
				if err != nil {
					return nil, err
				}
				if len(lat) != 1 {
					return nil, fmt.Errorf("%s %s np=%d: %d rows for the 8-byte run; want 1", impl, op, np, len(lat))
				}
				t.LatUS[impl] = append(t.LatUS[impl], lat[0].timeUS)
			}
		}
	}
	return t, nil
}

// point is one measured size.
type point struct {
	bytes  int64
	timeUS float64
	busbw  float64
}

// measure runs one implementation once over a size sweep.
func (r *runner) measure(ctx context.Context, impl, op string, np int, minB, maxB int64, iters int) ([]point, error) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.timeout)
	defer cancel()
	var cmd *exec.Cmd
	if impl == kizunaName {
		cmd = exec.CommandContext(ctx, r.cfg.kizuna, "bench", "-np", strconv.Itoa(np), "-op", op,
			"-b", strconv.FormatInt(minB, 10), "-e", strconv.FormatInt(maxB, 10), "-n", strconv.Itoa(iters), "-w", "2",
			"-transport", r.cfg.transport, "-json")
	} else {
		cmd = exec.CommandContext(ctx, r.cfg.peersScript, impl, strconv.Itoa(np), op,
			strconv.FormatInt(minB, 10), strconv.FormatInt(maxB, 10), strconv.Itoa(iters))
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%s: %w\n%s", strings.Join(cmd.Args, " "), err, stderr.String())
	}
	var pts []point
	if impl == kizunaName {
		pts, err = parseKizuna(out)
	} else {
		pts, err = parsePeer(out)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", strings.Join(cmd.Args, " "), err)
	}
	return pts, nil
}

// parseKizuna reads `kizuna bench -json` output: the out-of-place rows.
func parseKizuna(out []byte) ([]point, error) {
	var pts []point
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var row bench.Row
		if err := dec.Decode(&row); err == io.EOF {
			break
		} else if err != nil {
			return nil, fmt.Errorf("kizuna bench output: %w", err)
		}
		if row.Wrong != 0 {
			return nil, fmt.Errorf("kizuna bench: %d wrong elements at %d bytes", row.Wrong, row.Bytes)
		}
		if !row.InPlace {
			pts = append(pts, point{bytes: row.Bytes, timeUS: row.TimeUS, busbw: row.BusBW})
		}
	}
	if len(pts) == 0 {
		return nil, errors.New("kizuna bench printed no rows")
	}
	return pts, nil
}

// parsePeer reads the peers script's columns: op bytes time_us algbw busbw
// wrong, after a header line.
func parsePeer(out []byte) ([]point, error) {
	var pts []point
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 6 || f[0] == "op" {
			continue
		}
		b, err1 := strconv.ParseInt(f[1], 10, 64)
		us, err2 := strconv.ParseFloat(f[2], 64)
		bus, err3 := strconv.ParseFloat(f[4], 64)
		wrong, err4 := strconv.ParseInt(f[5], 10, 64)
		if err := errors.Join(err1, err2, err3, err4); err != nil {
			return nil, fmt.Errorf("peer line %q: %w", sc.Text(), err)
		}
		if wrong != 0 {
			return nil, fmt.Errorf("peer: %d wrong elements at %d bytes", wrong, b)
		}
		pts = append(pts, point{bytes: b, timeUS: us, busbw: bus})
	}
	if len(pts) == 0 {
		return nil, fmt.Errorf("peer printed no rows:\n%s", out)
	}
	return pts, sc.Err()
}

// sizes lists the sizes every implementation measured, ascending.
func (t *table) sizes() []int64 {
	var out []int64
	for b := range t.BusBW[kizunaName] {
		out = append(out, b)
	}
	slices.Sort(out)
	return out
}

// ratio is Kizuna's median busbw over the peer's at size b.
func (t *table) ratio(peer string, b int64) float64 {
	return bench.Median(t.BusBW[kizunaName][b]) / bench.Median(t.BusBW[peer][b])
}

// pairedRatio is the median over runs of num[i]/den[i]: each run's
// measurements of two libraries were taken one after the other, seconds
// apart, so a ratio within a run compares them in the same state of the
// machine, whose speed changes by 2-3x from one minute to the next
// (docs/performance.md, "Latest results").
func pairedRatio(num, den []float64) float64 {
	rs := make([]float64, 0, min(len(num), len(den)))
	for i := range min(len(num), len(den)) {
		if den[i] > 0 {
			rs = append(rs, num[i]/den[i])
		}
	}
	return bench.Median(rs)
}

// report is what a comparison measured, and what OUT.json keeps.
type report struct {
	Machine    string   `json:"machine"`
	Args       []string `json:"args"`
	Runs       int      `json:"runs"`
	Iters      int      `json:"iters"`
	Transport  string   `json:"transport"`
	Tables     []*table `json:"tables"`
	LoadBefore string   `json:"load_before"`
	LoadAfter  string   `json:"load_after"`
	// DistanceBefore and DistanceAfter: bench.MeasureDistance between
	// processors 0 and 1, or why not; "" in reports from before it.
	DistanceBefore string        `json:"distance_before,omitempty"`
	DistanceAfter  string        `json:"distance_after,omitempty"`
	Start          time.Time     `json:"start"`
	Elapsed        time.Duration `json:"elapsed_ns"`
}

func (rep *report) writeMarkdown(w io.Writer) {
	fmt.Fprintf(w, "Measured %s on %s. Command: `go run ./bench/cmd/compare %s`.\n",
		rep.Start.UTC().Format("2006-01-02 15:04 MST"), rep.Machine, strings.Join(rep.Args, " "))
	fmt.Fprintf(w, "Load average (1, 5, 15 min) before: %s; after: %s; %s in all. "+
		"Medians of %d runs per library, interleaved; bus bandwidth in GB/s (1e9 B/s, nccl-tests' busbw); "+
		"Kizuna over %s, out-of-place, %d iterations per size (peers: %d, a quarter from 16 MiB).\n",
		rep.LoadBefore, rep.LoadAfter, rep.Elapsed.Round(time.Second), rep.Runs, rep.Transport, rep.Iters, rep.Iters)
	if rep.DistanceBefore != "" {
		fmt.Fprintf(w, "Processors 0 and 1 (`go run ./bench/cmd/distance`) before: %s; after: %s.\n",
			rep.DistanceBefore, rep.DistanceAfter)
	}
	for _, t := range rep.Tables {
		fmt.Fprintf(w, "\n#### %s, np=%d\n\n", t.Op, t.NP)
		peers := t.Impls[1:]
		fmt.Fprint(w, "| size |")
		for _, impl := range t.Impls {
			fmt.Fprintf(w, " %s |", impl)
		}
		for _, p := range peers {
			fmt.Fprintf(w, " %s/%s |", kizunaName, p)
		}
		for _, p := range peers {
			fmt.Fprintf(w, " run by run, %s |", p)
		}
		fmt.Fprint(w, "\n|---:|")
		fmt.Fprint(w, strings.Repeat("---:|", len(t.Impls)+2*len(peers)))
		fmt.Fprintln(w)
		for _, b := range t.sizes() {
			fmt.Fprintf(w, "| %s |", plot.FormatBytes(float64(b)))
			for _, impl := range t.Impls {
				fmt.Fprintf(w, " %s |", fmtVal(bench.Median(t.BusBW[impl][b]), 3))
			}
			for _, p := range peers {
				fmt.Fprintf(w, " %s |", fmtRatio(t.ratio(p, b)))
			}
			for _, p := range peers {
				fmt.Fprintf(w, " %s |", fmtRatio(pairedRatio(t.BusBW[kizunaName][b], t.BusBW[p][b])))
			}
			fmt.Fprintln(w)
		}
		if len(t.LatUS[kizunaName]) > 0 {
			fmt.Fprintf(w, "| %d B latency (us) |", t.LatB)
			for _, impl := range t.Impls {
				fmt.Fprintf(w, " %s |", fmtVal(bench.Median(t.LatUS[impl]), 1))
			}
			for _, p := range peers {
				// time ratio inverted: above 1 means Kizuna is faster
				fmt.Fprintf(w, " %s |", fmtRatio(bench.Median(t.LatUS[p])/bench.Median(t.LatUS[kizunaName])))
			}
			for _, p := range peers {
				fmt.Fprintf(w, " %s |", fmtRatio(pairedRatio(t.LatUS[p], t.LatUS[kizunaName])))
			}
			fmt.Fprintln(w)
		}
	}
	if rep.anyLatency() {
		fmt.Fprintln(w, "\nLatency rows give the mean time of one operation in microseconds, and their ratio is peer time / Kizuna time, so that above 1 means Kizuna is faster, as for bandwidth.")
	}
	if len(rep.Tables) > 0 {
		fmt.Fprintln(w, "\nKizuna/peer is the ratio of the medians; \"run by run\" is the median of the ratios within each run (Kizuna's and the peer's sweeps of one run ran back to back), which compares the two in the same state of the machine.")
	}
}

func (rep *report) anyLatency() bool {
	for _, t := range rep.Tables {
		if len(t.LatUS[kizunaName]) > 0 {
			return true
		}
	}
	return false
}

// chart draws Kizuna/peer busbw ratios against size, one line per
// (operation, ranks, peer), with a reference line at 1.
func (rep *report) chart() *plot.Chart {
	c := &plot.Chart{Title: "Kizuna bus bandwidth / peer bus bandwidth (above 1: Kizuna faster)",
		XLabel: "message size (bytes, log2 scale)", YLabel: "busbw ratio (log2 scale)", LogX: true, LogY: true, XBytes: true, RefY: []float64{1}}
	ops := map[string]bool{}
	for _, t := range rep.Tables {
		ops[t.Op] = true
	}
	for _, t := range rep.Tables {
		for _, p := range t.Impls[1:] {
			s := plot.Series{Name: fmt.Sprintf("np=%d vs %s", t.NP, p)}
			if len(ops) > 1 {
				s.Name = t.Op + " " + s.Name
			}
			for _, b := range t.sizes() {
				s.X = append(s.X, float64(b))
				s.Y = append(s.Y, t.ratio(p, b))
			}
			c.Series = append(c.Series, s)
		}
	}
	return c
}

func fmtVal(v float64, prec int) string {
	if v != v {
		return "-"
	}
	return strconv.FormatFloat(v, 'f', prec, 64)
}

func fmtRatio(v float64) string {
	if v != v {
		return "-"
	}
	return strconv.FormatFloat(v, 'f', 2, 64) + "x"
}
