package shm

import (
	"os"
	"os/exec"
	"testing"
	"time"
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
