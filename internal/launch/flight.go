package launch

import (
	"fmt"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/kizuna-hpc/kizuna/internal/diag"
)

// flightWait bounds how long a timed-out job's ranks have to write their
// flight records after SIGUSR1 before they are stopped.
const flightWait = 2 * time.Second

// flightPoll is how often the launcher looks for the records meanwhile.
const flightPoll = 50 * time.Millisecond

// flightCollector gathers the ranks' flight records when a job times out:
// every rank whose communicator registered in the job's flight directory
// (KIZUNA_FLIGHT_DIR, a record written when the communicator started) is
// sent SIGUSR1, and once they have all answered, or flightWait has passed,
// the launcher prints one summary of who waits for whom. It is owned by the
// supervisor's goroutine.
type flightCollector struct {
	dir     string
	own     bool // the launcher made dir (and removes it unless it reported from it)
	keep    bool
	sentAt  time.Time
	waiting []int // ranks expected to answer
	stop    bool  // stop the job after the summary (a timeout, not a Job.Dump request)
	tick    <-chan time.Time
	ticker  *time.Ticker
	due     <-chan time.Time
}

// newFlightCollector picks the job's flight directory: KIZUNA_FLIGHT_DIR
// from the job's environment, else a fresh temporary directory.
func newFlightCollector(env []string, jobID string) (*flightCollector, error) {
	for i := len(env) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(env[i], "KIZUNA_FLIGHT_DIR="); ok && v != "" {
			return &flightCollector{dir: v}, nil
		}
	}
	dir, err := os.MkdirTemp("", "kizuna-flight-"+jobID+"-")
	if err != nil {
		return nil, fmt.Errorf("launch: flight directory: %w", err)
	}
	return &flightCollector{dir: dir, own: true}, nil
}

// tickC and dueC are the collector's timers; nil (never ready) when idle.
func (f *flightCollector) tickC() <-chan time.Time {
	if f == nil {
		return nil
	}
	return f.tick
}

func (f *flightCollector) dueC() <-chan time.Time {
	if f == nil {
		return nil
	}
	return f.due
}

func (f *flightCollector) pending() bool { return f != nil && f.due != nil }

// live lists the ranks of the world communicator whose record says their
// communicator is open (so they handle SIGUSR1).
func (f *flightCollector) live() []int {
	recs, _ := diag.ReadFlights(f.dir)
	var out []int
	for r, rec := range recs[0] {
		if rec.Reason != diag.ReasonClose {
			out = append(out, r)
		}
	}
	return out
}

// flightAsk asks the ranks for their records. With stop (a timeout) the
// job is stopped after the summary, and ranks without a handler may be
// stopped by the signal; without it (Job.Dump) the job goes on, so the
// signal is sent only when every rank has a communicator open. It reports
// whether it asked.
func (s *supervisor) flightAsk(stop bool) bool {
	f := s.flight
	if f == nil {
		return false
	}
	if f.pending() { // already asking: a timeout now also stops the job
		f.stop = f.stop || stop
		return true
	}
	live := f.live()
	if len(live) == 0 {
		return false
	}
	if !stop && len(live) < s.left {
		s.out.log(s.job.Log, "", []byte(fmt.Sprintf("kizuna run: SIGUSR1: only ranks %v have a communicator open here; not asking (the others would be stopped by the signal)\n", live)))
		return false
	}
	f.waiting, f.stop = live, stop
	f.sentAt = time.Now()
	// Signals go to every rank of a host: on a timeout, ranks with no
	// communicator open (and no handler) are stopped by it, as the timeout
	// stops them anyway.
	s.forward(syscall.SIGUSR1)
	f.ticker = time.NewTicker(flightPoll)
	f.tick = f.ticker.C
	f.due = time.After(flightWait)
	return true
}

// timedOut handles the job's timeout: the ranks are asked for their flight
// records and stopped once they answered (flightDone), or at once when no
// rank has a communicator open.
func (s *supervisor) timedOut() {
	err := &TimeoutError{Timeout: s.job.Timeout}
	if s.cause == nil {
		s.cause = err
	}
	if !s.flightAsk(true) {
		s.fail(err)
	}
}

// flightDone prints the summary and, after a timeout, stops the job.
func (s *supervisor) flightDone() {
	stop := s.flight.stop
	s.flightReport()
	if stop {
		s.fail(s.cause)
	}
}

// flightAnswered reports whether every rank asked has written a record
// since, or exited.
func (s *supervisor) flightAnswered() bool {
	f := s.flight
	recs, _ := diag.ReadFlights(f.dir)
	for _, r := range f.waiting {
		if r < len(s.exited) && s.exited[r] {
			continue
		}
		rec := recs[0][r]
		if rec == nil || rec.Time.Before(f.sentAt) {
			return false
		}
	}
	return true
}

// flightReport prints the summary of the records and stops the timers.
func (s *supervisor) flightReport() {
	f := s.flight
	if f.ticker != nil {
		f.ticker.Stop()
	}
	f.tick, f.due, f.stop = nil, nil, false
	f.keep = true
	recs, err := diag.ReadFlights(f.dir)
	var b strings.Builder
	fmt.Fprintf(&b, "kizuna run: flight records of the ranks (in %s):\n", f.dir)
	if err != nil {
		fmt.Fprintf(&b, "kizuna run:   %v\n", err)
	}
	comms := make([]uint32, 0, len(recs))
	for id := range recs {
		comms = append(comms, id)
	}
	if len(comms) == 0 {
		comms = append(comms, 0)
	}
	for _, id := range sortedIDs(comms) {
		size := s.job.NP
		for _, rec := range recs[id] {
			size = rec.Size
			break
		}
		if id != 0 {
			fmt.Fprintf(&b, "kizuna run: communicator %d:\n", id)
		}
		for _, line := range strings.Split(strings.TrimSuffix(diag.Summarize(recs[id], size, f.sentAt), "\n"), "\n") {
			fmt.Fprintf(&b, "kizuna run:   %s\n", line)
		}
	}
	s.out.log(s.job.Log, "", []byte(b.String()))
}

// flightClose removes the flight directory the launcher made, unless a
// summary was printed from it.
func (s *supervisor) flightClose() {
	f := s.flight
	if f == nil {
		return
	}
	if f.ticker != nil {
		f.ticker.Stop()
	}
	if f.own && !f.keep {
		os.RemoveAll(f.dir)
	}
}

func sortedIDs(ids []uint32) []uint32 {
	for i := 1; i < len(ids); i++ {
		for j := i; j > 0 && ids[j] < ids[j-1]; j-- {
			ids[j], ids[j-1] = ids[j-1], ids[j]
		}
	}
	return ids
}
