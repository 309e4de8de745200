package bench

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
)

func TestMeasureLoopback(t *testing.T) {
	modes := []LoopbackMode{LoopbackWrite, LoopbackSplice}
	// Sizes: under one stamp, a partial last page, several splice
	// pieces with an odd tail.
	for _, mode := range modes {
		for _, size := range []int{8, 5000, 1 << 20, 3<<20 + 12} {
			t.Run(fmt.Sprintf("%s/%d", mode, size), func(t *testing.T) {
				rate, err := MeasureLoopback(mode, size, 5)
				if mode == LoopbackSplice && runtime.GOOS != "linux" {
					if !errors.Is(err, ErrNoSplice) {
						t.Fatalf("err = %v, want ErrNoSplice", err)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if rate <= 0 {
					t.Fatalf("rate %v, want > 0", rate)
				}
			})
		}
	}
}

func TestMeasureLoopbackErrors(t *testing.T) {
	tests := []struct {
		mode         LoopbackMode
		size, rounds int
		want         string
	}{
		{"copy", 1 << 10, 1, `mode "copy"`},
		{LoopbackWrite, 4, 1, "4 bytes"},
		{LoopbackWrite, 1 << 10, 0, "0 rounds"},
	}
	for _, tt := range tests {
		_, err := MeasureLoopback(tt.mode, tt.size, tt.rounds)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("MeasureLoopback(%q, %d, %d) = %v, want an error with %q", tt.mode, tt.size, tt.rounds, err, tt.want)
		}
	}
}

// TestStamps: a message whose bytes changed to a later round's after it
// was sent is caught, wherever the change lands.
func TestStamps(t *testing.T) {
	b := make([]byte, 3*stampStride+100)
	stamp(b, 7)
	if err := checkStamps(b, 7); err != nil {
		t.Fatal(err)
	}
	for _, off := range []int{0, stampStride, 3 * stampStride} {
		c := append([]byte(nil), b...)
		c[off] = 8
		err := checkStamps(c, 7)
		if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("offset %d", off)) {
			t.Errorf("change at %d: err = %v, want one naming offset %d", off, err, off)
		}
	}
}
