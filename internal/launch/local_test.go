package launch

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// TestMain doubles as the agent: Run starts "os.Executable() agent", which
// in these tests is the test binary.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "agent" {
		if err := Agent(os.Stdin, os.Stdout, nil, os.Stderr); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	// Launchers and agents run in the test process itself too
	// (run_test.go): they must not put the test binary under SCHED_BATCH.
	batchSelf = false
	goleak.VerifyTestMain(m)
}

type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func sh(script string) []string { return []string{"/bin/sh", "-c", script} }

func TestRunLocal(t *testing.T) {
	if _, err := os.Stat("/bin/sh"); err != nil {
		t.Skip("no /bin/sh")
	}
	tests := []struct {
		name       string
		np         int
		script     string
		wantRank   int // -1: success
		wantStatus int
		wantOut    []string
	}{
		{"all succeed with env", 3, `echo "rank $KIZUNA_RANK of $KIZUNA_WORLD_SIZE at $KIZUNA_MASTER_ADDR"`, -1, 0,
			[]string{"rank 0 of 3 at 127.0.0.1:", "rank 1 of 3", "rank 2 of 3"}},
		{"one exits non-zero", 3, `if [ "$KIZUNA_RANK" = 1 ]; then echo boom >&2; exit 3; fi; sleep 30`, 1, 3, []string{"boom"}},
		{"one killed by signal", 2, `if [ "$KIZUNA_RANK" = 0 ]; then kill -9 $$; fi; sleep 30`, 0, 128 + 9, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut lockedBuf
			start := time.Now()
			err := RunLocal(context.Background(), Job{NP: tt.np, Argv: sh(tt.script), Stdout: &out, Stderr: &errOut, Grace: 500 * time.Millisecond})
			if d := time.Since(start); d > 20*time.Second {
				t.Errorf("RunLocal took %v; the others were not stopped", d)
			}
			all := out.String() + errOut.String()
			for _, w := range tt.wantOut {
				if !strings.Contains(all, w) {
					t.Errorf("output %q lacks %q", all, w)
				}
			}
			if tt.wantRank < 0 {
				if err != nil {
					t.Fatalf("RunLocal() = %v; want nil", err)
				}
				return
			}
			var ee *ExitError
			if !errors.As(err, &ee) {
				t.Fatalf("RunLocal() = %v; want *ExitError", err)
			}
			if ee.Rank != tt.wantRank || ee.Status != tt.wantStatus {
				t.Errorf("RunLocal() = rank %d status %d (%v); want rank %d status %d", ee.Rank, ee.Status, ee, tt.wantRank, tt.wantStatus)
			}
		})
	}
}

func TestRunLocalContext(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	var out lockedBuf
	err := RunLocal(ctx, Job{NP: 2, Argv: sh("sleep 30"), Stdout: &out, Stderr: &out, Grace: 200 * time.Millisecond})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("RunLocal() = %v; want context.DeadlineExceeded", err)
	}
}

func TestRunLocalBadJob(t *testing.T) {
	tests := []struct {
		name string
		job  Job
	}{
		{"no ranks", Job{NP: 0, Argv: []string{"true"}}},
		{"no program", Job{NP: 1}},
		{"missing program", Job{NP: 1, Argv: []string{"/nonexistent/prog"}, Stdout: &lockedBuf{}, Stderr: &lockedBuf{}}},
	}
	for _, tt := range tests {
		if err := RunLocal(context.Background(), tt.job); err == nil {
			t.Errorf("%s: RunLocal() = nil; want an error", tt.name)
		}
	}
}

// TestWholeLines: concurrent writers never interleave within a line.
func TestWholeLines(t *testing.T) {
	var out lockedBuf
	script := `i=0; while [ $i -lt 200 ]; do echo "rank-$KIZUNA_RANK-line-$i-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"; i=$((i+1)); done`
	if err := RunLocal(context.Background(), Job{NP: 4, Argv: sh(script), Stdout: &out, Stderr: &out}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 800 {
		t.Fatalf("got %d lines; want 800", len(lines))
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, "rank-") || !strings.HasSuffix(l, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx") || strings.Count(l, "rank-") != 1 {
			t.Fatalf("interleaved line %q", l)
		}
	}
}
