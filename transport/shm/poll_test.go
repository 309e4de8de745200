package shm

import (
	"testing"

	"github.com/kizuna-hpc/kizuna/transport/transporttest"
)

// TestInlineReads checks that receivers read their frames from the ring
// themselves when inline reads are on, never when off, and that the data
// is right either way.
func TestInlineReads(t *testing.T) {
	tests := []struct {
		inline     string
		wantInline bool
	}{
		{"on", true},
		{"off", false},
	}
	const rounds = 500
	for _, tt := range tests {
		t.Run(tt.inline, func(t *testing.T) {
			// Which of the receiver and the reader goroutine takes a frame
			// is up to timing: try a few times before calling none inline.
			var n uint64
			for range 5 {
				if n += echoRounds(t, tt.inline, rounds); n > 0 || !tt.wantInline {
					break
				}
			}
			t.Logf("inline = %s: %d frames read inline", tt.inline, n)
			if got := n > 0; got != tt.wantInline {
				t.Fatalf("inline = %s: %d frames read inline; want some: %v", tt.inline, n, tt.wantInline)
			}
		})
	}
}

// echoRounds exchanges rounds 4 KiB frames between two fresh ranks with the
// given inline mode (transporttest.Echo checks every echo) and returns how
// many frames were read inline.
func echoRounds(t *testing.T, inline string, rounds int) uint64 {
	t.Helper()
	eps := connect(t, 2, 0, func(c *Config) { c.Inline = inline })
	transporttest.Echo(t, endpoints(eps), rounds, 4096)
	return eps[0].inlined.Load() + eps[1].inlined.Load()
}
