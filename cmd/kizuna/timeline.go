package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/kizuna-hpc/kizuna/internal/diag"
)

const timelineUsage = `Usage: kizuna timeline merge DIR [-o FILE]

Merges the per-rank Chrome trace files that KIZUNA_TIMELINE=DIR made
(timeline-rank<R>-comm<ID>.json) into one trace, written to FILE (default
DIR/timeline.json; "-" for standard output). Open it in Perfetto
(ui.perfetto.dev) or chrome://tracing: one process per rank, one thread per
communicator, every operation with its steps, sends and receive waits.

Flags:
`

func runTimeline(args []string) error {
	if len(args) == 0 || args[0] != "merge" {
		fmt.Fprint(os.Stderr, timelineUsage)
		return exitCode(2)
	}
	fs := flag.NewFlagSet("timeline merge", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), timelineUsage)
		fs.PrintDefaults()
	}
	out := fs.String("o", "", "output `file` (default DIR/timeline.json; - for stdout)")
	// Accept the flags before or after DIR.
	rest := args[1:]
	var dir string
	for len(rest) > 0 {
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil
			}
			return exitCode(2)
		}
		if fs.NArg() == 0 {
			break
		}
		if dir != "" {
			fmt.Fprintln(os.Stderr, "kizuna timeline merge: give one directory")
			return exitCode(2)
		}
		dir, rest = fs.Arg(0), fs.Args()[1:]
	}
	if dir == "" {
		fmt.Fprint(os.Stderr, timelineUsage)
		return exitCode(2)
	}
	n, path, err := mergeTimeline(dir, *out, os.Stdout)
	if err != nil {
		return fmt.Errorf("timeline merge: %w", err)
	}
	if path != "-" {
		fmt.Fprintf(os.Stderr, "kizuna timeline: merged %d files into %s\n", n, path)
	}
	return nil
}

// mergeTimeline merges dir's timeline files into out (default
// dir/timeline.json; "-" writes to stdout) and returns how many files it
// merged and where it wrote.
func mergeTimeline(dir, out string, stdout io.Writer) (int, string, error) {
	if out == "" {
		out = filepath.Join(dir, "timeline.json")
	}
	if out == "-" {
		n, err := diag.MergeTimelines(dir, stdout)
		return n, out, err
	}
	tmp, err := os.CreateTemp(filepath.Dir(out), ".timeline-*")
	if err != nil {
		return 0, out, err
	}
	n, err := diag.MergeTimelines(dir, tmp)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), out)
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return n, out, err
}
