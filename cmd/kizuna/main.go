// Command kizuna is Kizuna's command-line tool: `kizuna bench` measures
// collectives in nccl-tests' format, `kizuna run` launches a job's ranks,
// `kizuna version` prints the version.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/kizuna-hpc/kizuna/internal/version"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		var ec exitCode
		if errors.As(err, &ec) {
			os.Exit(int(ec))
		}
		fmt.Fprintln(os.Stderr, "kizuna:", err)
		os.Exit(2)
	}
}

// exitCode ends the program with a status and no further message.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

const usage = `kizuna: collective communication runtime

Usage:
  kizuna bench [flags]     benchmark collectives (nccl-tests conventions); -h for flags
  kizuna run -np N [flags] -- PROGRAM [ARGS...]
                           start N ranks of PROGRAM, here or on hosts; -h for flags
  kizuna topo -topology SPEC [flags]
                           analyse all-reduce schedules on a network; -h for flags
  kizuna sim (-topology SPEC | -preset fugaku|aurora) -op OP [flags]
                           predict collectives on a network model; -h for flags
  kizuna timeline merge DIR [-o FILE]
                           merge the ranks' KIZUNA_TIMELINE traces into one
  kizuna version           print the version

Run "kizuna bench -h" for the benchmark's flags.
`

func run(args []string) error {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, usage)
		return exitCode(2)
	}
	switch args[0] {
	case "bench":
		return runBench(args[1:])
	case "run":
		return runRun(args[1:])
	case "topo":
		return runTopo(args[1:])
	case "sim":
		return runSim(args[1:])
	case "timeline":
		return runTimeline(args[1:])
	case "agent": // hidden: started by `kizuna run` on remote hosts
		return runAgent(args[1:])
	case "version", "-version", "--version":
		fmt.Println("kizuna", version.String())
		return nil
	case "help", "-h", "-help", "--help":
		fmt.Print(usage)
		return nil
	}
	fmt.Fprintf(os.Stderr, "kizuna: unknown command %q\n\n%s", args[0], usage)
	return exitCode(2)
}
