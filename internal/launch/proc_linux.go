package launch

import (
	"os/exec"
	"syscall"
)

// setProcAttr puts a rank in its own process group (so that signals reach
// everything it started) and has the kernel kill it if its parent (the
// agent) dies.
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// setGroupAttr puts an agent (or its remote shell) in its own process
// group, out of reach of the terminal's signals, which the launcher
// forwards itself.
func setGroupAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

func signalGroup(cmd *exec.Cmd, sig syscall.Signal) {
	_ = syscall.Kill(-cmd.Process.Pid, sig)
}
