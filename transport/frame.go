package transport

import (
	"encoding/binary"
	"fmt"
)

// Wire form of a Header: HeaderSize (64) bytes, little-endian.
//
//	offset size field
//	     0    1 magic (frameMagic)
//	     1    1 version (frameVersion)
//	     2    1 Kind
//	     3    1 Op
//	     4    1 DType
//	     5    1 RedOp
//	     6    1 Algo
//	     7    1 Flags (FlagSum or zero)
//	     8    4 Comm
//	    12    4 Src
//	    16    4 Root
//	    20    4 Tag
//	    24    8 Seq
//	    32    8 Count
//	    40    4 Len
//	    44    4 Sum when Flags has FlagSum, else zero
//	    48   16 reserved, zero
//
// Data frames use this fixed binary header rather than msgpack: encoding and
// decoding allocate nothing, every field sits at a known offset, and the size
// is constant, so a reader knows how many bytes to read before it can learn
// the payload length and the header costs the same for every chunk of a
// pipelined transfer. msgpack is used where flexibility matters more than
// per-chunk cost: the TCP handshake and the payloads of KindControl frames.
//
// The reserved bytes must be zero; a later version may give them meaning and
// will then bump frameVersion. A frame without a checksum (Flags zero) is
// byte for byte what it was before Flags and Sum existed.
const (
	frameMagic   = 0x4B // 'K'
	frameVersion = 1
)

// MarshalTo encodes h into b[:HeaderSize]. It panics if len(b) < HeaderSize.
// It does not validate h; UnmarshalFrom does.
func (h *Header) MarshalTo(b []byte) {
	_ = b[HeaderSize-1] // one bounds check
	b[0] = frameMagic
	b[1] = frameVersion
	b[2] = byte(h.Kind)
	b[3] = h.Op
	b[4] = h.DType
	b[5] = h.RedOp
	b[6] = h.Algo
	b[7] = h.Flags & FlagSum
	binary.LittleEndian.PutUint32(b[8:], h.Comm)
	binary.LittleEndian.PutUint32(b[12:], uint32(h.Src))
	binary.LittleEndian.PutUint32(b[16:], uint32(h.Root))
	binary.LittleEndian.PutUint32(b[20:], h.Tag)
	binary.LittleEndian.PutUint64(b[24:], h.Seq)
	binary.LittleEndian.PutUint64(b[32:], uint64(h.Count))
	binary.LittleEndian.PutUint32(b[40:], h.Len)
	if h.Flags&FlagSum != 0 {
		binary.LittleEndian.PutUint32(b[44:], h.Sum)
	} else {
		clear(b[44:48])
	}
	clear(b[48:HeaderSize])
}

// UnmarshalFrom decodes b[:HeaderSize] into h. It rejects, with an error
// wrapping ErrProtocol, a short buffer, a wrong magic or version byte, an
// unknown Kind, Len > MaxPayload, a negative Src, an unknown flag and
// non-zero reserved bytes.
// On error h is unchanged.
func (h *Header) UnmarshalFrom(b []byte) error {
	if len(b) < HeaderSize {
		return fmt.Errorf("%w: header is %d bytes, want %d", ErrProtocol, len(b), HeaderSize)
	}
	b = b[:HeaderSize]
	if b[0] != frameMagic {
		return fmt.Errorf("%w: bad frame magic %#x", ErrProtocol, b[0])
	}
	if b[1] != frameVersion {
		return fmt.Errorf("%w: frame version %d, want %d", ErrProtocol, b[1], frameVersion)
	}
	k := Kind(b[2])
	if !k.valid() {
		return fmt.Errorf("%w: unknown frame kind %d", ErrProtocol, b[2])
	}
	flags := b[7]
	if flags&^FlagSum != 0 || !allZero(b[48:]) || flags&FlagSum == 0 && !allZero(b[44:48]) {
		return fmt.Errorf("%w: reserved header bytes are not zero", ErrProtocol)
	}
	src := int32(binary.LittleEndian.Uint32(b[12:]))
	if src < 0 {
		return fmt.Errorf("%w: negative source rank %d", ErrProtocol, src)
	}
	n := binary.LittleEndian.Uint32(b[40:])
	if n > MaxPayload {
		return fmt.Errorf("%w: payload length %d exceeds %d", ErrProtocol, n, MaxPayload)
	}
	*h = Header{
		Kind:  k,
		Op:    b[3],
		DType: b[4],
		RedOp: b[5],
		Algo:  b[6],
		Comm:  binary.LittleEndian.Uint32(b[8:]),
		Src:   src,
		Root:  int32(binary.LittleEndian.Uint32(b[16:])),
		Tag:   binary.LittleEndian.Uint32(b[20:]),
		Seq:   binary.LittleEndian.Uint64(b[24:]),
		Count: int64(binary.LittleEndian.Uint64(b[32:])),
		Len:   n,
		Flags: flags,
	}
	if flags&FlagSum != 0 {
		h.Sum = binary.LittleEndian.Uint32(b[44:])
	}
	return nil
}

func (k Kind) valid() bool {
	return k == KindColl || k == KindP2P || k == KindControl || k == KindHeartbeat
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
