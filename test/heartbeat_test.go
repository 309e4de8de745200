package test

import (
	"fmt"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestHeartbeatStoppedPeer: a rank stopped with SIGSTOP keeps its
// connections open but sends nothing, not even heartbeats. With
// KIZUNA_HEARTBEAT=200ms every other rank fails with an error naming it
// long before the 60 s operation timeout: the heartbeat, not the timeout,
// detected it. Over TCP (heartbeat frames on idle links) and over shared
// memory (the waiting side sees the peer's process stopped).
func TestHeartbeatStoppedPeer(t *testing.T) {
	for _, tr := range []string{"tcp", "shm"} {
		t.Run(tr, func(t *testing.T) { stoppedPeer(t, tr) })
	}
}

func stoppedPeer(t *testing.T, transport string) {
	const n, victim = 4, 2
	cmds, outs, errs := startRanksEnv(t, n, []string{"KIZUNA_TIMEOUT=60s", "KIZUNA_HEARTBEAT=200ms", "KIZUNA_TRANSPORT=" + transport}, "-mode", "loop")
	t.Cleanup(func() { cmds[victim].Process.Signal(syscall.SIGCONT) })
	waitReady(t, outs, errs)
	start := time.Now()
	cmds[victim].Process.Signal(syscall.SIGSTOP)
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		slowest time.Duration
	)
	for r := range n {
		if r == victim {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			err, ended := waitExit(cmds[r], 45*time.Second)
			d := time.Since(start) // detection, then Close lingering for the stopped peer
			mu.Lock()
			slowest = max(slowest, d)
			mu.Unlock()
			msg := errs[r].String()
			switch {
			case !ended:
				t.Errorf("rank %d still running 45 s after rank %d stopped; stderr: %s", r, victim, msg)
			case err == nil:
				t.Errorf("rank %d exited 0 while rank %d was stopped", r, victim)
			case !strings.Contains(msg, fmt.Sprintf("rank %d", victim)):
				t.Errorf("rank %d stderr = %q; want it to name rank %d", r, msg, victim)
			case !strings.Contains(msg, "peer silent past the heartbeat timeout"):
				t.Errorf("rank %d stderr = %q; want transport.ErrSilent (the heartbeat, not the timeout, found rank %d)", r, msg, victim)
			case d > 30*time.Second:
				t.Errorf("rank %d failed %v after the stop; want well before the 60 s timeout", r, d)
			}
		}()
	}
	wg.Wait()
	t.Logf("every survivor exited within %v of the stop (heartbeat 200ms; the exit includes Close's linger of up to 2 s for the stopped peer)", slowest)
}
