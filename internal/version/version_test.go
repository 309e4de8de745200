package version

import (
	"runtime/debug"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestFromBuildInfo(t *testing.T) {
	tests := []struct {
		name     string
		version  string
		settings map[string]string
		want     string
	}{
		{"module version", "v1.2.3", nil, "v1.2.3"},
		{"devel without vcs", "(devel)", nil, "devel"},
		{"clean revision", "(devel)", map[string]string{"vcs.revision": "0123456789abcdef0123", "vcs.modified": "false"}, "devel-0123456789ab"},
		{"dirty revision", "", map[string]string{"vcs.revision": "abc", "vcs.modified": "true"}, "devel-abc-dirty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			info := &debug.BuildInfo{Main: debug.Module{Version: tt.version}}
			for k, v := range tt.settings {
				info.Settings = append(info.Settings, debug.BuildSetting{Key: k, Value: v})
			}
			if got := fromBuildInfo(info); got != tt.want {
				t.Errorf("fromBuildInfo(%q, %v) = %q; want %q", tt.version, tt.settings, got, tt.want)
			}
		})
	}
}

func TestOverride(t *testing.T) {
	old := Override
	defer func() { Override = old }()
	Override = "v9.9.9"
	if got := String(); got != "v9.9.9" {
		t.Errorf("String() with Override = %q; want v9.9.9", got)
	}
}
