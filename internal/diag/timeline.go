package diag

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"time"
)

// TraceEvent is one Chrome trace event (the JSON format that Perfetto and
// chrome://tracing read). Kizuna writes complete events (Ph "X", with Dur)
// for operations, steps, sends and receives, and metadata events (Ph "M")
// naming processes (ranks) and threads (communicators). Ts and Dur are in
// microseconds; Ts counts from TraceEpoch.
type TraceEvent struct {
	Name string         `json:"name"`
	Cat  string         `json:"cat,omitempty"`
	Ph   string         `json:"ph"`
	Ts   float64        `json:"ts"`
	Dur  float64        `json:"dur,omitempty"`
	Pid  int            `json:"pid"`
	Tid  int            `json:"tid"`
	Args map[string]any `json:"args,omitempty"`
}

// TraceEpoch is time zero of Kizuna's trace timestamps. Counting from a
// recent fixed date rather than the Unix epoch keeps microseconds in a
// float64 precise to a few nanoseconds, and ranks on one host still line
// up (their clocks are the same).
var TraceEpoch = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// Trace is a trace file: {"traceEvents": [...]}.
type Trace struct {
	TraceEvents     []TraceEvent `json:"traceEvents"`
	DisplayTimeUnit string       `json:"displayTimeUnit,omitempty"`
}

// TimelineFile is the name of a rank's timeline for communicator comm.
func TimelineFile(rank int, comm uint32) string {
	return fmt.Sprintf("timeline-rank%d-comm%d.json", rank, comm)
}

var timelineName = regexp.MustCompile(`^timeline-rank\d+-comm\d+\.json$`)

// maxTimelineFile bounds one timeline file MergeTimelines reads.
const maxTimelineFile = 1 << 30

// ReadTrace decodes one trace file.
func ReadTrace(path string) (*Trace, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("diag: %w", err)
	}
	defer f.Close()
	t := new(Trace)
	if err := json.NewDecoder(io.LimitReader(f, maxTimelineFile)).Decode(t); err != nil {
		return nil, fmt.Errorf("diag: %s: %w", path, err)
	}
	return t, nil
}

// MergeTimelines joins every rank's timeline file in dir (as KIZUNA_TIMELINE
// writes them) into one trace, events sorted by time (metadata first), and
// writes it to w. It returns how many files it merged; none is an error.
func MergeTimelines(dir string, w io.Writer) (int, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0, fmt.Errorf("diag: timeline dir: %w", err)
	}
	var merged Trace
	merged.DisplayTimeUnit = "ns"
	n := 0
	for _, e := range ents {
		if !e.Type().IsRegular() || !timelineName.MatchString(e.Name()) {
			continue
		}
		t, err := ReadTrace(filepath.Join(dir, e.Name()))
		if err != nil {
			return n, err
		}
		merged.TraceEvents = append(merged.TraceEvents, t.TraceEvents...)
		n++
	}
	if n == 0 {
		return 0, errors.New("diag: no timeline-rank*-comm*.json files in " + dir)
	}
	slices.SortStableFunc(merged.TraceEvents, func(a, b TraceEvent) int {
		if (a.Ph == "M") != (b.Ph == "M") {
			if a.Ph == "M" {
				return -1
			}
			return 1
		}
		switch {
		case a.Ts < b.Ts:
			return -1
		case a.Ts > b.Ts:
			return 1
		case a.Dur > b.Dur: // an enclosing event before the ones it holds
			return -1
		case a.Dur < b.Dur:
			return 1
		}
		return 0
	})
	enc := json.NewEncoder(w)
	if err := enc.Encode(&merged); err != nil {
		return n, fmt.Errorf("diag: write merged timeline: %w", err)
	}
	return n, nil
}
