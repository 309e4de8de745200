//go:build !unix

package shm

import "fmt"

// Without mmap there are no segments: Prepare fails with ErrUnsupported and
// HostID is "", so the collective package never chooses this transport.

func createSegment(path string, ringBytes int) (*segment, error) {
	return nil, fmt.Errorf("%w (%s)", ErrUnsupported, path)
}

func openSegment(path string, ringBytes int) (*segment, error) {
	return nil, fmt.Errorf("%w (%s)", ErrUnsupported, path)
}

func (s *segment) unlink() {}
func (s *segment) unmap()  {}

// HostID is "": no shared-memory domain.
func HostID(dir string) string { return "" }

func procStart(pid int) (start uint64, alive bool) { return 0, true }

func selfStart() uint64 { return 0 }

func procStopped(pid int) bool { return false }

type procPath int

func newProcPath(pid int) procPath { return procPath(pid) }

func procStatus(p procPath) (start uint64, alive, stopped bool) { return 0, true, false }
