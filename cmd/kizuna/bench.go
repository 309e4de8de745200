package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/kizuna-hpc/kizuna/bench"
	"github.com/kizuna-hpc/kizuna/collective"
	"github.com/kizuna-hpc/kizuna/collective/reduce"
	"github.com/kizuna-hpc/kizuna/collective/schedule"
	"github.com/kizuna-hpc/kizuna/internal/launch"
)

const benchUsage = `Usage: kizuna bench [flags]

Measures collectives with nccl-tests' conventions and checks every result
against a sequential reference. Without a launcher it starts -np local ranks:
separate processes (-transport auto, the default, picks shared memory
between them; tcp, shm) or goroutines (-transport inproc).
Started by a launcher (KIZUNA_RANK etc. set), it is one rank of the job.

-compare ring,tree runs every operation once per algorithm, and -transport
tcp,shm once per transport, all in one invocation; -plot FILE.svg draws
bus bandwidth against size with one line per algorithm, transport or
operation; -csv prints the -json fields as comma-separated rows.

Flags:
`

func runBench(args []string) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), benchUsage)
		fs.PrintDefaults()
	}
	def := bench.DefaultOptions()
	var (
		ops       = fs.String("op", "allreduce", "collective(s): allreduce, broadcast, reduce, allgather, reducescatter, alltoall, gather, scatter, sendrecv, barrier, a comma list, or all")
		np        = fs.Int("np", 4, "local ranks when not started by a launcher")
		minB      = fs.String("b", "8", "minimum size in bytes (K, M, G suffixes)")
		maxB      = fs.String("e", "32M", "maximum size in bytes (K, M, G suffixes)")
		factor    = fs.Int64("f", def.Factor, "size multiplier between rows")
		iters     = fs.Int("n", def.Iters, "timed iterations per size")
		warmup    = fs.Int("w", def.Warmup, "warmup iterations per size, and before the sweep at its largest and smallest size (as nccl-tests)")
		settleFor = fs.Duration("settle", def.Settle, "repeat each size's -w warmup iterations until they have taken at least this long (0: just -w)")
		check     = fs.Int("c", 1, "check results against the reference: 1 or 0")
		dtype     = fs.String("d", "float32", "data type: float32/f32, float64/f64, float16/f16, bfloat16/bf16, int8, uint8, int32, int64")
		redop     = fs.String("o", "sum", "reduction: sum, prod, min, max, avg")
		root      = fs.Int("r", 0, "root rank for rooted collectives")
		algo      = fs.String("algo", "auto", "algorithm: auto, ring, tree, hd, rd; with KIZUNA_TOPOLOGY also torus, hier, swing, multiring")
		compare   = fs.String("compare", "", "comma list of algorithms to run in turn (e.g. ring,tree,hd); overrides -algo")
		transport = fs.String("transport", "auto", "transport, or a comma list run in turn: tcp, shm (processes), inproc (goroutines), auto")
		jsonOut   = fs.Bool("json", false, "print one JSON object per row instead of the table")
		csvOut    = fs.Bool("csv", false, "print comma-separated rows (the -json fields, with a header line) instead of the table")
		plotFile  = fs.String("plot", "", "also write an SVG chart of bus bandwidth against size to this file")
	)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return exitCode(2)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("bench: unexpected argument %q", fs.Arg(0))
	}
	o := def
	var err error
	if o.Ops, err = bench.ParseOps(*ops); err != nil {
		return err
	}
	if o.MinBytes, err = bench.ParseBytes(*minB); err != nil {
		return fmt.Errorf("-b: %w", err)
	}
	if o.MaxBytes, err = bench.ParseBytes(*maxB); err != nil {
		return fmt.Errorf("-e: %w", err)
	}
	o.Factor, o.Iters, o.Warmup, o.Root, o.JSON, o.CSV = *factor, *iters, *warmup, *root, *jsonOut, *csvOut
	o.Settle = *settleFor
	switch *check {
	case 0, 1:
		o.Check = *check == 1
	default:
		return fmt.Errorf("-c %d: want 0 or 1", *check)
	}
	if o.DType, err = reduce.ParseDType(*dtype); err != nil {
		return fmt.Errorf("-d: %w", err)
	}
	if o.RedOp, err = reduce.ParseOp(*redop); err != nil {
		return fmt.Errorf("-o: %w", err)
	}
	if *algo != "auto" && *algo != "" {
		if o.Algo, err = schedule.ParseAlgo(*algo); err != nil {
			return fmt.Errorf("-algo: %w", err)
		}
	}
	if *compare != "" {
		if o.Compare, err = bench.ParseAlgos(*compare); err != nil {
			return err
		}
	}
	transports, err := parseTransports(*transport)
	if err != nil {
		return err
	}
	if *plotFile != "" && !strings.HasSuffix(strings.ToLower(*plotFile), ".svg") {
		return fmt.Errorf("-plot %q: want a file name ending in .svg", *plotFile)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if rowsFile := os.Getenv(envBenchRows); rowsFile != "" && collective.InLaunchedJob() {
		// One rank of a job that a local `kizuna bench` started for one of
		// its transports: the transport is in KIZUNA_TRANSPORT, and the
		// starting process writes the CSV header and the chart.
		o.NoHeader = true
		return benchRank(ctx, o, []string{transportAuto}, rowsFile, "")
	}
	if collective.InLaunchedJob() {
		return benchRank(ctx, o, transports, "", *plotFile)
	}
	if *np < 1 {
		return fmt.Errorf("-np %d: want at least 1", *np)
	}
	if err := o.Validate(*np); err != nil {
		return err
	}
	return benchLocal(ctx, *np, o, transports, args, *plotFile)
}

// transportAuto leaves the choice to the runtime (collective.TransportAuto).
const transportAuto = collective.TransportAuto

// envBenchRows is set by a local `kizuna bench` in the environment of the
// ranks it starts: rank 0 appends its rows there, as JSON lines, for the
// chart.
const envBenchRows = "KIZUNA_BENCH_ROWS_FILE"

// parseTransports parses -transport: a comma list of auto, tcp, shm and
// inproc, each at most once.
func parseTransports(s string) ([]string, error) {
	var out []string
	for _, t := range strings.Split(s, ",") {
		t = strings.ToLower(strings.TrimSpace(t))
		switch t {
		case "":
			t = transportAuto
		case transportAuto, collective.TransportTCP, collective.TransportInproc, collective.TransportShm:
		default:
			return nil, fmt.Errorf("-transport %q: want tcp, shm, inproc or auto, or a comma list of them", t)
		}
		if slices.Contains(out, t) {
			return nil, fmt.Errorf("-transport: %s listed twice", t)
		}
		out = append(out, t)
	}
	return out, nil
}

// benchLocal runs the sweep once per transport on np local ranks: goroutines
// for inproc, otherwise processes started from this program. It writes the
// CSV header once and the chart at the end.
func benchLocal(ctx context.Context, np int, o bench.Options, transports, args []string, plotFile string) error {
	if o.CSV {
		fmt.Println(strings.Join(bench.CSVHeader(), ","))
		o.NoHeader = true
	}
	dir, err := os.MkdirTemp("", "kizuna-bench-")
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	defer os.RemoveAll(dir)
	rowsFile := filepath.Join(dir, "rows.jsonl")
	var rows []bench.Row
	for _, t := range transports {
		if t == collective.TransportInproc {
			r, err := benchGoroutines(ctx, np, o)
			if err != nil {
				return err
			}
			rows = append(rows, r...)
			continue
		}
		if err := benchProcesses(ctx, np, args, t, rowsFile); err != nil {
			return err
		}
		r, err := readRows(rowsFile)
		if err != nil {
			return err
		}
		rows = append(rows, r...)
		if err := os.Remove(rowsFile); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("bench: %w", err)
		}
	}
	if plotFile != "" {
		return writePlot(plotFile, rows)
	}
	return nil
}

// readRows reads the JSON lines a rank 0 appended to path.
func readRows(path string) ([]bench.Row, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("bench: rows of the ranks' job: %w", err)
	}
	defer f.Close()
	var rows []bench.Row
	dec := json.NewDecoder(f)
	for {
		var r bench.Row
		if err := dec.Decode(&r); err == io.EOF {
			return rows, nil
		} else if err != nil {
			return nil, fmt.Errorf("bench: rows of the ranks' job: %w", err)
		}
		rows = append(rows, r)
	}
}

// appendRows appends rows to path as JSON lines.
func appendRows(path string, rows []bench.Row) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(f)
	for _, r := range rows {
		if err := enc.Encode(r); err != nil {
			f.Close()
			return err
		}
	}
	return f.Close()
}

// writePlot draws the rows' bus bandwidth chart into path.
func writePlot(path string, rows []bench.Row) error {
	var buf bytes.Buffer
	if err := bench.Chart(rows).WriteSVG(&buf); err != nil {
		return fmt.Errorf("-plot %s: %w", path, err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("-plot: %w", err)
	}
	return nil
}

// benchRank runs as one rank of a launched job, once per transport (a new
// communicator for each; with more than one, the job id gets the
// transport's name as a suffix so that the communicators never mix). Rank
// 0 appends its rows to rowsFile and draws plotFile, where those are set.
func benchRank(ctx context.Context, o bench.Options, transports []string, rowsFile, plotFile string) error {
	var rows []bench.Row
	var wrong int64
	for _, t := range transports {
		cfg, err := collective.ConfigFromEnv()
		if err != nil {
			return err
		}
		if t != transportAuto {
			cfg.Transport = t
		}
		if len(transports) > 1 {
			if cfg.JobID == "" {
				cfg.JobID = "default"
			}
			cfg.JobID += "-" + t
		}
		sum, rank, err := benchOnce(ctx, cfg, o)
		if err != nil {
			return err
		}
		if rank != 0 {
			continue
		}
		wrong += sum.Wrong
		rows = append(rows, sum.Rows...)
	}
	if len(rows) > 0 && rowsFile != "" {
		if err := appendRows(rowsFile, rows); err != nil {
			return fmt.Errorf("bench: %w", err)
		}
	}
	if len(rows) > 0 && plotFile != "" {
		if err := writePlot(plotFile, rows); err != nil {
			return err
		}
	}
	if wrong > 0 {
		fmt.Fprintf(os.Stderr, "kizuna bench: %d wrong elements\n", wrong)
		return exitCode(1)
	}
	return nil
}

// benchOnce runs the sweep on one communicator built from cfg.
func benchOnce(ctx context.Context, cfg collective.Config, o bench.Options) (*bench.Summary, int, error) {
	c, err := collective.New(ctx, cfg)
	if err != nil {
		return nil, -1, err
	}
	defer c.Close()
	sum, err := bench.Run(ctx, c, o, os.Stdout)
	if err != nil {
		return nil, c.Rank(), fmt.Errorf("rank %d: %w", c.Rank(), err)
	}
	return sum, c.Rank(), nil
}

// benchGoroutines runs np goroutine ranks over the in-process transport and
// returns rank 0's rows; wrong elements end it with exit status 1.
func benchGoroutines(ctx context.Context, np int, o bench.Options) ([]bench.Row, error) {
	var sum *bench.Summary
	err := collective.RunLocal(ctx, np, func(ctx context.Context, c *collective.Comm) error {
		s, err := bench.Run(ctx, c, o, os.Stdout)
		if err == nil && c.Rank() == 0 {
			sum = s
		}
		return err
	}, collective.WithTransport(collective.TransportInproc))
	if err != nil {
		return nil, err
	}
	if sum.Wrong > 0 {
		fmt.Fprintf(os.Stderr, "kizuna bench: %d wrong elements\n", sum.Wrong)
		return nil, exitCode(1)
	}
	return sum.Rows, nil
}

// benchProcesses starts np copies of this program as the ranks of a local
// job over transport (KIZUNA_TRANSPORT in their environment, unless auto);
// rank 0 appends its rows to rowsFile.
func benchProcesses(ctx context.Context, np int, args []string, transport, rowsFile string) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("bench: cannot find this program to start ranks: %w", err)
	}
	env := []string{envBenchRows + "=" + rowsFile}
	if transport != transportAuto {
		env = append(env, collective.EnvTransport+"="+transport)
	}
	err = launch.RunLocal(ctx, launch.Job{
		NP: np, Argv: append([]string{exe, "bench"}, args...), Env: env,
		Stdout: os.Stdout, Stderr: os.Stderr,
	})
	var ee *launch.ExitError
	if errors.As(err, &ee) {
		if ee.Status != 1 || ee.Rank != 0 {
			fmt.Fprintln(os.Stderr, "kizuna bench:", ee)
		}
		return exitCode(ee.Status)
	}
	return err
}
