package shm

import (
	"runtime"
	"testing"
)

func TestEnsureProcs(t *testing.T) {
	old := runtime.GOMAXPROCS(0)
	defer runtime.GOMAXPROCS(old)
	tests := []struct {
		name        string
		env         string
		before, arg int
		want        int
	}{
		{"raised", "", 1, 3, 3},
		{"already enough", "", 4, 3, 4},
		{"set by the user", "1", 1, 3, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("GOMAXPROCS", tt.env)
			runtime.GOMAXPROCS(tt.before)
			ensureProcs(tt.arg)
			if got := runtime.GOMAXPROCS(0); got != tt.want {
				t.Fatalf("ensureProcs(%d) with GOMAXPROCS=%d, env %q: GOMAXPROCS = %d; want %d", tt.arg, tt.before, tt.env, got, tt.want)
			}
		})
	}
}
