//go:build unix

package shm

import (
	"errors"
	"fmt"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// Layout of a segment's control page. Fields written by different sides, or
// written often, sit on different 128-byte pairs of cache lines (adjacent-line
// prefetchers move lines in pairs), so the producer and the consumer never
// write the same line in the hot path.
const (
	offMagic       = 0   // uint64: segMagic once the creator has initialised the page
	offRingSize    = 8   // uint64: ring bytes
	offCreatorPid  = 16  // uint64: creator's (consumer's) process id
	offCreatorBorn = 24  // uint64: its start time (see procStart)
	offOpenerPid   = 32  // uint64: opener's (producer's) process id
	offOpenerBorn  = 40  // uint64
	offAttached    = 48  // uint32: 1 once the opener has written its proof
	offCreatorMAC  = 64  // [32]byte: creator's proof
	offOpenerMAC   = 96  // [32]byte: opener's proof
	offHead        = 128 // uint64: bytes produced
	offConsWait    = 256 // uint32: the consumer sleeps (or is about to) on head
	offTail        = 384 // uint64: bytes consumed
	offProdWait    = 512 // uint32: the producer sleeps (or is about to) on tail
	offProdClosed  = 640 // uint32: the producer closed its end (after its last frame)
	offConsClosed  = 768 // uint32: the consumer closed its end
	ctlSize        = 4096

	segMagic = 0x314d48535a4e4b // "KNZSHM1"
	macSize  = 32
)

// lowWord is the offset of the low 32 bits within a uint64 counter, on which
// futexes wait.
var lowWord = func() uintptr {
	x := uint64(1)
	if *(*byte)(unsafe.Pointer(&x)) == 1 {
		return 0
	}
	return 4
}()

// segment is one mapped ring file.
type segment struct {
	path string
	mem  []byte // the whole mapping
	data []byte // the ring, mem[ctlSize:]
	mask uint64 // len(data)-1

	head, tail              *atomic.Uint64
	consWait, prodWait      *atomic.Uint32
	prodClosed, consClosed  *atomic.Uint32
	attached                *atomic.Uint32
	magic                   *atomic.Uint64
	headWord, tailWord      *uint32 // futex words: the low halves of head and tail
	creatorPid, creatorBorn *atomic.Uint64
	openerPid, openerBorn   *atomic.Uint64
	creatorMAC, openerMAC   []byte
	unlinked                bool
}

func u64(mem []byte, off int) *atomic.Uint64 { return (*atomic.Uint64)(unsafe.Pointer(&mem[off])) }
func u32(mem []byte, off int) *atomic.Uint32 { return (*atomic.Uint32)(unsafe.Pointer(&mem[off])) }

func newSegment(path string, mem []byte) *segment {
	s := &segment{
		path:        path,
		mem:         mem,
		data:        mem[ctlSize:],
		mask:        uint64(len(mem)-ctlSize) - 1,
		head:        u64(mem, offHead),
		tail:        u64(mem, offTail),
		consWait:    u32(mem, offConsWait),
		prodWait:    u32(mem, offProdWait),
		prodClosed:  u32(mem, offProdClosed),
		consClosed:  u32(mem, offConsClosed),
		attached:    u32(mem, offAttached),
		magic:       u64(mem, offMagic),
		headWord:    (*uint32)(unsafe.Pointer(&mem[offHead+lowWord])),
		tailWord:    (*uint32)(unsafe.Pointer(&mem[offTail+lowWord])),
		creatorPid:  u64(mem, offCreatorPid),
		creatorBorn: u64(mem, offCreatorBorn),
		openerPid:   u64(mem, offOpenerPid),
		openerBorn:  u64(mem, offOpenerBorn),
		creatorMAC:  mem[offCreatorMAC : offCreatorMAC+macSize],
		openerMAC:   mem[offOpenerMAC : offOpenerMAC+macSize],
	}
	return s
}

// errNotReady reports a segment that exists but is not initialised yet (or
// not at all: ENOENT); the opener retries.
var errNotReady = errors.New("shm: segment not ready")

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
	mem, err := syscall.Mmap(fd, 0, total, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		_ = syscall.Unlink(path)
		return nil, fmt.Errorf("shm: map %s: %w", path, err)
	}
	return newSegment(path, mem), nil
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
	mem, err := syscall.Mmap(fd, 0, total, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
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
	return s, nil
}

// unlink removes the segment's name, once; a name already gone is fine.
func (s *segment) unlink() {
	if s.unlinked {
		return
	}
	s.unlinked = true
	_ = syscall.Unlink(s.path)
}

func (s *segment) unmap() {
	if s.mem != nil {
		_ = syscall.Munmap(s.mem)
		s.mem, s.data = nil, nil
	}
}

// removeSegment unlinks path if it exists (cleanup of a name whose segment
// this process never mapped).
func removeSegment(path string) { _ = syscall.Unlink(path) }
