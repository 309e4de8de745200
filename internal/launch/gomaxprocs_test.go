package launch

import (
	"context"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestProcsVar(t *testing.T) {
	tests := []struct {
		name        string
		env         []string
		cpus, ranks int
		want        string
	}{
		{"as many ranks as cores", nil, 2, 2, "GOMAXPROCS=1"},
		{"more ranks than cores", nil, 2, 4, "GOMAXPROCS=1"},
		{"cores shared out", []string{"PATH=/bin"}, 16, 4, "GOMAXPROCS=4"},
		{"rounded down", nil, 16, 3, "GOMAXPROCS=5"},
		{"one rank", nil, 8, 1, "GOMAXPROCS=8"},
		{"user's choice kept", []string{"GOMAXPROCS=3"}, 16, 4, ""},
		{"empty value is unset", []string{"GOMAXPROCS="}, 4, 2, "GOMAXPROCS=2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := procsVar(tt.env, tt.cpus, tt.ranks); got != tt.want {
				t.Errorf("procsVar(%q, %d, %d) = %q; want %q", tt.env, tt.cpus, tt.ranks, got, tt.want)
			}
		})
	}
}

// TestRanksGetProcs starts ranks through the agent and reads the
// GOMAXPROCS each one was given.
func TestRanksGetProcs(t *testing.T) {
	if _, err := os.Stat("/bin/sh"); err != nil {
		t.Skip("no /bin/sh")
	}
	inherited := os.Getenv("GOMAXPROCS")
	tests := []struct {
		name string
		np   int
		env  []string
		want string
	}{
		{"share", 2, nil, strconv.Itoa(max(1, runtime.GOMAXPROCS(0)/2))},
		{"job sets it", 2, []string{"GOMAXPROCS=7"}, "7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := tt.want
			if inherited != "" && tt.env == nil {
				want = inherited // the agent inherits the test's own
			}
			var out lockedBuf
			err := RunLocal(context.Background(), Job{NP: tt.np, Env: tt.env, Argv: sh(`echo "procs=$GOMAXPROCS"`), Stdout: &out, Stderr: &out, Grace: 500 * time.Millisecond})
			if err != nil {
				t.Fatalf("RunLocal() = %v; output %q", err, out.String())
			}
			if n := strings.Count(out.String(), "procs="+want+"\n"); n != tt.np {
				t.Errorf("ranks printed %q; want procs=%s from each of %d", out.String(), want, tt.np)
			}
		})
	}
}
