package launch

import (
	"os/exec"
	"syscall"
)

// setProcAttr puts the rank in its own process group (so that signals reach
// everything it started) and has the kernel kill it if the launcher dies.
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

func signalGroup(cmd *exec.Cmd, sig syscall.Signal) {
	_ = syscall.Kill(-cmd.Process.Pid, sig)
}
