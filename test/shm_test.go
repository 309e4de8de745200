package test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// shmFiles lists the shared-memory segment files of job.
func shmFiles(t *testing.T, job string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join("/dev/shm", "kizuna-"+job+"-*"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// needShm skips the test (fails it in CI) where there is no /dev/shm.
func needShm(t *testing.T) {
	t.Helper()
	if st, err := os.Stat("/dev/shm"); err != nil || !st.IsDir() {
		prereq(t, "no /dev/shm directory (stat: %v)", err)
	}
}

// TestShmPeerKilled: over shared memory (KIZUNA_TRANSPORT=shm), SIGKILL the
// root while it streams 64 MiB broadcasts through the rings (so mid-frame),
// or a receiver while the root is writing to it: every survivor exits with
// an error, the ranks linked to the dead one naming it, well before the 60 s
// timeout, and no
// segment file of the job is left in /dev/shm, neither while the ranks run
// nor after.
func TestShmPeerKilled(t *testing.T) {
	needShm(t)
	tests := []struct {
		name   string
		victim int
		named  []int // survivors whose error must name the victim
	}{
		{"sender", 0, []int{1, 2}},
		// Rank 0 may instead fail on its send to rank 1, which closes its
		// end after telling rank 0 that rank 2 died (the same happens over
		// TCP): the collective layer reports the send's error.
		{"receiver", 2, []int{1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const n = 3
			job := fmt.Sprintf("shmkill-%d-%s", os.Getpid(), tt.name)
			cmds, outs, errs := startRanksEnv(t, n, []string{"KIZUNA_TRANSPORT=shm", "KIZUNA_JOB_ID=" + job}, "-mode", "bcast")
			waitReady(t, outs, errs)
			if left := shmFiles(t, job); len(left) != 0 {
				t.Errorf("segment files while running: %v; want none (unlinked once mapped)", left)
			}
			start := time.Now()
			cmds[tt.victim].Process.Signal(syscall.SIGKILL)
			var wg sync.WaitGroup
			for r := range n {
				if r == tt.victim {
					continue
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					err, ended := waitExit(cmds[r], 45*time.Second)
					msg := errs[r].String()
					switch {
					case !ended:
						t.Errorf("rank %d still running 45 s after rank %d was killed; stderr: %s", r, tt.victim, msg)
					case err == nil:
						t.Errorf("rank %d exited 0 after rank %d was killed", r, tt.victim)
					case slices.Contains(tt.named, r) && !strings.Contains(msg, fmt.Sprintf("rank %d", tt.victim)):
						t.Errorf("rank %d stderr = %q; want it to name rank %d", r, msg, tt.victim)
					default:
						t.Logf("rank %d: %s", r, strings.TrimSpace(msg))
					}
				}()
			}
			wg.Wait()
			if d := time.Since(start); d > 30*time.Second {
				t.Errorf("survivors took %v to fail; want well under the 60s timeout", d)
			}
			t.Logf("survivors failed %v after the kill", time.Since(start))
			if left := shmFiles(t, job); len(left) != 0 {
				t.Errorf("segment files after the run: %v; want none", left)
			}
		})
	}
}

// TestShmCleanRun: ranks that connect over shared memory, all-reduce and
// exit leave no segment file behind.
func TestShmCleanRun(t *testing.T) {
	needShm(t)
	job := fmt.Sprintf("shmclean-%d", os.Getpid())
	cmds, outs, errs := startRanksEnv(t, 4, []string{"KIZUNA_TRANSPORT=shm", "KIZUNA_JOB_ID=" + job}, "-mode", "env")
	for r, cmd := range cmds {
		if err, ended := waitExit(cmd, 60*time.Second); !ended || err != nil {
			t.Fatalf("rank %d: %v (ended %v)\n%s", r, err, ended, errs[r])
		}
		if !strings.Contains(outs[r].String(), "sum 6") {
			t.Errorf("rank %d output = %q; want sum 6", r, outs[r])
		}
	}
	if left := shmFiles(t, job); len(left) != 0 {
		t.Errorf("segment files after the run: %v; want none", left)
	}
}
