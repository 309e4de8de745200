package diag

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func op(seq uint64, state string, waitingOn int) FlightOp {
	o := FlightOp{Seq: seq, Op: "allreduce", Algo: "ring", Bytes: 4096, State: state, Step: 1, Steps: 6, WaitingOn: waitingOn}
	if waitingOn >= 0 {
		o.Waiting = "recv"
	}
	return o
}

func rec(rank int, ops ...FlightOp) *FlightRecord {
	return &FlightRecord{Rank: rank, Size: 4, Ops: ops}
}

func TestSummarize(t *testing.T) {
	tests := []struct {
		name string
		recs map[int]*FlightRecord
		want []string
		not  []string
	}{
		{
			name: "one rank never called the collective",
			recs: map[int]*FlightRecord{
				0: rec(0, op(56, StateDone, -1), op(57, StateRunning, 3)),
				1: rec(1, op(56, StateDone, -1), op(57, StateRunning, 0)),
				2: rec(2, op(56, StateDone, -1), op(57, StateRunning, 1)),
				3: rec(3, op(55, StateDone, -1), op(56, StateDone, -1)),
			},
			want: []string{
				"rank 0 waits in allreduce #57 (ring, 4096 B, step 2/6, recv) for rank 3",
				"; rank 3 is idle after allreduce #56 (done)\n",
				"rank 2 waits in allreduce #57 (ring, 4096 B, step 2/6, recv) for rank 1",
				"; rank 1 is in allreduce #57\n",
				"behind: rank 3 is idle after allreduce #56 (done); rank 0, 1, 2 ahead of it\n",
			},
		},
		{
			name: "a rank without a record",
			recs: map[int]*FlightRecord{
				0: rec(0, op(2, StateRunning, 1)),
				2: rec(2, op(2, StateRunning, 0)),
				3: rec(3, op(2, StateRunning, 2)),
			},
			want: []string{"rank 1: no flight record", "rank 0 waits in allreduce #2", "rank 1 has no flight record",
				"behind: rank 1, without a flight record; the others are all at the same point"},
		},
		{
			name: "everyone in the same operation",
			recs: map[int]*FlightRecord{
				0: rec(0, op(9, StateRunning, 1)), 1: rec(1, op(9, StateRunning, 2)),
				2: rec(2, op(9, StateRunning, 3)), 3: rec(3, op(9, StateRunning, 0)),
			},
			want: []string{"every rank is in allreduce #9: waiting on each other"},
			not:  []string{"behind:"},
		},
		{
			name: "two ranks behind, one closed",
			recs: map[int]*FlightRecord{
				0: rec(0, op(4, StateRunning, 3)), 1: rec(1, op(4, StateRunning, 0)),
				2: rec(2, op(3, StateDone, -1)),
				3: {Rank: 3, Size: 4, Reason: ReasonClose, Ops: []FlightOp{op(3, StateDone, -1)}},
			},
			want: []string{"behind: rank 2, 3 (is idle after allreduce #3 (done); is idle after allreduce #3 (done) and closed its communicator); rank 0, 1 ahead of them"},
		},
		{
			// Queued operations have no sequence number yet: they neither
			// make a rank current nor move it behind the others.
			name: "queued operations",
			recs: map[int]*FlightRecord{
				0: rec(0, op(4, StateRunning, 3), op(0, StateQueued, -1), op(0, StateQueued, -1)),
				1: rec(1, op(4, StateRunning, 0)), 2: rec(2, op(4, StateRunning, 1)),
				3: rec(3, op(3, StateDone, -1), op(0, StateQueued, -1)),
			},
			want: []string{
				"rank 0 waits in allreduce #4 (ring, 4096 B, step 2/6, recv) for rank 3",
				"rank 0 has 2 operation(s) queued, next allreduce (4096 B)\n",
				"rank 3 is idle after allreduce #3 (done)\nrank 3 has 1 operation(s) queued",
				"behind: rank 3 is idle after allreduce #3 (done); rank 0, 1, 2 ahead of it\n",
			},
			not: []string{"#0"},
		},
		{
			name: "all idle",
			recs: map[int]*FlightRecord{0: rec(0, op(1, StateDone, -1)), 1: rec(1, op(1, StateDone, -1)),
				2: rec(2, op(1, StateDone, -1)), 3: rec(3, op(1, StateDone, -1))},
			want: []string{"every rank is idle at the same point"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Summarize(tt.recs, 4, time.Time{})
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("Summarize(%s) =\n%s\nwant it to contain %q", tt.name, got, w)
				}
			}
			for _, w := range tt.not {
				if strings.Contains(got, w) {
					t.Errorf("Summarize(%s) =\n%s\nwant no %q", tt.name, got, w)
				}
			}
		})
	}
}

func TestWriteReadFlights(t *testing.T) {
	dir := t.TempDir()
	want := []*FlightRecord{
		{Rank: 0, Size: 2, Comm: 0, Reason: ReasonSignal, Ops: []FlightOp{op(1, StateDone, -1)}},
		{Rank: 1, Size: 2, Comm: 0, Reason: ReasonTimeout, Ops: []FlightOp{op(2, StateRunning, 0)}},
		{Rank: 0, Size: 2, Comm: 7, Reason: ReasonStart, Ops: []FlightOp{}},
	}
	for _, r := range want {
		if _, err := WriteFlight(dir, r); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(dir, "unrelated.json"), []byte("{"), 0o644)
	got, err := ReadFlights(dir)
	if err != nil {
		t.Fatalf("ReadFlights = %v", err)
	}
	for _, w := range want {
		g := got[w.Comm][w.Rank]
		wb, _ := json.Marshal(w)
		gb, _ := json.Marshal(g)
		if !bytes.Equal(wb, gb) {
			t.Errorf("ReadFlights()[%d][%d] = %s; want %s", w.Comm, w.Rank, gb, wb)
		}
	}
	os.WriteFile(filepath.Join(dir, FlightFile(5, 0)), []byte("{broken"), 0o644)
	if _, err := ReadFlights(dir); err == nil || !strings.Contains(err.Error(), FlightFile(5, 0)) {
		t.Errorf("ReadFlights with a corrupt file = %v; want an error naming it", err)
	}
	if got, err := ReadFlights(filepath.Join(dir, "missing")); err != nil || len(got) != 0 {
		t.Errorf("ReadFlights(missing dir) = %v, %v; want empty, nil", got, err)
	}
}

func TestMergeTimelines(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, tr Trace) {
		b, _ := json.Marshal(tr)
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(TimelineFile(0, 0), Trace{TraceEvents: []TraceEvent{
		{Name: "process_name", Ph: "M", Pid: 0, Args: map[string]any{"name": "rank 0"}},
		{Name: "allreduce", Ph: "X", Ts: 10, Dur: 5, Pid: 0},
		{Name: "step 0", Ph: "X", Ts: 10, Dur: 2, Pid: 0},
	}})
	write(TimelineFile(1, 0), Trace{TraceEvents: []TraceEvent{
		{Name: "process_name", Ph: "M", Pid: 1, Args: map[string]any{"name": "rank 1"}},
		{Name: "allreduce", Ph: "X", Ts: 8, Dur: 9, Pid: 1},
	}})
	write("other.json", Trace{TraceEvents: []TraceEvent{{Name: "x", Ph: "X", Pid: 9}}})
	var buf bytes.Buffer
	n, err := MergeTimelines(dir, &buf)
	if err != nil || n != 2 {
		t.Fatalf("MergeTimelines = %d, %v; want 2, nil", n, err)
	}
	var got Trace
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range got.TraceEvents {
		names = append(names, e.Name+"/"+string(rune('0'+e.Pid)))
	}
	want := "process_name/0 process_name/1 allreduce/1 allreduce/0 step 0/0"
	if strings.Join(names, " ") != want {
		t.Errorf("merged events = %v; want %s", names, want)
	}
	if _, err := MergeTimelines(t.TempDir(), &buf); err == nil {
		t.Errorf("MergeTimelines(empty dir) = nil error; want one")
	}
}
