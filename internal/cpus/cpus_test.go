package cpus

import (
	"runtime"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestHost(t *testing.T) {
	for _, tc := range []struct {
		env     string
		want    int
		wantErr string
	}{
		{"", runtime.NumCPU(), ""},
		{"1", 1, ""},
		{"64", 64, ""},
		{"0", 0, "KIZUNA_HOST_CPUS=\"0\""},
		{"-2", 0, "positive integer"},
		{"two", 0, "KIZUNA_HOST_CPUS=\"two\""},
		{"2.5", 0, "positive integer"},
	} {
		t.Run(tc.env, func(t *testing.T) {
			t.Setenv(EnvHost, tc.env)
			got, err := Host()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Host() = %d, %v; want an error containing %q", got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("Host() = %d, %v; want %d", got, err, tc.want)
			}
		})
	}
}

func TestDedicated(t *testing.T) {
	for _, tc := range []struct {
		ranks, host int
		want        bool
	}{
		{0, 2, false}, // unknown
		{-1, 2, false},
		{1, 1, true},
		{2, 2, true},
		{3, 2, false},
		{4, 64, true},
	} {
		if got := Dedicated(tc.ranks, tc.host); got != tc.want {
			t.Errorf("Dedicated(%d, %d) = %v, want %v", tc.ranks, tc.host, got, tc.want)
		}
	}
}
