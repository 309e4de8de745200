// Package launch runs jobs: the engine behind `kizuna run` (Run) and the
// local ranks of `kizuna bench` (RunLocal). It places ranks on hosts,
// serves the job's rendezvous store, gives each rank its KIZUNA_*
// environment, passes output through a whole line at a time and standard
// input to rank 0, forwards signals, and when one rank fails stops the
// others and reports which rank failed and how.
//
// # Agents
//
// Ranks never start directly from the launcher: on each host an agent
// (Agent, run as `kizuna agent`) starts them, each in its own process
// group, and watches them. The launcher starts the agents of other hosts
// through a remote shell (ssh, `ip netns exec`) and the agent of its own
// host directly. Launcher and agent talk over the agent's standard input
// and output in length-prefixed msgpack frames (see proto.go for the
// messages): one spawn request, then output lines, exits, signals, and
// standard input chunks acknowledged one at a time. When its input ends
// (the launcher died, the remote shell dropped), an agent stops its ranks,
// so no rank outlives the launcher. Every length read from the wire is
// bounded before use.
//
// # Processors
//
// An agent gives each rank of its host GOMAXPROCS = the processors it may
// use divided among the host's ranks (gomaxprocs.go) and, when there are no
// more ranks than processors, binds each rank to its own share of them
// (bind.go); the job's environment can override both (GOMAXPROCS,
// KIZUNA_BIND=none).
//
// # Concurrency
//
// Run and Agent block until their job ends; each owns the goroutines it
// starts and waits for them, except a goroutine blocked reading a
// Job.Stdin (or an agent's input) that cannot be interrupted, which ends
// when that Read returns.
package launch
