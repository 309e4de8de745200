// Package cpus says how many processors the ranks of this host share, so
// that a rank can tell whether it has one to itself.
//
// A rank's own CPU affinity mask does not say: kizuna run's agent binds
// each rank to its share of the host's processors (internal/launch), so a
// bound rank of two on a 2-core host sees one processor, and would think
// its host oversubscribed. The agent therefore passes the count it divided
// among the ranks in KIZUNA_HOST_CPUS; other launchers that bind ranks
// (mpirun --bind-to core, srun --cpu-bind) may set it as well.
//
// It also reads and sets threads' processor affinity (affinity_linux.go),
// for the launcher's binding of ranks and the benchmarks' probes.
//
// The functions are safe for concurrent use; Host and Dedicated read the
// environment on every call, and the affinity functions act on the
// calling thread only.
package cpus

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
)

// ErrNoAffinity reports a system where this package cannot bind threads
// to processors (affinity_other.go).
var ErrNoAffinity = errors.New("cpus: binding threads to processors is not supported here")

// EnvHost is the number of processors this host's ranks share.
const EnvHost = "KIZUNA_HOST_CPUS"

// Host returns KIZUNA_HOST_CPUS, or runtime.NumCPU() (this process's
// affinity mask) when it is unset or empty. A value that is not a positive
// integer is an error that names it.
func Host() (int, error) {
	v := os.Getenv(EnvHost)
	if v == "" {
		return runtime.NumCPU(), nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("%s=%q: want the number of processors this host's ranks share, a positive integer", EnvHost, v)
	}
	return n, nil
}

// Dedicated reports whether each of localRanks ranks of this host has a
// processor of its own: 0 < localRanks <= host. localRanks <= 0 means
// unknown, and says no.
func Dedicated(localRanks, host int) bool {
	return localRanks > 0 && localRanks <= host
}
