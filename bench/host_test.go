package bench

import (
	"math"
	"strings"
	"testing"
)

func TestMedian(t *testing.T) {
	tests := []struct {
		in   []float64
		want float64
	}{{[]float64{3, 1, 2}, 2}, {[]float64{4, 1, 3, 2}, 2.5}, {[]float64{7}, 7}}
	for _, tt := range tests {
		if got := Median(tt.in); got != tt.want {
			t.Errorf("Median(%v) = %v; want %v", tt.in, got, tt.want)
		}
	}
	if got := Median(nil); !math.IsNaN(got) {
		t.Errorf("Median(nil) = %v; want NaN", got)
	}
}

func TestLoadAvg(t *testing.T) {
	got := LoadAvg()
	if got == "unknown" {
		t.Skip("no /proc/loadavg here")
	}
	if f := len(strings.Fields(got)); f != 3 {
		t.Errorf("LoadAvg() = %q; want three load averages", got)
	}
}
