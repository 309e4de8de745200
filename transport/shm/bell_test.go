//go:build linux

package shm

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestOpenBellRefuses: a doorbell is only ever a private FIFO of this
// user; anything else at its name is refused with an error naming it.
func TestOpenBellRefuses(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		make    func(path string) error
		wantErr string
	}{
		{"regular file", func(p string) error { return os.WriteFile(p, nil, 0o600) }, "not a private FIFO"},
		{"FIFO others may use", func(p string) error {
			if err := syscall.Mkfifo(p, 0o600); err != nil {
				return err
			}
			return os.Chmod(p, 0o666)
		}, "not a private FIFO"},
		{"symbolic link to a FIFO", func(p string) error {
			target := p + ".target"
			if err := syscall.Mkfifo(target, 0o600); err != nil {
				return err
			}
			return os.Symlink(target, p)
		}, "open"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "-"))
			if err := tt.make(path); err != nil {
				t.Fatal(err)
			}
			b, err := openBell(path)
			if err == nil {
				b.close()
				t.Fatalf("openBell(%s) = nil error; want one", tt.name)
			}
			if !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), path) {
				t.Errorf("openBell(%s) = %v; want an error naming %s and saying %q", tt.name, err, path, tt.wantErr)
			}
		})
	}
	if _, err := openBell(filepath.Join(dir, "missing")); !errors.Is(err, errNotReady) {
		t.Errorf("openBell(missing) = %v; want errNotReady", err)
	}
	if _, err := createBell(filepath.Join(dir, "regular-file")); err == nil {
		t.Errorf("createBell over an existing name = nil error; want one")
	}
}

// TestBellWakes: a sleeper on one open of a FIFO wakes when another open
// of it rings, long before its deadline, and a sleep with nobody ringing
// ends at the deadline.
func TestBellWakes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bell")
	a, err := createBell(path)
	if err != nil {
		t.Fatal(err)
	}
	defer a.close()
	b, err := openBell(path)
	if err != nil {
		t.Fatal(err)
	}
	defer b.close()
	w := &waiter{b: a}
	var c atomic.Uint64

	start := time.Now()
	w.sleep(&c, 0, 30*time.Millisecond)
	if d := time.Since(start); d < 25*time.Millisecond {
		t.Errorf("sleep with nobody ringing returned after %v; want the 30ms deadline", d)
	}

	go func() {
		time.Sleep(5 * time.Millisecond)
		b.ring(1)
	}()
	start = time.Now()
	w.sleep(&c, 0, 10*time.Second)
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("sleep returned after %v once rung; want it woken at once", d)
	}
}
