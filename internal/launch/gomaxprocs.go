package launch

import (
	"runtime"
	"strconv"
)

// Processors per rank. The agent starts every rank of its host with
// GOMAXPROCS set to the host's processors divided among its ranks (at least
// one each), as mpirun binds one rank per core, unless the job's
// environment or the agent's own sets GOMAXPROCS. Without it each rank
// process would run as many Go scheduler threads as the machine has cores,
// and with as many ranks as cores every frame's arrival would wake the
// netpoller on one thread and the waiting operation on another. Measured on
// a 2-core machine (docs/performance.md, "Processors per rank"): over TCP,
// one thread per rank made the 8-byte all-reduce at np=2 about 4x faster
// and busbw 1.1-1.6x higher from 128 KiB to 32 MiB.

// procsVar is the environment entry that gives each of ranks ranks on a
// host of cpus usable processors its share, or "" when env (the job's
// environment and the agent's) already sets GOMAXPROCS.
func procsVar(env []string, cpus, ranks int) string {
	if hasVar(env, "GOMAXPROCS") {
		return ""
	}
	return "GOMAXPROCS=" + strconv.Itoa(max(1, cpus/max(1, ranks)))
}

// hostProcs is the number of processors the ranks of this host may use:
// the agent's own GOMAXPROCS, which the Go runtime derives from the CPU
// affinity mask and the cgroup's CPU limit.
func hostProcs() int { return runtime.GOMAXPROCS(0) }
