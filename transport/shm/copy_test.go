package shm

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

// TestNTCopy: ntCopy writes exactly dst[:len(src)] = src whatever the
// alignment of either side and the length (the non-temporal body, the
// ordinary head and tail), and nothing around it.
func TestNTCopy(t *testing.T) {
	src := make([]byte, 70<<10)
	for i := range src {
		src[i] = byte(i*7 + i>>8)
	}
	buf := make([]byte, 72<<10)
	for _, n := range []int{0, 1, 63, 64, 65, 127, 128, 4095, ntMinBytes, ntMinBytes + 17, 64 << 10} {
		for _, doff := range []int{0, 1, 15, 16, 33, 63} {
			for _, soff := range []int{0, 5, 64} {
				for i := range buf {
					buf[i] = 0xAA
				}
				dst := buf[doff : doff+n]
				ntCopy(dst, src[soff:soff+n])
				if !bytes.Equal(dst, src[soff:soff+n]) {
					t.Fatalf("n=%d dst+%d src+%d: copy differs", n, doff, soff)
				}
				for i, b := range buf {
					if (i < doff || i >= doff+n) && b != 0xAA {
						t.Fatalf("n=%d dst+%d src+%d: wrote byte %d outside dst", n, doff, soff, i)
					}
				}
			}
		}
	}
}

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
		{CopyNT, nil, haveNT},
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
			if haveNT && c.nt != tt.want || !haveNT && c.nt {
				t.Fatalf("after %v: non-temporal = %v; want %v", tt.rates, c.nt, tt.want && haveNT)
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
