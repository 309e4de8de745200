package shm

import (
	"fmt"
	"strings"
	"testing"

	"github.com/kizuna-hpc/kizuna/internal/ntstore"
)

// TestCopierChoice: in auto mode the producer switches to non-temporal
// stores only when the best of the last copySamples timed copies is slow
// (a preempted copy, slow by accident, does not switch it), and back as
// soon as one is fast; fixed modes never change.
func TestCopierChoice(t *testing.T) {
	const slow, fast = 2.4e9, 13e9
	tests := []struct {
		mode  string
		rates []float64
		want  bool
	}{
		{CopyAuto, nil, false},
		{CopyAuto, []float64{slow, slow}, false}, // too few timings yet
		{CopyAuto, []float64{slow, slow, slow}, true},
		{CopyAuto, []float64{fast, slow, slow}, false}, // the fast one is still among the last three
		{CopyAuto, []float64{fast, slow, slow, slow}, true},
		{CopyAuto, []float64{slow, slow, slow, fast}, false},
		{CopyAuto, []float64{fast, fast, slow}, false}, // one slow timing: preempted, say
		{CopyCached, nil, false},
		{CopyNT, nil, ntstore.Available},
		{"", nil, false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%v", tt.mode, tt.rates), func(t *testing.T) {
			c := newCopier(tt.mode)
			for _, r := range tt.rates {
				c.observe(r)
			}
			if tt.mode != CopyAuto && tt.mode != "" && len(tt.rates) == 0 {
				// Fixed modes do not time: copying must not change them.
				b := make([]byte, 64<<10)
				for range copySampleEvery * copySamples * 2 {
					c.copy(b, b)
				}
			}
			if ntstore.Available && c.nt != tt.want || !ntstore.Available && c.nt {
				t.Fatalf("after %v: non-temporal = %v; want %v", tt.rates, c.nt, tt.want && ntstore.Available)
			}
		})
	}
}

// TestCopyModeErrors: a bad mode is refused, naming the variable when it
// came from the environment.
func TestCopyModeErrors(t *testing.T) {
	cfg := Config{Rank: 0, Size: 2, IDs: []string{"a", "b"}, Copy: "fast"}
	if p, err := Prepare(cfg); err == nil || !strings.Contains(err.Error(), `copy mode "fast"`) {
		if err == nil {
			p.Close()
		}
		t.Fatalf("Prepare(Copy: fast) = %v; want an error naming the mode", err)
	}
	t.Setenv(EnvCopy, "movnt")
	cfg.Copy = ""
	if p, err := Prepare(cfg); err == nil || !strings.Contains(err.Error(), EnvCopy+`="movnt"`) {
		if err == nil {
			p.Close()
		}
		t.Fatalf("Prepare with %s=movnt = %v; want an error naming %s", EnvCopy, err, EnvCopy)
	}
}
