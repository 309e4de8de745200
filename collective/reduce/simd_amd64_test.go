//go:build amd64 && !purego && linux

package reduce

import (
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// TestSIMDInstalled checks, against the kernel's own view of the CPU
// (/proc/cpuinfo), that init really installed the AVX2 (and F16C) kernels:
// without it a broken feature check would leave the portable kernels in
// place and every SIMD test would compare them with themselves.
func TestSIMDInstalled(t *testing.T) {
	if simdDisabled() {
		t.Skipf("KIZUNA_SIMD=%q turns the SIMD kernels off", os.Getenv("KIZUNA_SIMD"))
	}
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		t.Skipf("no /proc/cpuinfo: %v", err)
	}
	var flags []string
	for line := range strings.Lines(string(b)) {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "flags" {
			flags = strings.Fields(v)
			break
		}
	}
	hasAVX2, hasF16C := slices.Contains(flags, "avx2"), slices.Contains(flags, "f16c")
	tests := []struct {
		feature string
		cpu     bool
		dt      DType
	}{
		{"avx2", hasAVX2, Float32},
		{"f16c", hasAVX2 && hasF16C, Float16},
	}
	for _, tt := range tests {
		got := slices.Contains(strings.Split(SIMD(), ","), tt.feature)
		if got != tt.cpu {
			t.Errorf("SIMD() = %q with cpuinfo flags avx2=%v f16c=%v; want %s installed = %v", SIMD(), hasAVX2, hasF16C, tt.feature, tt.cpu)
		}
		simd := reflect.ValueOf(kernels[Sum][tt.dt]).Pointer() != reflect.ValueOf(scalarKernels[Sum][tt.dt]).Pointer()
		if simd != tt.cpu {
			t.Errorf("Sum %v kernel is SIMD = %v; want %v (%s on this CPU: %v)", tt.dt, simd, tt.cpu, tt.feature, tt.cpu)
		}
	}
}
