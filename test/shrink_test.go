package test

import (
	"fmt"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestShrinkProcesses: 8 ranks all-reduce in a loop with checked results;
// one is killed with SIGKILL; the 7 others get an error naming it, shrink
// the communicator and go on all-reducing on 7 ranks with the oracle's
// answers, renumbered densely in their old order. Over shared memory (the
// default between processes of one host) and over TCP.
func TestShrinkProcesses(t *testing.T) {
	prog := buildProg(t, "./faultprog")
	tests := []struct {
		transport string
	}{
		{"shm"},
		{"tcp"},
	}
	for _, tt := range tests {
		t.Run(tt.transport, func(t *testing.T) {
			const n, victim = 8, 5
			cmds, outs, errs := startProg(t, prog, n, []string{"KIZUNA_TRANSPORT=" + tt.transport, "KIZUNA_TIMEOUT=60s"}, "-iters", "50")
			waitReady(t, outs, errs)
			start := time.Now()
			cmds[victim].Process.Signal(syscall.SIGKILL)
			var wg sync.WaitGroup
			for r := range n {
				if r == victim {
					continue
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					err, ended := waitExit(cmds[r], 45*time.Second)
					want := r
					if r > victim {
						want--
					}
					out := outs[r].String()
					switch {
					case !ended:
						t.Errorf("rank %d still running 45 s after rank %d was killed; stderr: %s", r, victim, errs[r])
					case err != nil:
						t.Errorf("rank %d: %v; stderr: %s", r, err, errs[r])
					case !strings.Contains(out, fmt.Sprintf("shrunk: rank %d of %d (was rank %d)", want, n-1, r)):
						t.Errorf("rank %d output = %q; want it shrunk to rank %d of %d", r, out, want, n-1)
					case !strings.Contains(errs[r].String(), fmt.Sprintf("rank %d", victim)):
						t.Errorf("rank %d stderr = %q; want its error to name rank %d", r, errs[r], victim)
					}
				}()
			}
			wg.Wait()
			t.Logf("7 survivors shrank and ran 50 checked all-reduces within %v of the kill", time.Since(start))
		})
	}
}
