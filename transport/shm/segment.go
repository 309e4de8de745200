//go:build unix

package shm

import (
	"errors"
	"fmt"
	"syscall"
)

// createSegment creates, sizes and maps a new segment file for a ring of
// ringBytes (a power of two). The file is created with O_EXCL and mode 0600;
// the caller initialises the control page and then sets the magic.
func createSegment(path string, ringBytes int) (*segment, error) {
	fd, err := syscall.Open(path, syscall.O_RDWR|syscall.O_CREAT|syscall.O_EXCL|syscall.O_CLOEXEC|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, fmt.Errorf("shm: create %s: %w", path, err)
	}
	defer syscall.Close(fd)
	total := ctlSize + ringBytes
	if err := syscall.Ftruncate(fd, int64(total)); err != nil {
		_ = syscall.Unlink(path)
		return nil, fmt.Errorf("shm: size %s: %w", path, err)
	}
	mem, err := syscall.Mmap(fd, 0, total, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED|mapPopulate)
	if err != nil {
		_ = syscall.Unlink(path)
		return nil, fmt.Errorf("shm: map %s: %w", path, err)
	}
	s := newSegment(path, mem)
	// The bells exist before the creator sets the magic, so an opener that
	// sees the magic finds them.
	if s.consBell, err = createBell(path + ".c"); err == nil {
		s.prodBell, err = createBell(path + ".p")
	}
	if err != nil {
		s.unlink()
		s.unmap()
		return nil, err
	}
	return s, nil
}

// openSegment maps an existing segment created by a rank of this user for a
// ring of ringBytes. It returns errNotReady while the file does not exist or
// its creator has not finished initialising it.
func openSegment(path string, ringBytes int) (*segment, error) {
	fd, err := syscall.Open(path, syscall.O_RDWR|syscall.O_CLOEXEC|syscall.O_NOFOLLOW, 0)
	if err != nil {
		if errors.Is(err, syscall.ENOENT) {
			return nil, errNotReady
		}
		return nil, fmt.Errorf("shm: open %s: %w", path, err)
	}
	defer syscall.Close(fd)
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		return nil, fmt.Errorf("shm: stat %s: %w", path, err)
	}
	if int(st.Uid) != syscall.Geteuid() || st.Mode&0o077 != 0 || st.Mode&syscall.S_IFMT != syscall.S_IFREG {
		return nil, fmt.Errorf("shm: %s: not a private regular file of this user (uid %d, mode %o)", path, st.Uid, st.Mode)
	}
	total := ctlSize + ringBytes
	if st.Size < int64(total) {
		return nil, errNotReady // the creator has not sized it yet
	}
	if st.Size != int64(total) {
		return nil, fmt.Errorf("shm: %s is %d bytes, want %d: is the ring size the same on every rank?", path, st.Size, total)
	}
	mem, err := syscall.Mmap(fd, 0, total, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED|mapPopulate)
	if err != nil {
		return nil, fmt.Errorf("shm: map %s: %w", path, err)
	}
	s := newSegment(path, mem)
	if s.magic.Load() != segMagic {
		s.unmap()
		return nil, errNotReady
	}
	if got := u64(mem, offRingSize).Load(); got != uint64(ringBytes) {
		s.unmap()
		return nil, fmt.Errorf("shm: %s has a ring of %d bytes, want %d", path, got, ringBytes)
	}
	if s.consBell, err = openBell(path + ".c"); err == nil {
		s.prodBell, err = openBell(path + ".p")
	}
	if err != nil {
		s.unmap()
		if errors.Is(err, errNotReady) {
			// The creator made them before setting the magic: gone
			// means its names were removed under it.
			err = fmt.Errorf("shm: %s: its doorbells are missing", path)
		}
		return nil, err
	}
	return s, nil
}

// unlink removes the segment's name and its bells', once; names already
// gone are fine.
func (s *segment) unlink() {
	if s.unlinked {
		return
	}
	s.unlinked = true
	_ = syscall.Unlink(s.path)
	_ = syscall.Unlink(s.path + ".c")
	_ = syscall.Unlink(s.path + ".p")
}

// unmap releases the mapping and closes the bells.
func (s *segment) unmap() {
	if s.mem != nil {
		_ = syscall.Munmap(s.mem)
		s.mem, s.data = nil, nil
	}
	s.consBell.close()
	s.prodBell.close()
	s.consBell, s.prodBell = nil, nil
}
