package launch

import (
	"fmt"
	"os"
	"strings"

	"github.com/kizuna-hpc/kizuna/internal/cpus"
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
func bindPolicy(env []string) (string, error) { return policy(env, EnvBind, "core", "none") }

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
// 8-byte all-reduces at np=2 over TCP (`kizuna bench -np 2 -transport tcp
// -b 8 -e 8 -n 500 -w 2`, three runs, both passes, two rounds) from means
// of 11.0-13.3 us to 8.5-8.7 us, and the share over 20 us from 11-16% to
// 1% (docs/performance.md, "Sysmon and SCHED_BATCH"). Ranks that share processors keep the normal
// policy: they must preempt each other promptly.

// bindPlan is what an agent does with ranks ranks given env (its
// environment followed by the job's): the processors of each rank (nil:
// unbound) and whether they, and the agent, run under SCHED_BATCH. The
// launcher asks it too, for the agent of its own host (batchLauncher).
func bindPlan(env []string, ranks int) (sets [][]int, batch bool, err error) {
	policy, err := bindPolicy(env)
	if err != nil {
		return nil, false, err
	}
	sched, err := schedPolicy(env)
	if err != nil {
		return nil, false, err
	}
	if policy == "core" {
		sets = bindSets(cpus.Allowed(), ranks)
	}
	return sets, sets != nil && sched == "batch", nil
}

// batchLauncher puts the launcher's process under SCHED_BATCH when the
// agent of its own host will bind ranks ranks and start them under it
// (env is the job's extra environment, after the launcher's own): the
// launcher relays the ranks' output, and its threads waking to do so
// preempted bound ranks as the agent's did. Measured, four alternations of
// 500 8-byte all-reduces at np=2 over TCP (`kizuna bench -np 2 -transport
// tcp -b 8 -e 8 -n 500 -w 2`, the launcher under `chrt -b 0` or not): mean
// 7.82-8.32 us against 8.11-9.22 us. A bad policy is left for the agent
// to report.
func batchLauncher(env []string, ranks int) {
	if !batchSelf {
		return
	}
	if _, batch, err := bindPlan(append(os.Environ(), env...), ranks); err == nil && batch {
		_ = batchProcess() // a launcher that cannot keeps the normal policy
	}
}

// EnvSched selects the scheduling policy of bound ranks: "batch" (default)
// or "normal".
const EnvSched = "KIZUNA_SCHED"

// schedPolicy returns the scheduling policy env names for bound ranks (the
// last entry winning), or an error for an unknown one.
func schedPolicy(env []string) (string, error) { return policy(env, EnvSched, "batch", "normal") }

// policy is name's value in env (the last entry winning), one of values;
// unset or empty means values[0], the default. Any other value is an error
// that names the variable and the choices.
func policy(env []string, name string, values ...string) (string, error) {
	v := lastValue(env, name)
	if v == "" {
		return values[0], nil
	}
	for _, ok := range values {
		if v == ok {
			return v, nil
		}
	}
	return "", fmt.Errorf("launch: %s=%q: want %s", name, v, strings.Join(values, " or "))
}

// lastValue is name's value in env, "" if unset; the last entry wins, as
// in exec.
func lastValue(env []string, name string) string {
	v := ""
	for _, kv := range env {
		if k, val, _ := strings.Cut(kv, "="); k == name {
			v = val
		}
	}
	return v
}

// bindSets splits the processors in list among ranks local ranks: rank i
// gets list[i*k:(i+1)*k], k = len(list)/ranks. It returns nil when there are
// more ranks than processors (or no processors known).
func bindSets(list []int, ranks int) [][]int {
	if ranks < 1 || len(list) < ranks {
		return nil
	}
	k := len(list) / ranks
	sets := make([][]int, ranks)
	for i := range sets {
		sets[i] = list[i*k : (i+1)*k : (i+1)*k]
	}
	return sets
}
