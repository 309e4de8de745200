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
// a 2-core machine (docs/performance.md, "Go scheduler threads per rank"):
// over TCP, GOMAXPROCS=1 against 2 had the higher median busbw in 22 of 24
// rows from 8 B to 32 MiB at np=2 and 4 (geometric means 0.101 against
// 0.066 GB/s at np=2, 0.043 against 0.032 at np=4).

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
