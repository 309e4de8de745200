package launch

import (
	"fmt"
	"strings"
)

// Binding. When a host runs no more of the job's ranks than it has
// processors the agent may use, it starts each rank bound to its own share
// of them (the share GOMAXPROCS counts, gomaxprocs.go), as mpirun binds to
// cores by default for small jobs: local rank i gets the i-th run of
// processors, in the order of the agent's CPU affinity mask. Without it
// the kernel sometimes starts two ranks on one processor and leaves them
// there for the whole of a short run: 8-byte all-reduces at np=2 on this
// 2-core machine then take about 30 us instead of 10 (two of six runs
// unbound, none of six bound; docs/performance.md, "Latest results").
// KIZUNA_BIND=none (in the launcher's environment or with -x) turns it
// off, say for several jobs sharing a host; KIZUNA_BIND=core is the
// default. A host with more ranks than processors is never bound.

// EnvBind selects the binding: "core" (default) or "none".
const EnvBind = "KIZUNA_BIND"

// bindPolicy returns the binding env names (the agent's environment
// followed by the job's, the last entry winning), or an error for an
// unknown one.
func bindPolicy(env []string) (string, error) {
	v := ""
	for _, kv := range env {
		if k, val, _ := strings.Cut(kv, "="); k == EnvBind {
			v = val // the last one wins, as in exec
		}
	}
	switch v {
	case "", "core":
		return "core", nil
	case "none":
		return "none", nil
	}
	return "", fmt.Errorf("launch: %s=%q: want core or none", EnvBind, v)
}

// Scheduling policy. A rank bound to processors of its own is started
// under SCHED_BATCH (KIZUNA_SCHED=batch, the default; normal turns it off):
// a thread waking on its processor then no longer preempts the running one
// at once, but at the next scheduler tick. The thread that wakes there is
// the Go runtime's sysmon: after a process starts, and after every system
// call that ends an idle spell, it wakes every 20 us (about 90 us with the
// kernel's timer slack) for some 50 wake-ups before it backs off, and each
// wake-up took a bound rank's processor for 10-40 us in the middle of an
// operation. Together with the transports' waits not yielding the
// processor when every rank has one (tcp and shm, "dedicated"), it took
// the mean of 500 8-byte all-reduces at np=2 over TCP from 11.0-13.3 us
// to 8.5-8.7 us, the share over 20 us from 11-16% to 1% (docs/performance.md,
// "Sysmon and SCHED_BATCH"). Ranks that share processors keep the normal
// policy: they must preempt each other promptly.

// EnvSched selects the scheduling policy of bound ranks: "batch" (default)
// or "normal".
const EnvSched = "KIZUNA_SCHED"

// schedPolicy returns the scheduling policy env names for bound ranks (the
// last entry winning), or an error for an unknown one.
func schedPolicy(env []string) (string, error) {
	v := ""
	for _, kv := range env {
		if k, val, _ := strings.Cut(kv, "="); k == EnvSched {
			v = val
		}
	}
	switch v {
	case "", "batch":
		return "batch", nil
	case "normal":
		return "normal", nil
	}
	return "", fmt.Errorf("launch: %s=%q: want batch or normal", EnvSched, v)
}

// bindSets splits cpus among ranks local ranks: rank i gets
// cpus[i*k:(i+1)*k], k = len(cpus)/ranks. It returns nil when there are
// more ranks than processors (or no processors known).
func bindSets(cpus []int, ranks int) [][]int {
	if ranks < 1 || len(cpus) < ranks {
		return nil
	}
	k := len(cpus) / ranks
	sets := make([][]int, ranks)
	for i := range sets {
		sets[i] = cpus[i*k : (i+1)*k : (i+1)*k]
	}
	return sets
}
