//go:build !linux

package launch

import "os/exec"

func startBound(cmd *exec.Cmd, _ []int, _ bool) error { return cmd.Start() }

// The normal scheduling policy; others are not set here.
const schedOther = 0

func getScheduler() (int, error) { return schedOther, nil }

func batchProcess() error { return nil }
