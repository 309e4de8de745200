package launch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kizuna-hpc/kizuna/internal/diag"
)

// TestFlightDir: a job gets a flight directory of its own, removed after
// the job, unless the job's environment names one.
func TestFlightDir(t *testing.T) {
	own := t.TempDir()
	tests := []struct {
		name    string
		env     []string
		wantDir string // "" = a fresh one
	}{
		{"fresh", nil, ""},
		{"from -x", []string{"A=1", "KIZUNA_FLIGHT_DIR=" + own}, own},
		{"empty value ignored", []string{"KIZUNA_FLIGHT_DIR="}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := newFlightCollector(tt.env, "job1")
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantDir != "" {
				if f.dir != tt.wantDir || f.own {
					t.Errorf("newFlightCollector(%v) = dir %q own %v; want %q, not own", tt.env, f.dir, f.own, tt.wantDir)
				}
				return
			}
			if !f.own || !strings.Contains(filepath.Base(f.dir), "job1") {
				t.Errorf("newFlightCollector(%v) = dir %q own %v; want a fresh directory named after the job", tt.env, f.dir, f.own)
			}
			s := &supervisor{flight: f}
			s.flightClose()
			if _, err := os.Stat(f.dir); !os.IsNotExist(err) {
				t.Errorf("flight dir %s after the job: %v; want it removed", f.dir, err)
			}
		})
	}
}

// standIns writes a rank program (a shell script standing in for a Kizuna
// program) into dir: it registers a flight record in KIZUNA_FLIGHT_DIR and
// answers SIGUSR1 with a record in which rank 1 waits for rank 0 in
// allreduce #2 and rank 0 is idle after allreduce #1.
func standIns(t *testing.T, dir string) string {
	t.Helper()
	prog := filepath.Join(dir, "rank.sh")
	// write saves rec as JSON in file, as the rank would.
	write := func(file string, rec *diag.FlightRecord) {
		b, err := json.Marshal(rec)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(file, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now().Add(time.Hour) // newer than the signal
	done := diag.FlightOp{Seq: 1, Op: "allreduce", Algo: "ring", State: diag.StateDone, WaitingOn: -1}
	wait := diag.FlightOp{Seq: 2, Op: "allreduce", Algo: "ring", Bytes: 8, State: diag.StateRunning, Step: 0, Steps: 2, WaitingOn: 0, Waiting: "recv"}
	write(prog+".answer0", &diag.FlightRecord{Rank: 0, Size: 2, Reason: diag.ReasonSignal, Time: now, Ops: []diag.FlightOp{done}})
	write(prog+".answer1", &diag.FlightRecord{Rank: 1, Size: 2, Reason: diag.ReasonSignal, Time: now, Ops: []diag.FlightOp{done, wait}})
	for r := range 2 {
		write(prog+".start"+strconv.Itoa(r), &diag.FlightRecord{Rank: r, Size: 2, Reason: diag.ReasonStart, Ops: []diag.FlightOp{}})
	}
	script := `r=$KIZUNA_RANK; d=$KIZUNA_FLIGHT_DIR
trap 'cp "$0.answer$r" "$d/f.tmp$r" && mv "$d/f.tmp$r" "$d/flight-rank$r-comm0.json"' USR1
mkdir -p "$d" && cp "$0.start$r" "$d/flight-rank$r-comm0.json"
while :; do sleep 0.05; done`
	if err := os.WriteFile(prog, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return prog
}

// wantSummary are lines of the summary of standIns' records.
var wantSummary = []string{
	"kizuna run:   rank 1 waits in allreduce #2 (ring, 8 B, step 1/2, recv) for rank 0",
	"kizuna run:   behind: rank 0 is idle after allreduce #1 (done); rank 1 ahead of it",
}

// TestRunTimeoutFlight: on its timeout, a job whose ranks registered a
// flight record is sent SIGUSR1, and the summary of the records they
// write is printed before the ranks are stopped; the job still ends with a
// *TimeoutError.
func TestRunTimeoutFlight(t *testing.T) {
	dir := t.TempDir()
	prog := standIns(t, dir)
	flight := filepath.Join(dir, "flight")
	var out, log bytes.Buffer
	err := Run(context.Background(), Job{
		NP: 2, Argv: []string{"sh", prog}, Env: []string{"KIZUNA_FLIGHT_DIR=" + flight},
		Stdout: &out, Stderr: &log, Timeout: 2 * time.Second, Grace: 500 * time.Millisecond,
	})
	var te *TimeoutError
	if !errors.As(err, &te) {
		t.Fatalf("Run = %v; want a *TimeoutError\n%s", err, log.String())
	}
	for _, want := range append([]string{"kizuna run: flight records of the ranks (in " + flight + "):"}, wantSummary...) {
		if !strings.Contains(log.String(), want) {
			t.Errorf("launcher output lacks %q:\n%s", want, log.String())
		}
	}
}

// lockedBuffer is a bytes.Buffer safe for a writer and a reader at once.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestRunDumpFlight: a Job.Dump request (kizuna run's SIGUSR1) prints the
// summary and the job goes on.
func TestRunDumpFlight(t *testing.T) {
	dir := t.TempDir()
	prog := standIns(t, dir)
	flight := filepath.Join(dir, "flight")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dump := make(chan os.Signal, 1)
	var log lockedBuffer
	errc := make(chan error, 1)
	go func() {
		errc <- Run(ctx, Job{NP: 2, Argv: []string{"sh", prog}, Env: []string{"KIZUNA_FLIGHT_DIR=" + flight},
			Stderr: &log, Dump: dump, Grace: 500 * time.Millisecond})
	}()
	deadline := time.Now().Add(30 * time.Second)
	for { // both ranks registered
		recs, _ := diag.ReadFlights(flight)
		if len(recs[0]) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ranks never registered their flight records\n%s", log.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	dump <- syscall.SIGUSR1
	for !strings.Contains(log.String(), wantSummary[1]) {
		if time.Now().After(deadline) {
			t.Fatalf("no summary after the dump request:\n%s", log.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, want := range wantSummary {
		if !strings.Contains(log.String(), want) {
			t.Errorf("launcher output lacks %q:\n%s", want, log.String())
		}
	}
	select {
	case err := <-errc:
		t.Fatalf("Run ended after a dump request: %v", err)
	case <-time.After(200 * time.Millisecond): // still running
	}
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("Run after cancel = %v; want context.Canceled", err)
	}
}
