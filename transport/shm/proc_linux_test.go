package shm

import (
	"errors"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/kizuna-hpc/kizuna/transport"
)

// TestProcStart: this process is alive with a stable start time; a child
// that exited is not, whether still a zombie or reaped.
func TestProcStart(t *testing.T) {
	start, alive := procStart(os.Getpid())
	if !alive || start == 0 || start != selfStart() {
		t.Fatalf("procStart(self) = %d, %v; want %d, true", start, alive, selfStart())
	}
	cmd := exec.Command("true")
	if err := cmd.Start(); err != nil {
		t.Skipf("cannot start a child: %v", err)
	}
	pid := cmd.Process.Pid
	deadline := time.Now().Add(10 * time.Second)
	for { // a zombie until waited for
		if _, alive := procStart(pid); !alive {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("procStart(exited child %d) still alive after 10s", pid)
		}
		time.Sleep(time.Millisecond)
	}
	_ = cmd.Wait()
	if _, alive := procStart(pid); alive {
		t.Fatalf("procStart(reaped child %d) = alive; want not", pid)
	}
}

// TestParseStat: the state and start time come from the fields after the
// last ')', whatever the command name holds.
func TestParseStat(t *testing.T) {
	tail := " 1 1 1 0 -1 4194560 100 0 0 0 5 3 0 0 20 0 1 0 "
	tests := []struct {
		name                string
		line                string
		wantStart           uint64
		wantAlive, wantStop bool
	}{
		{"running", "42 (kizuna) R" + tail + "98765 1000 5\n", 98765, true, false},
		{"sleeping", "42 (kizuna) S" + tail + "7 1000 5\n", 7, true, false},
		{"stopped", "42 (kizuna) T" + tail + "98765 1000 5\n", 98765, true, true},
		{"traced", "42 (kizuna) t" + tail + "98765 1000 5\n", 98765, true, true},
		{"zombie", "42 (kizuna) Z" + tail + "98765 1000 5\n", 0, false, false},
		{"name with ) and spaces", "42 (a) T (b) S" + tail + "555 1000 5\n", 555, true, false},
		{"truncated", "42 (kizuna) S 1 1 1\n", 0, false, false},
		{"no parenthesis", "42 kizuna S" + tail + "5\n", 0, false, false},
		{"bad start time", "42 (kizuna) S" + tail + "12x4 1000 5\n", 0, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start, alive, stopped := parseStat([]byte(tt.line))
			if start != tt.wantStart || alive != tt.wantAlive || stopped != tt.wantStop {
				t.Errorf("parseStat(%q) = %d, %v, %v; want %d, %v, %v", tt.line, start, alive, stopped, tt.wantStart, tt.wantAlive, tt.wantStop)
			}
		})
	}
}

// TestProcStatusNoAlloc: the check an idle link runs allocates nothing.
func TestProcStatusNoAlloc(t *testing.T) {
	p := newProcPath(os.Getpid())
	if start, alive, stopped := procStatus(p); !alive || stopped || start != selfStart() {
		t.Fatalf("procStatus(self) = %d, %v, %v; want %d, true, false", start, alive, stopped, selfStart())
	}
	if raceEnabled {
		t.Skip("allocation counts mean nothing under the race detector; run without -race")
	}
	if n := testing.AllocsPerRun(100, func() { procStatus(p) }); n != 0 {
		t.Errorf("procStatus allocates %v times per call; want 0", n)
	}
}

// TestProcStatusStopped: a SIGSTOPped child reads as stopped, and alive.
func TestProcStatusStopped(t *testing.T) {
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Skipf("cannot start a child: %v", err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	p := newProcPath(cmd.Process.Pid)
	if err := cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, alive, stopped := procStatus(p)
		if alive && stopped {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("procStatus(SIGSTOPped child) = alive %v, stopped %v after 10s; want true, true", alive, stopped)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestPeerGoneStopped: a link's stopped-peer check fails the link with
// transport.ErrSilent only once the peer has been seen stopped for two
// heartbeat intervals, never without a heartbeat, forgets a stop that
// ended, and reports an exited peer (or one whose pid was reused) as exited.
func TestPeerGoneStopped(t *testing.T) {
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Skipf("cannot start a child: %v", err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	pid := cmd.Process.Pid
	born, alive := procStart(pid)
	if !alive {
		t.Fatalf("procStart(child %d) = not alive; want alive", pid)
	}
	const hb = 20 * time.Millisecond
	newLink := func(hb time.Duration, born uint64) *link {
		return &link{e: &Endpoint{heartbeat: hb}, rank: 1, pid: pid, born: born, proc: newProcPath(pid)}
	}
	l, off := newLink(hb, born), newLink(0, born)
	if err := l.peerGone(); err != nil {
		t.Fatalf("peerGone(running peer) = %v; want nil", err)
	}
	if err := newLink(hb, born+1).peerGone(); err == nil {
		t.Fatalf("peerGone(peer with another start time) = nil; want an error")
	}
	awaitStopped := func(want bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			if _, _, stopped := procStatus(l.proc); stopped == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("procStatus(child).stopped != %v after 10s", want)
			}
			time.Sleep(time.Millisecond)
		}
	}
	if err := cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	awaitStopped(true)
	first := time.Now()
	if err := l.peerGone(); err != nil {
		t.Fatalf("peerGone(peer just seen stopped) = %v; want nil", err)
	}
	var err error
	for deadline := time.Now().Add(10 * time.Second); err == nil && time.Now().Before(deadline); {
		time.Sleep(hb / 4)
		err = l.peerGone()
	}
	if !errors.Is(err, transport.ErrSilent) {
		t.Fatalf("peerGone(peer stopped for a while) = %v; want %v", err, transport.ErrSilent)
	}
	if d := time.Since(first); d < 2*hb {
		t.Errorf("peerGone failed the link %v after the stop was seen; want at least %v", d, 2*hb)
	}
	if err := off.peerGone(); err != nil {
		t.Errorf("peerGone(stopped peer, no heartbeat) = %v; want nil", err)
	}
	if err := cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	awaitStopped(false)
	if err := l.peerGone(); err != nil || l.stoppedSince.Load() != 0 {
		t.Errorf("peerGone(resumed peer) = %v, stoppedSince %d; want nil, 0", err, l.stoppedSince.Load())
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	if err := l.peerGone(); err == nil || errors.Is(err, transport.ErrSilent) {
		t.Errorf("peerGone(exited peer) = %v; want an exit error, not %v", err, transport.ErrSilent)
	}
}
