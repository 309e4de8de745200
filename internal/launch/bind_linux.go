package launch

import (
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"syscall"
	"unsafe"

	"github.com/kizuna-hpc/kizuna/internal/cpus"
)

// Scheduling policies (sched(7)).
const (
	schedOther = 0
	schedBatch = 3
)

// getScheduler returns the calling thread's scheduling policy.
func getScheduler() (int, error) {
	r, _, errno := syscall.RawSyscall(syscall.SYS_SCHED_GETSCHEDULER, 0, 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(r), nil
}

// setScheduler sets the calling thread's policy to schedOther or
// schedBatch (priority 0, the only one they take).
func setScheduler(policy int) error { return setThreadScheduler(0, policy) }

// setThreadScheduler sets thread tid's policy (0: the calling thread).
func setThreadScheduler(tid, policy int) error {
	var prio int32
	_, _, errno := syscall.RawSyscall(syscall.SYS_SCHED_SETSCHEDULER, uintptr(tid), uintptr(policy), uintptr(unsafe.Pointer(&prio)))
	if errno != 0 {
		return errno
	}
	return nil
}

// batchProcess puts every thread of this process that runs under the
// normal policy under SCHED_BATCH; threads started later inherit it from
// the thread that starts them. It returns the first error.
func batchProcess() error {
	ents, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return err
	}
	var first error
	for _, e := range ents {
		tid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if err := setThreadScheduler(tid, schedBatch); err != nil && first == nil && err != syscall.ESRCH {
			first = err
		}
	}
	return first
}

// startBound starts cmd bound to the processors in list (none: unbound), and with batch
// under SCHED_BATCH if this thread runs under the normal policy. The child
// inherits the affinity and policy of the thread that forks it, so this
// thread takes them for the fork and its own back after it.
func startBound(cmd *exec.Cmd, list []int, batch bool) error {
	if len(list) == 0 {
		return cmd.Start()
	}
	m, err := cpus.MaskOf(list)
	if err != nil {
		return cmd.Start()
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	old, err := cpus.Affinity()
	if err != nil {
		return cmd.Start()
	}
	if batch {
		if p, err := getScheduler(); err == nil && p == schedOther && setScheduler(schedBatch) == nil {
			defer func() {
				if setScheduler(schedOther) != nil {
					// Keep the thread out of the runtime's hands, as
					// for the affinity below.
					runtime.LockOSThread()
				}
			}()
		}
	}
	if cpus.SetAffinity(m) != nil {
		return cmd.Start()
	}
	err = cmd.Start()
	if cpus.SetAffinity(old) != nil {
		// The thread keeps the narrow mask: leave this goroutine locked
		// to it (one more lock than the deferred unlock undoes) rather
		// than hand it back to the runtime for other goroutines.
		runtime.LockOSThread()
	}
	return err
}
