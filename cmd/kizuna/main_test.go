package main

import (
	"errors"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestBenchFlagErrors: bad flags are refused with a message naming the flag.
func TestBenchFlagErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"-b", "lots"}, "-b"},
		{[]string{"-e", "1Q"}, "-e"},
		{[]string{"-d", "float128"}, "-d"},
		{[]string{"-o", "xor"}, "-o"},
		{[]string{"-algo", "bogus"}, "-algo"},
		{[]string{"-c", "2"}, "-c"},
		{[]string{"-op", "allreduse"}, "allreduse"},
		{[]string{"-np", "0"}, "-np"},
		{[]string{"-r", "9"}, "-r"},
		{[]string{"-transport", "carrier-pigeon"}, "-transport"},
		{[]string{"-b", "64", "-e", "8"}, "min <= max"},
		{[]string{"extra"}, "unexpected argument"},
	}
	t.Setenv("KIZUNA_RANK", "")
	t.Setenv("KIZUNA_WORLD_SIZE", "")
	for _, tt := range tests {
		err := runBench(tt.args)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("runBench(%q) = %v; want an error mentioning %q", tt.args, err, tt.want)
		}
	}
}

func TestUnknownCommand(t *testing.T) {
	var ec exitCode
	if err := run([]string{"frobnicate"}); !errors.As(err, &ec) || ec != 2 {
		t.Errorf("run(frobnicate) = %v; want exit status 2", err)
	}
	if err := run([]string{"version"}); err != nil {
		t.Errorf("run(version) = %v", err)
	}
}

// TestBenchInproc runs a tiny checked sweep on goroutine ranks.
func TestBenchInproc(t *testing.T) {
	t.Setenv("KIZUNA_RANK", "")
	t.Setenv("KIZUNA_WORLD_SIZE", "")
	if err := runBench([]string{"-transport", "inproc", "-np", "3", "-op", "allreduce,allgather", "-b", "8", "-e", "1K", "-f", "4", "-n", "2", "-w", "0"}); err != nil {
		t.Fatal(err)
	}
}
