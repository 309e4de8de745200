//go:build unix

package shm

import (
	"os"
	"strconv"
	"strings"
	"syscall"
)

// HostID identifies the shared-memory domain of this process: processes
// with equal non-empty ids can link through segments in dir ("" means
// KIZUNA_SHM_DIR, else DefaultDir). It is the hostname, the kernel's boot id
// (Linux) and the device of dir, so that two containers with one hostname but
// separate /dev/shm mounts differ. It is "" when dir is not a usable directory.
func HostID(dir string) string {
	if dir == "" {
		dir = os.Getenv(EnvDir)
	}
	if dir == "" {
		dir = DefaultDir
	}
	var st syscall.Stat_t
	if err := syscall.Stat(dir, &st); err != nil || st.Mode&syscall.S_IFMT != syscall.S_IFDIR || syscall.Access(dir, 0o2|0o1) != nil {
		return ""
	}
	host, _ := os.Hostname()
	boot := "-"
	if b, err := os.ReadFile("/proc/sys/kernel/random/boot_id"); err == nil {
		boot = strings.TrimSpace(string(b))
		boot = strings.ReplaceAll(boot, "-", "")
		if len(boot) > 12 {
			boot = boot[:12]
		}
	}
	return host + "/shm:" + boot + ":" + strconv.FormatUint(uint64(st.Dev), 16)
}
