package transporttest

import (
	"bytes"
	"testing"
)

func TestPattern(t *testing.T) {
	a, b := Pattern(1, 4096), Pattern(1, 4096)
	if !bytes.Equal(a, b) {
		t.Fatal("Pattern(1, 4096) differs between calls")
	}
	if c := Pattern(2, 4096); bytes.Equal(a, c) {
		t.Fatal("Pattern(1, 4096) == Pattern(2, 4096); want different payloads per seed")
	}
	// A payload shifted by one byte must not compare equal.
	if bytes.Equal(a[1:], a[:len(a)-1]) {
		t.Fatal("Pattern is invariant under a one-byte shift")
	}
	if got := Pattern(7, 0); len(got) != 0 {
		t.Fatalf("Pattern(7, 0) = %d bytes; want 0", len(got))
	}
}
