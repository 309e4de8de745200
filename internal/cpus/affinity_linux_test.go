package cpus

import (
	"runtime"
	"slices"
	"strings"
	"testing"
)

func TestMaskOf(t *testing.T) {
	tests := []struct {
		list    []int
		want    Mask
		wantErr string
	}{
		{nil, Mask{}, ""},
		{[]int{0, 1, 65}, Mask{0: 3, 1: 2}, ""},
		{[]int{1023}, Mask{15: 1 << 63}, ""},
		{[]int{1024}, Mask{}, "processor 1024"},
		{[]int{0, -1}, Mask{}, "processor -1"},
	}
	for _, tt := range tests {
		got, err := MaskOf(tt.list)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("MaskOf(%v) = %v; want an error containing %q", tt.list, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("MaskOf(%v) = %v, %v; want %v", tt.list, got, err, tt.want)
		}
	}
}

// TestPin binds a thread to one of its processors and reads the binding
// back; the thread ends with the test's goroutine.
func TestPin(t *testing.T) {
	allowed := Allowed()
	if len(allowed) == 0 {
		t.Fatal("Allowed() = none")
	}
	want := allowed[len(allowed)-1]
	done := make(chan []int)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
		if err := Pin(want); err != nil {
			t.Error(err)
		}
		done <- Allowed()
	}()
	if got := <-done; !slices.Equal(got, []int{want}) {
		t.Errorf("after Pin(%d), Allowed() = %v; want [%d]", want, got, want)
	}
	if err := Pin(1 << 20); err == nil || !strings.Contains(err.Error(), "out of range") {
		t.Errorf("Pin(1<<20) = %v; want an out-of-range error", err)
	}
}
