package shm

import (
	"errors"
	"sync/atomic"
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

// segment is one mapped ring file.
type segment struct {
	path string
	mem  []byte // the whole mapping
	data []byte // the ring, mem[ctlSize:]
	mask uint64 // len(data)-1

	head, tail             *atomic.Uint64
	consWait, prodWait     *atomic.Uint32
	prodClosed, consClosed *atomic.Uint32
	attached               *atomic.Uint32
	magic                  *atomic.Uint64
	// consBell wakes the consumer (the producer rings it), prodBell the
	// producer: FIFOs at path+".c" and path+".p", created with the
	// segment and unlinked with it.
	consBell, prodBell      *bell
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
