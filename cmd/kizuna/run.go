package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/kizuna-hpc/kizuna/collective"
	"github.com/kizuna-hpc/kizuna/internal/launch"
)

const runUsage = `Usage: kizuna run -np N [-H host1:slots,host2:slots | -hostfile FILE] [-x VAR[=value]]...
                  [--tag-output] [--timeout DURATION] [--rsh COMMAND] [flags] -- PROGRAM [ARGS...]

Starts N ranks of PROGRAM, filling the hosts in order up to their slots
(this host only without -H or -hostfile), and serves the job's rendezvous
store. Every rank gets KIZUNA_RANK, KIZUNA_WORLD_SIZE, KIZUNA_LOCAL_RANK,
KIZUNA_LOCAL_WORLD_SIZE, KIZUNA_NODE_RANK, KIZUNA_MASTER_ADDR, KIZUNA_JOB_ID,
KIZUNA_EXTERNAL_STORE=1 and a fresh random KIZUNA_TOKEN, so that
collective.NewFromEnv connects with no other setup.

Output passes through a whole line at a time; standard input goes to rank 0.
When a rank fails, the others get SIGTERM, then SIGKILL after --grace, and
kizuna run exits with that rank's status (128+signal for a signal). SIGINT
and SIGTERM are forwarded to every rank (a second one kills them); the exit
status is then 128+signal; --timeout exits 124, a lost host 255, and a
command line or job that cannot start 2.

On --timeout, ranks whose communicator is open are first sent SIGUSR1 and
given up to 2s to write their flight records (KIZUNA_FLIGHT_DIR, a
directory of the job's own unless -x sets it); one summary then says which
rank waits in which operation, for whom, and which ranks are behind.
SIGUSR1 to kizuna run prints the same summary while the job goes on (when
every rank has a communicator open).
--timeline DIR records every rank's operations (KIZUNA_TIMELINE) and merges
them into DIR/timeline.json for Perfetto.

Ranks on other hosts start through --rsh, which runs "kizuna agent" (this
same binary, at the same path) on each host; {host} in --rsh is replaced by
the host name, else the name is added after it as ssh takes it. PROGRAM must
be at the same absolute path on every host.

Flags:
`

// envFlags collects repeated -x flags.
type envFlags []string

func (e *envFlags) String() string { return strings.Join(*e, ",") }

func (e *envFlags) Set(v string) error {
	name, _, _ := strings.Cut(v, "=")
	if name == "" || strings.ContainsAny(name, " \t\n") {
		return fmt.Errorf("want VAR or VAR=value, got %q", v)
	}
	*e = append(*e, v)
	return nil
}

// runConfig is the parsed command line of `kizuna run`.
type runConfig struct {
	job      launch.Job
	timeline string // --timeline: merge the ranks' traces here after the job
	warnings []string
}

func parseRun(args []string, stderr io.Writer) (runConfig, error) {
	var rc runConfig
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), runUsage)
		fs.PrintDefaults()
	}
	var (
		np         = fs.Int("np", 0, "number of ranks (default: the hosts' slots; required without -H/-hostfile)")
		hostList   = fs.String("H", "", "hosts to place ranks on, `host1:slots,host2:slots` (slots default 1)")
		hostfile   = fs.String("hostfile", "", "`file` of hosts, one per line: name [slots=N]")
		env        envFlags
		tag        = fs.Bool("tag-output", false, "prefix every output line with [rank]")
		timeout    = fs.String("timeout", "", "stop the job after this `duration` (90s, 10m, or seconds) and exit 124")
		rsh        = fs.String("rsh", launch.DefaultRsh, "remote shell `command` that starts the agent on another host; {host} is replaced by its name")
		masterAddr = fs.String("master-addr", "", "`host[:port]` for the rendezvous store (default: 127.0.0.1 on one host, every interface otherwise)")
		grace      = fs.Duration("grace", launch.DefaultGrace, "time between SIGTERM and SIGKILL when ranks are stopped")
		verbose    = fs.Bool("v", false, "print where ranks run and the addresses chosen")
		timeline   = fs.String("timeline", "", "record every rank's operations as a Chrome trace in `dir` (KIZUNA_TIMELINE) and merge them into dir/timeline.json after the job")
	)
	fs.Var(&env, "x", "export `VAR[=value]` to every rank (VAR alone copies this environment's value); repeatable")
	fs.StringVar(hostList, "host", "", "same as -H")
	if err := fs.Parse(args); err != nil {
		return rc, err
	}
	argv := fs.Args()
	if len(argv) == 0 {
		return rc, errors.New("run: no program (kizuna run -np N -- PROGRAM [ARGS...])")
	}
	if *hostList != "" && *hostfile != "" {
		return rc, errors.New("run: give -H or -hostfile, not both")
	}
	var hosts []launch.Host
	var err error
	switch {
	case *hostList != "":
		if hosts, err = launch.ParseHosts(*hostList); err != nil {
			return rc, fmt.Errorf("run: -H: %w", err)
		}
	case *hostfile != "":
		f, err := os.Open(*hostfile)
		if err != nil {
			return rc, fmt.Errorf("run: -hostfile: %w", err)
		}
		hosts, err = launch.ParseHostfile(f)
		f.Close()
		if err != nil {
			return rc, fmt.Errorf("run: -hostfile %s: %w", *hostfile, err)
		}
	}
	n := *np
	if n == 0 && hosts != nil {
		for _, h := range hosts {
			n += h.Slots
		}
	}
	if n < 1 {
		return rc, fmt.Errorf("run: -np %d: want at least 1 rank", *np)
	}
	var vars []string
	for _, kv := range env {
		if strings.Contains(kv, "=") {
			vars = append(vars, kv)
			continue
		}
		v, ok := os.LookupEnv(kv)
		if !ok {
			rc.warnings = append(rc.warnings, fmt.Sprintf("-x %s: not set here; not exported", kv))
			continue
		}
		vars = append(vars, kv+"="+v)
	}
	if *timeline != "" {
		abs, err := filepath.Abs(*timeline)
		if err != nil {
			return rc, fmt.Errorf("run: --timeline: %w", err)
		}
		rc.timeline = abs
		vars = append(vars, "KIZUNA_TIMELINE="+abs)
	}
	var d time.Duration
	if *timeout != "" {
		if d, err = collective.ParseDuration(*timeout); err != nil || d == 0 {
			return rc, fmt.Errorf("run: --timeout %q: want a positive duration (90s, 10m, or seconds)", *timeout)
		}
	}
	if *grace <= 0 {
		return rc, fmt.Errorf("run: --grace %v: want a positive duration", *grace)
	}
	rc.job = launch.Job{
		NP: n, Argv: argv, Env: vars, Hosts: hosts,
		Rsh: *rsh, MasterAddr: *masterAddr,
		TagOutput: *tag, Timeout: d, Grace: *grace, Verbose: *verbose,
	}
	return rc, nil
}

func runRun(args []string) error {
	rc, err := parseRun(args, os.Stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		if strings.HasPrefix(err.Error(), "run: ") {
			fmt.Fprintln(os.Stderr, "kizuna", err)
		}
		return exitCode(2)
	}
	for _, w := range rc.warnings {
		fmt.Fprintln(os.Stderr, "kizuna run:", w)
	}
	sigs := make(chan os.Signal, 2) // a second signal escalates to SIGKILL
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	dumps := make(chan os.Signal, 1) // SIGUSR1: print who waits for whom, go on
	signal.Notify(dumps, syscall.SIGUSR1)
	defer signal.Stop(dumps)

	stdin, closeStdin := rankStdin()
	defer closeStdin()
	job := rc.job
	job.Stdin, job.Stdout, job.Stderr, job.Signals, job.Dump = stdin, os.Stdout, os.Stderr, sigs, dumps
	err = launch.Run(context.Background(), job)
	if rc.timeline != "" { // whatever the outcome: the ranks that closed wrote theirs
		if n, path, merr := mergeTimeline(rc.timeline, "", os.Stdout); merr != nil {
			fmt.Fprintln(os.Stderr, "kizuna run: --timeline:", merr)
		} else {
			fmt.Fprintf(os.Stderr, "kizuna run: timeline (%d files merged) in %s; open it in ui.perfetto.dev\n", n, path)
		}
	}
	if err == nil {
		return nil
	}
	var st interface{ ExitStatus() int }
	if errors.As(err, &st) {
		fmt.Fprintln(os.Stderr, "kizuna run:", err)
		return exitCode(st.ExitStatus())
	}
	// The job could not start.
	fmt.Fprintln(os.Stderr, "kizuna run:", err)
	return exitCode(2)
}

// rankStdin returns this process's standard input for rank 0, reopened as
// its own pollable file where possible (a pipe or terminal, on Linux) so
// that the launcher can stop reading it when the job ends without changing
// the flags of the descriptor it shares with its parent.
func rankStdin() (io.Reader, func()) {
	if f, err := os.Open("/proc/self/fd/0"); err == nil {
		if f.SetReadDeadline(time.Time{}) == nil {
			return f, func() { f.Close() }
		}
		f.Close()
	}
	return os.Stdin, func() {}
}
