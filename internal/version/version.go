// Package version says which build of Kizuna is running: the version set at
// link time, else the module version or the VCS revision in the build info.
// It is shared by the kizuna command and the C library (kz_version).
package version

import "runtime/debug"

// Override is set at link time (-ldflags "-X
// github.com/kizuna-hpc/kizuna/internal/version.Override=v1.2.3"); when set,
// String returns it.
var Override = ""

// String returns Override, else the main module's version ("v1.2.3"), else
// "devel-<revision>" with "-dirty" for a modified work tree, else "devel".
// It may be called from any goroutine.
func String() string {
	if Override != "" {
		return Override
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "devel"
	}
	return fromBuildInfo(info)
}

func fromBuildInfo(info *debug.BuildInfo) string {
	if v := info.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	rev, dirty := "", false
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return "devel"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if dirty {
		rev += "-dirty"
	}
	return "devel-" + rev
}
