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
