//go:build race

package shm

// raceEnabled: the race detector's instrumentation of system calls
// allocates, so allocation counts mean nothing under it.
const raceEnabled = true
