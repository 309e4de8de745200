//go:build !linux

package cpus

// Allowed lists the processors the calling thread may run on: unknown here.
func Allowed() []int { return nil }

// Pin binds the calling thread to a processor: not supported here.
func Pin(int) error { return ErrNoAffinity }
