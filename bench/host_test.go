package bench

import (
	"errors"
	"math"
	"runtime"
	"strings"
	"testing"

	"github.com/kizuna-hpc/kizuna/internal/cpus"
	"github.com/kizuna-hpc/kizuna/internal/ntstore"
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

// TestMeasureDistance: between two processors the probe reports a round
// trip and three rates, all positive; a processor that is not there is an
// error, not a hang.
func TestMeasureDistance(t *testing.T) {
	if runtime.GOOS != "linux" {
		if _, err := MeasureDistance(0, 1); !errors.Is(err, cpus.ErrNoAffinity) {
			t.Fatalf("MeasureDistance = %v; want cpus.ErrNoAffinity", err)
		}
		return
	}
	if runtime.NumCPU() < 2 {
		t.Skip("needs two processors")
	}
	d, err := MeasureDistance(0, 1)
	if err != nil {
		t.Fatal(err)
	}
	if d.RoundTrip <= 0 || d.Cached <= 0 || d.Read <= 0 || ntstore.Available && d.NT <= 0 {
		t.Fatalf("MeasureDistance(0, 1) = %+v; want every figure positive", d)
	}
	if s := d.String(); !strings.Contains(s, "round trip") || !strings.Contains(s, "GB/s") {
		t.Fatalf("String() = %q", s)
	}
	tests := []struct {
		a, b int
		want string
	}{
		{0, 4096, "processor 4096"},
		{1, 1, "processor 1 to itself"},
	}
	for _, tt := range tests {
		if _, err := MeasureDistance(tt.a, tt.b); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("MeasureDistance(%d, %d) = %v; want an error containing %q", tt.a, tt.b, err, tt.want)
		}
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	if _, err := MeasureDistance(0, 1); err == nil || !strings.Contains(err.Error(), "GOMAXPROCS") {
		t.Errorf("MeasureDistance(0, 1) with GOMAXPROCS=1 = %v; want an error naming GOMAXPROCS", err)
	}
}
