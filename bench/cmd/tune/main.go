package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
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
			fmt.Fprintln(os.Stderr, "tune:", err)
		}
		os.Exit(2)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("tune", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		variable = fs.String("var", "", "NAME=v1,v2,...: the environment variable and its candidate values")
		nps      = fs.String("np", "2", "comma list of rank counts")
		op       = fs.String("op", "allreduce", "collective (kizuna bench -op)")
		minB     = fs.String("b", "64K", "smallest size")
		maxB     = fs.String("e", "64M", "largest size")
		iters    = fs.Int("n", 10, "timed iterations per size")
		runs     = fs.Int("runs", 3, "runs per value; the table shows medians")
		kizuna   = fs.String("kizuna", "", "kizuna binary (default: go build ./cmd/kizuna)")
		tr       = fs.String("transport", "tcp", "kizuna bench -transport")
		extra    = fs.String("bench-args", "", "more kizuna bench flags, space separated (e.g. \"-algo ring\")")
	)
	if err := fs.Parse(args); err != nil {
		return err
	}
	name, list, ok := strings.Cut(*variable, "=")
	if !ok || name == "" || list == "" {
		return fmt.Errorf("-var %q: want NAME=v1,v2,...", *variable)
	}
	values := strings.Split(list, ",")
	var npList []int
	for _, s := range strings.Split(*nps, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 2 {
			return fmt.Errorf("-np %q: want rank counts of at least 2", *nps)
		}
		npList = append(npList, n)
	}
	if *runs < 1 {
		return fmt.Errorf("-runs %d: want at least 1", *runs)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	exe := *kizuna
	if exe == "" {
		dir, err := os.MkdirTemp("", "kizuna-tune-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		exe = filepath.Join(dir, "kizuna")
		if out, err := exec.CommandContext(ctx, "go", "build", "-o", exe, "./cmd/kizuna").CombinedOutput(); err != nil {
			return fmt.Errorf("go build ./cmd/kizuna (run from the repository root, or pass -kizuna): %v\n%s", err, out)
		}
	}
	load := bench.LoadAvg()
	start := time.Now()
	fmt.Fprintf(stdout, "`go run ./bench/cmd/tune %s` (load average before: %s)\n", strings.Join(args, " "), load)
	for _, np := range npList {
		// busbw[value][bytes] = one sample per run
		busbw := make([]map[int64][]float64, len(values))
		for i := range busbw {
			busbw[i] = map[int64][]float64{}
		}
		for r := 1; r <= *runs; r++ {
			for i, v := range values {
				fmt.Fprintf(stderr, "tune: np=%d run %d/%d: %s=%s\n", np, r, *runs, name, v)
				argv := []string{"bench", "-np", strconv.Itoa(np), "-op", *op, "-b", *minB, "-e", *maxB,
					"-n", strconv.Itoa(*iters), "-w", "2", "-c", "0", "-transport", *tr, "-json"}
				argv = append(argv, strings.Fields(*extra)...)
				cmd := exec.CommandContext(ctx, exe, argv...)
				cmd.Env = append(os.Environ(), name+"="+v)
				var errb bytes.Buffer
				cmd.Stderr = &errb
				out, err := cmd.Output()
				if err != nil {
					return fmt.Errorf("%s=%s kizuna %s: %v\n%s", name, v, strings.Join(argv, " "), err, errb.String())
				}
				dec := json.NewDecoder(bytes.NewReader(out))
				for {
					var row bench.Row
					if err := dec.Decode(&row); err == io.EOF {
						break
					} else if err != nil {
						return fmt.Errorf("kizuna bench output: %w", err)
					}
					if !row.InPlace {
						busbw[i][row.Bytes] = append(busbw[i][row.Bytes], row.BusBW)
					}
				}
			}
		}
		writeTable(stdout, fmt.Sprintf("%s, np=%d, %s", *op, np, name), values, busbw)
	}
	fmt.Fprintf(stdout, "\n(load average after: %s; %s)\n", bench.LoadAvg(), time.Since(start).Round(time.Second))
	return nil
}

// writeTable prints per size the median busbw of each value, the best in
// bold, and the geometric mean over sizes.
func writeTable(w io.Writer, title string, values []string, busbw []map[int64][]float64) {
	fmt.Fprintf(w, "\n%s (median busbw, GB/s)\n\n| size |", title)
	for _, v := range values {
		fmt.Fprintf(w, " %s |", v)
	}
	fmt.Fprintf(w, "\n|---:|%s\n", strings.Repeat("---:|", len(values)))
	var sizes []int64
	for b := range busbw[0] {
		sizes = append(sizes, b)
	}
	slices.Sort(sizes)
	logSum := make([]float64, len(values))
	for _, b := range sizes {
		med := make([]float64, len(values))
		best := 0
		for i := range values {
			med[i] = bench.Median(busbw[i][b])
			logSum[i] += math.Log(med[i])
			if med[i] > med[best] {
				best = i
			}
		}
		fmt.Fprintf(w, "| %s |", plot.FormatBytes(float64(b)))
		for i := range values {
			cell := strconv.FormatFloat(med[i], 'f', 3, 64)
			if i == best {
				cell = "**" + cell + "**"
			}
			fmt.Fprintf(w, " %s |", cell)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprint(w, "| geomean |")
	for i := range values {
		fmt.Fprintf(w, " %.3f |", math.Exp(logSum[i]/float64(len(sizes))))
	}
	fmt.Fprintln(w)
}
