package diag

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Operation states in a flight record.
const (
	StateQueued  = "queued"
	StateRunning = "running"
	StateDone    = "done"
	StateFailed  = "failed"
)

// Reasons a flight record was written.
const (
	ReasonStart   = "start"   // the communicator started (KIZUNA_FLIGHT_DIR registration)
	ReasonClose   = "close"   // the communicator closed
	ReasonSignal  = "signal"  // SIGUSR1
	ReasonTimeout = "timeout" // an operation timed out
	ReasonHTTP    = "http"    // /debug/flight
	ReasonAPI     = "api"     // Comm.Flight
)

// FlightRecord is one communicator's flight recorder as dumped: its last
// operations, oldest first.
type FlightRecord struct {
	Rank      int       `json:"rank"`
	Size      int       `json:"size"`
	Comm      uint32    `json:"comm"`
	Transport string    `json:"transport"`
	Host      string    `json:"host"`
	PID       int       `json:"pid"`
	Time      time.Time `json:"time"`   // when the record was taken
	Reason    string    `json:"reason"` // one of the Reason constants
	// Capacity is the recorder's size (KIZUNA_FLIGHT_SIZE); Total the
	// number of operations recorded since the communicator started, so
	// Total > len(Ops) means older ones were overwritten.
	Capacity int        `json:"capacity"`
	Total    uint64     `json:"total"`
	Ops      []FlightOp `json:"ops"`
	// P2P are the last point-to-point sends and receives (Op "send" or
	// "recv", Seq counting per peer and tag), oldest first. They run
	// concurrently with each other and with the collectives in Ops.
	P2P []FlightOp `json:"p2p,omitempty"`
}

// FlightOp is one operation in a flight record.
type FlightOp struct {
	Seq   uint64 `json:"seq"`
	Op    string `json:"op"` // "allreduce", ...
	Count int64  `json:"count"`
	Bytes int64  `json:"bytes"`
	DType string `json:"dtype"`
	RedOp string `json:"redop,omitempty"`
	Root  int    `json:"root"`
	Peer  int    `json:"peer,omitempty"` // send and recv: the other rank
	Tag   uint32 `json:"tag,omitempty"`  // send and recv
	Algo  string `json:"algo"`
	State string `json:"state"`
	// Step is the schedule step the operation is in (or stopped in), of
	// Steps; WaitingOn is the peer (communicator rank) it is blocked on,
	// -1 when none, and Waiting says how ("send" or "recv").
	Step      int        `json:"step"`
	Steps     int        `json:"steps"`
	WaitingOn int        `json:"waiting_on"`
	Waiting   string     `json:"waiting,omitempty"`
	Start     time.Time  `json:"start"`
	End       *time.Time `json:"end,omitempty"`
	Error     string     `json:"error,omitempty"`
}

// Current returns the operation the record's rank is in (the last one
// running), or nil when it is between operations. Queued operations have
// not started: they are not current.
func (r *FlightRecord) Current() *FlightOp {
	for i := len(r.Ops) - 1; i >= 0; i-- {
		if r.Ops[i].State == StateRunning {
			return &r.Ops[i]
		}
	}
	return nil
}

// Last returns the record's newest operation that has started, or nil.
func (r *FlightRecord) Last() *FlightOp {
	for i := len(r.Ops) - 1; i >= 0; i-- {
		if r.Ops[i].State != StateQueued {
			return &r.Ops[i]
		}
	}
	return nil
}

// Queued returns the operations waiting in the rank's queue (asynchronous
// operations not started yet), in the order they will run.
func (r *FlightRecord) Queued() []FlightOp {
	var out []FlightOp
	for _, op := range r.Ops {
		if op.State == StateQueued {
			out = append(out, op)
		}
	}
	return out
}

// Blocked returns the point-to-point operations of the record still
// running, oldest first.
func (r *FlightRecord) Blocked() []FlightOp {
	var out []FlightOp
	for _, op := range r.P2P {
		if op.State == StateRunning || op.State == StateQueued {
			out = append(out, op)
		}
	}
	return out
}

// FlightFile is the name a rank's record for communicator comm is written
// under in a flight directory.
func FlightFile(rank int, comm uint32) string {
	return fmt.Sprintf("flight-rank%d-comm%d.json", rank, comm)
}

var flightName = regexp.MustCompile(`^flight-rank(\d+)-comm(\d+)\.json$`)

// WriteFlight writes rec into dir as FlightFile, atomically (a reader never
// sees half a file), creating dir if needed. It returns the file's path.
func WriteFlight(dir string, rec *FlightRecord) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("diag: flight dir: %w", err)
	}
	b, err := json.MarshalIndent(rec, "", " ")
	if err != nil {
		return "", fmt.Errorf("diag: encode flight record: %w", err)
	}
	path := filepath.Join(dir, FlightFile(rec.Rank, rec.Comm))
	tmp, err := os.CreateTemp(dir, ".flight-*")
	if err != nil {
		return "", fmt.Errorf("diag: write flight record: %w", err)
	}
	_, werr := tmp.Write(append(b, '\n'))
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(tmp.Name())
		return "", fmt.Errorf("diag: write flight record: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return "", fmt.Errorf("diag: write flight record: %w", err)
	}
	return path, nil
}

// maxFlightFile bounds a flight file ReadFlights accepts.
const maxFlightFile = 64 << 20

// ReadFlights reads every flight file in dir (as written by WriteFlight),
// keyed by communicator and then rank. Files that are not flight records are
// ignored; one that cannot be decoded is an error naming it, returned with
// the records that could be read.
func ReadFlights(dir string) (map[uint32]map[int]*FlightRecord, error) {
	out := make(map[uint32]map[int]*FlightRecord)
	ents, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return out, nil
		}
		return out, fmt.Errorf("diag: flight dir: %w", err)
	}
	var errs []error
	for _, e := range ents {
		if !e.Type().IsRegular() || !flightName.MatchString(e.Name()) {
			continue
		}
		path := filepath.Join(dir, e.Name())
		if info, err := e.Info(); err != nil || info.Size() > maxFlightFile {
			errs = append(errs, fmt.Errorf("diag: %s: unreadable or larger than %d bytes", path, maxFlightFile))
			continue
		}
		b, err := os.ReadFile(path)
		if err != nil {
			errs = append(errs, fmt.Errorf("diag: %w", err))
			continue
		}
		rec := new(FlightRecord)
		if err := json.Unmarshal(b, rec); err != nil {
			errs = append(errs, fmt.Errorf("diag: %s: %w", path, err))
			continue
		}
		if out[rec.Comm] == nil {
			out[rec.Comm] = make(map[int]*FlightRecord)
		}
		out[rec.Comm][rec.Rank] = rec
	}
	return out, errors.Join(errs...)
}

// describe names an operation briefly: "allreduce #57".
func describe(op *FlightOp) string { return op.Op + " #" + strconv.FormatUint(op.Seq, 10) }

// position orders ranks by progress: inside operation s is 2s, idle after
// finishing s is 2s+1 (it has not entered s+1 yet), so the smallest
// position is the rank furthest behind.
func position(r *FlightRecord) uint64 {
	if cur := r.Current(); cur != nil {
		return 2 * cur.Seq
	}
	if last := r.Last(); last != nil {
		return 2*last.Seq + 1
	}
	return 1 // no operation yet: behind anyone who entered #1
}

// where says what a rank is doing: "in allreduce #57" or "idle after
// allreduce #56 (done)".
func where(r *FlightRecord) string {
	if cur := r.Current(); cur != nil {
		return "is in " + describe(cur)
	}
	closed := ""
	if r.Reason == ReasonClose {
		closed = " and closed its communicator"
	}
	if last := r.Last(); last != nil {
		return "is idle after " + describe(last) + " (" + last.State + ")" + closed
	}
	return "has started no operation" + closed
}

// Summarize explains a hang from every rank's flight record of one
// communicator of size ranks: a line per rank saying which operation it is
// waiting in and for whom (and where that rank is), then one line naming
// the ranks furthest behind, which the others wait for. now is the time
// the waits are measured to. A rank missing from recs is reported as such.
func Summarize(recs map[int]*FlightRecord, size int, now time.Time) string {
	var b strings.Builder
	var have []*FlightRecord
	for r := range size {
		rec := recs[r]
		if rec == nil {
			fmt.Fprintf(&b, "rank %d: no flight record (not started, already exited, not a Kizuna communicator, or on another host)\n", r)
			continue
		}
		have = append(have, rec)
		cur := rec.Current()
		switch {
		case cur == nil:
			fmt.Fprintf(&b, "rank %d %s\n", r, where(rec))
		case cur.WaitingOn >= 0:
			fmt.Fprintf(&b, "rank %d waits in %s (%s, %d B, step %d/%d, %s) for rank %d", r, describe(cur), cur.Algo, cur.Bytes, cur.Step+1, cur.Steps, cur.Waiting, cur.WaitingOn)
			if d := now.Sub(cur.Start); d > 0 {
				fmt.Fprintf(&b, ", %v so far", d.Round(time.Millisecond))
			}
			if p := recs[cur.WaitingOn]; p != nil {
				fmt.Fprintf(&b, "; rank %d %s", cur.WaitingOn, where(p))
			} else {
				fmt.Fprintf(&b, "; rank %d has no flight record", cur.WaitingOn)
			}
			b.WriteByte('\n')
		default:
			fmt.Fprintf(&b, "rank %d %s (%s, step %d/%d, not blocked on a peer)\n", r, where(rec), cur.State, cur.Step+1, cur.Steps)
		}
		if q := rec.Queued(); len(q) > 0 {
			fmt.Fprintf(&b, "rank %d has %d operation(s) queued, next %s (%d B)\n", r, len(q), q[0].Op, q[0].Bytes)
		}
		for _, p := range rec.Blocked() {
			dir := "from"
			if p.Op == "send" {
				dir = "to"
			}
			fmt.Fprintf(&b, "rank %d is blocked in %s #%d (tag %d, %d B) %s rank %d", r, p.Op, p.Seq, p.Tag, p.Bytes, dir, p.Peer)
			if d := now.Sub(p.Start); d > 0 && !now.IsZero() {
				fmt.Fprintf(&b, ", %v so far", d.Round(time.Millisecond))
			}
			if q := recs[p.Peer]; q != nil {
				fmt.Fprintf(&b, "; rank %d %s", p.Peer, where(q))
			}
			b.WriteByte('\n')
		}
	}
	if len(have) == 0 {
		return b.String()
	}
	// The ranks furthest behind, when not everyone is at the same point.
	minPos, maxPos := position(have[0]), position(have[0])
	for _, rec := range have[1:] {
		minPos, maxPos = min(minPos, position(rec)), max(maxPos, position(rec))
	}
	var behind, ahead, missing []int
	for _, rec := range have {
		if position(rec) == minPos {
			behind = append(behind, rec.Rank)
		} else {
			ahead = append(ahead, rec.Rank)
		}
	}
	for r := range size {
		if recs[r] == nil {
			missing = append(missing, r)
		}
	}
	switch {
	case minPos != maxPos:
		fmt.Fprintf(&b, "behind: rank %s %s; rank %s ahead of %s", ranks(behind), whereAll(recs, behind), ranks(ahead), pluralIt(len(behind)))
		if len(missing) > 0 {
			fmt.Fprintf(&b, " (rank %s unknown)", ranks(missing))
		}
		b.WriteByte('\n')
	case len(missing) > 0:
		fmt.Fprintf(&b, "behind: rank %s, without a flight record; the others are all at the same point\n", ranks(missing))
	case have[0].Current() != nil:
		fmt.Fprintf(&b, "every rank is in %s: waiting on each other (a lost or slow link, or a peer outside this communicator)\n", describe(have[0].Current()))
	default:
		b.WriteString("every rank is idle at the same point: no collective is pending\n")
	}
	return b.String()
}

func pluralIt(n int) string {
	if n == 1 {
		return "it"
	}
	return "them"
}

// whereAll describes the ranks' common state, or each one's.
func whereAll(recs map[int]*FlightRecord, rs []int) string {
	var parts []string
	for _, r := range rs {
		if rec := recs[r]; rec != nil {
			parts = append(parts, where(rec))
		} else {
			parts = append(parts, "(no record)")
		}
	}
	if len(slices.Compact(slices.Clone(parts))) == 1 {
		return parts[0]
	}
	return "(" + strings.Join(parts, "; ") + ")"
}

func ranks(rs []int) string {
	s := make([]string, len(rs))
	for i, r := range rs {
		s[i] = strconv.Itoa(r)
	}
	return strings.Join(s, ", ")
}
