package main

import (
	"errors"
	"os"
	"os/signal"
	"syscall"

	"github.com/kizuna-hpc/kizuna/internal/launch"
)

// runAgent is the hidden `kizuna agent`: the process that `kizuna run`
// starts on each remote host through its remote shell. It speaks the launch
// protocol on standard input and output; see package internal/launch.
func runAgent(args []string) error {
	if len(args) != 0 {
		os.Stderr.WriteString("kizuna agent: started by kizuna run; takes no arguments\n")
		return exitCode(2)
	}
	// SIGPIPE handled (not ignored, which ranks would inherit): a write to a
	// launcher that is gone fails with EPIPE instead of killing the agent
	// before it has stopped its ranks.
	pipes := make(chan os.Signal, 1)
	signal.Notify(pipes, syscall.SIGPIPE)
	defer signal.Stop(pipes)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)

	err := launch.Agent(os.Stdin, os.Stdout, sigs, os.Stderr)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, launch.ErrLauncherLost):
		return exitCode(1)
	}
	return exitCode(1) // Agent has reported it to the launcher and on stderr
}
