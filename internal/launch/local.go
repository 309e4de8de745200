package launch

import (
	"context"
	"fmt"
	"strings"
	"syscall"
	"time"
)

// RunLocal runs job with every rank on this host (job.Hosts is ignored).
// It returns nil when all ranks exit 0, an *ExitError for the first rank
// that failed (the others are stopped), or ctx's error after stopping every
// rank.
func RunLocal(ctx context.Context, job Job) error {
	job.Hosts = nil
	return Run(ctx, job)
}

// ExitError reports the first rank that failed.
type ExitError struct {
	Rank   int
	Host   string // where it ran; "" for this host
	Status int    // exit status, or 128+signal
	How    string // "exited with status 3", "was killed by signal 9 (killed)"
	Tail   string // last lines of the rank's stderr, each indented and ended with a newline
}

func (e *ExitError) Error() string {
	s := fmt.Sprintf("rank %d %s", e.Rank, e.How)
	if e.Host != "" {
		s = fmt.Sprintf("rank %d on %s %s", e.Rank, e.Host, e.How)
	}
	if e.Tail != "" {
		s += "; last lines of its stderr:\n" + strings.TrimRight(e.Tail, "\n")
	}
	return s
}

// ExitStatus is the status the launcher should exit with.
func (e *ExitError) ExitStatus() int { return e.Status }

// SignalError reports a job stopped because the launcher got a signal,
// which was forwarded to every rank.
type SignalError struct {
	Signal syscall.Signal
}

func (e *SignalError) Error() string {
	return fmt.Sprintf("got signal %d (%v); forwarded it to every rank", int(e.Signal), e.Signal)
}

// ExitStatus is 128+signal, as a shell reports a process the signal ended.
func (e *SignalError) ExitStatus() int { return 128 + int(e.Signal) }

// TimeoutStatus is the exit status for a job stopped by Job.Timeout, as
// coreutils timeout(1) uses.
const TimeoutStatus = 124

// TimeoutError reports a job that ran longer than Job.Timeout and was
// stopped.
type TimeoutError struct {
	Timeout time.Duration
}

func (e *TimeoutError) Error() string {
	return fmt.Sprintf("job still running after the %v timeout; stopped every rank", e.Timeout)
}

// ExitStatus is TimeoutStatus.
func (e *TimeoutError) ExitStatus() int { return TimeoutStatus }

// HostStatus is the exit status for a job that lost a host, as ssh uses
// for its own failures.
const HostStatus = 255

// HostError reports a remote host whose agent failed or was lost before
// its ranks ended.
type HostError struct {
	Host  string
	Ranks []int  // ranks that were on it and never reported an exit
	Err   error  // what happened
	Tail  string // last lines of the remote shell's (or agent's) stderr
}

func (e *HostError) Error() string {
	s := fmt.Sprintf("host %s (ranks %s): %v", e.Host, rankList(e.Ranks), e.Err)
	if e.Tail != "" {
		s += "; last lines of its stderr:\n" + strings.TrimRight(e.Tail, "\n")
	}
	return s
}

func (e *HostError) Unwrap() error { return e.Err }

// ExitStatus is HostStatus.
func (e *HostError) ExitStatus() int { return HostStatus }

// rankList formats ascending ranks compactly: "0-3", "1, 4-5".
func rankList(ranks []int) string {
	var parts []string
	for i := 0; i < len(ranks); {
		j := i
		for j+1 < len(ranks) && ranks[j+1] == ranks[j]+1 {
			j++
		}
		if j == i {
			parts = append(parts, fmt.Sprint(ranks[i]))
		} else {
			parts = append(parts, fmt.Sprintf("%d-%d", ranks[i], ranks[j]))
		}
		i = j + 1
	}
	return strings.Join(parts, ", ")
}
