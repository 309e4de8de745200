package test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kizuna-hpc/kizuna/bench"
	"github.com/kizuna-hpc/kizuna/rendezvous"
)

// TestBenchProcesses: `kizuna bench` with its default (separate processes,
// over shared memory since they share this host) runs every operation,
// checks every result, and reports rows in the documented JSON shape.
func TestBenchProcesses(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bins.kizuna, "bench", "-np", "3", "-op", "all", "-b", "4", "-e", "64K", "-f", "16", "-n", "2", "-w", "1", "-json")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kizuna bench: %v\nstderr:\n%s", err, stderr.String())
	}
	seen := map[string]int{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		var r bench.Row
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("bad JSON row %q: %v", sc.Text(), err)
		}
		if r.Wrong != 0 {
			t.Errorf("row %+v: wrong = %d; want 0", r, r.Wrong)
		}
		if r.NP != 3 || r.Transport != "shm" { // auto: the ranks share this host
			t.Errorf("row %+v: np/transport = %d/%s; want 3/shm", r, r.NP, r.Transport)
		}
		seen[r.Op]++
	}
	for _, op := range []string{"allreduce", "broadcast", "reduce", "allgather", "reducescatter", "alltoall", "gather", "scatter", "sendrecv", "barrier"} {
		if seen[op] == 0 {
			t.Errorf("no rows for %s; got %v", op, seen)
		}
	}
}

// TestBenchTable: the default table output carries the nccl-tests columns
// and footer.
func TestBenchTable(t *testing.T) {
	out, err := exec.Command(bins.kizuna, "bench", "-np", "2", "-b", "1K", "-e", "4K", "-n", "2", "-w", "1").CombinedOutput()
	if err != nil {
		t.Fatalf("kizuna bench: %v\n%s", err, out)
	}
	for _, want := range []string{"out-of-place", "in-place", "busbw", "#wrong", "p50", "p99", "# Avg bus bandwidth", "# Out of bounds values : 0 OK"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("kizuna bench output lacks %q:\n%s", want, out)
		}
	}
}

// startRanks starts n rankprog processes against a store of the test's own.
func startRanks(t *testing.T, n int, args ...string) ([]*exec.Cmd, []*syncWriter, []*syncWriter) {
	return startRanksEnv(t, n, nil, args...)
}

// startRanksEnv is startRanks with extra environment variables, which
// come after (and so override) KIZUNA_TIMEOUT=60s.
func startRanksEnv(t *testing.T, n int, env []string, args ...string) ([]*exec.Cmd, []*syncWriter, []*syncWriter) {
	t.Helper()
	return startProg(t, bins.rankprog, n, append([]string{"KIZUNA_TIMEOUT=60s"}, env...), args...)
}

// startProg starts n processes of prog as ranks against a store of the
// test's own.
func startProg(t *testing.T, prog string, n int, env []string, args ...string) ([]*exec.Cmd, []*syncWriter, []*syncWriter) {
	t.Helper()
	store, err := rendezvous.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	cmds := make([]*exec.Cmd, n)
	outs := make([]*syncWriter, n)
	errs := make([]*syncWriter, n)
	for r := range n {
		cmd := exec.Command(prog, args...)
		cmd.Env = append(os.Environ(),
			"KIZUNA_RANK="+strconv.Itoa(r), "KIZUNA_WORLD_SIZE="+strconv.Itoa(n),
			"KIZUNA_MASTER_ADDR="+store.Addr(), "KIZUNA_EXTERNAL_STORE=1",
			"KIZUNA_JOB_ID="+strings.ReplaceAll(t.Name(), "/", "-"))
		cmd.Env = append(cmd.Env, env...)
		outs[r], errs[r] = &syncWriter{w: new(bytes.Buffer)}, &syncWriter{w: new(bytes.Buffer)}
		cmd.Stdout, cmd.Stderr = outs[r], errs[r]
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds[r] = cmd
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	}
	return cmds, outs, errs
}

// TestOracleProcesses: every collective and algorithm across 4 separate
// processes over TCP, checked against the oracle in each process.
func TestOracleProcesses(t *testing.T) {
	cmds, outs, errs := startRanks(t, 4, "-mode", "oracle")
	for r, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Errorf("rank %d: %v\n%s", r, err, errs[r])
			continue
		}
		if !strings.HasPrefix(outs[r].String(), "ok ") {
			t.Errorf("rank %d output = %q; want ok", r, outs[r])
		}
	}
}

// TestPeerKilled: SIGKILL one of 4 processes mid-loop; every survivor exits
// with an error that names the dead rank, well before the 60 s timeout.
func TestPeerKilled(t *testing.T) {
	const n, victim = 4, 2
	cmds, outs, errs := startRanks(t, n, "-mode", "loop")
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
			err := cmds[r].Wait()
			msg := errs[r].String()
			if err == nil {
				t.Errorf("rank %d exited 0 after rank %d died", r, victim)
			}
			if !strings.Contains(msg, fmt.Sprintf("rank %d", victim)) {
				t.Errorf("rank %d stderr = %q; want it to name rank %d", r, msg, victim)
			}
		}()
	}
	wg.Wait()
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("survivors took %v to fail; want well under the 60s timeout", d)
	}
}

type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func (s *syncWriter) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.String()
}

// TestPeerStalled: a rank stopped with SIGSTOP (alive, but reading
// nothing) while the root is blocked writing 64 MiB broadcasts to it: every
// other rank fails by KIZUNA_TIMEOUT, the root included, instead of hanging.
func TestPeerStalled(t *testing.T) {
	const n, victim = 3, 2
	cmds, outs, errs := startRanksEnv(t, n, []string{"KIZUNA_TIMEOUT=3s"}, "-mode", "bcast")
	t.Cleanup(func() { cmds[victim].Process.Signal(syscall.SIGCONT) })
	waitReady(t, outs, errs)
	start := time.Now()
	cmds[victim].Process.Signal(syscall.SIGSTOP)
	var wg sync.WaitGroup
	for r := range n {
		if r == victim {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			err, ended := waitExit(cmds[r], 45*time.Second)
			switch {
			case !ended:
				t.Errorf("rank %d still running 45 s after rank %d stopped (timeout 3 s); stderr: %s", r, victim, errs[r])
			case err == nil:
				t.Errorf("rank %d exited 0 while rank %d was stopped", r, victim)
			}
		}()
	}
	wg.Wait()
	t.Logf("survivors failed %v after the stop", time.Since(start))
}

// waitReady waits until every rank printed "ready" (its first operation
// succeeded).
func waitReady(t *testing.T, outs, errs []*syncWriter) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for r := range outs {
		for !strings.Contains(outs[r].String(), "ready") {
			if time.Now().After(deadline) {
				t.Fatalf("rank %d never got ready: %s", r, errs[r])
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// waitExit waits up to d for cmd to exit and returns its Wait error; when d
// passes first it kills cmd, reaps it and reports ended false.
func waitExit(cmd *exec.Cmd, d time.Duration) (err error, ended bool) {
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err, true
	case <-time.After(d):
		cmd.Process.Kill()
		return <-done, false
	}
}
