package collective

import (
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"strings"

	"github.com/kizuna-hpc/kizuna/transport"
)

// End-to-end checksums. With Config.Checksum (KIZUNA_CHECKSUM) set to
// ChecksumCRC32C, every data frame a communicator sends (each chunk of a
// collective, each Send) carries the CRC-32C of its payload in its header,
// and the receiver checks it once the payload has landed in the receive
// buffer and before anything reduces it: a corrupted payload fails the
// operation with ErrCorrupt naming the peer and the operation, and breaks
// the communicator, instead of being reduced into the result. The sum is
// Castagnoli's polynomial, which hash/crc32 computes with the CPU's CRC32
// instructions on amd64 and arm64.
//
// Every rank must use the same setting: a frame with a sum arriving at a
// rank without, or the other way round, fails the operation with an error
// wrapping ErrMismatch that says so.

// Checksum settings (Config.Checksum, KIZUNA_CHECKSUM).
const (
	ChecksumOff    = "off"
	ChecksumCRC32C = "crc32c"
)

// EnvChecksum selects end-to-end checksums: "crc32c" or "off" (the default).
const EnvChecksum = "KIZUNA_CHECKSUM"

// ErrCorrupt: a payload's checksum did not match: it was corrupted between
// the sender's buffer and this rank's (KIZUNA_CHECKSUM=crc32c).
var ErrCorrupt = errors.New("collective: payload corrupted in transit (checksum mismatch)")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// parseChecksum reports whether setting v turns checksums on. "" means
// KIZUNA_CHECKSUM, else off.
func parseChecksum(v string) (bool, error) {
	if v == "" {
		v = os.Getenv(EnvChecksum)
	}
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "", ChecksumOff, "0", "none":
		return false, nil
	case ChecksumCRC32C:
		return true, nil
	}
	return false, fmt.Errorf("%w: checksum %q (%s): want %s or %s", ErrInvalid, v, EnvChecksum, ChecksumCRC32C, ChecksumOff)
}

// seal puts the checksum of payload b in h when checksums are on.
func (c *Comm) seal(h *transport.Header, b []byte) {
	if c.checksum {
		h.Flags |= transport.FlagSum
		h.Sum = crc32.Checksum(b, castagnoli)
	}
}

// verify checks a received frame's checksum against b, its payload as it
// landed. peer is the sender in c's numbering. It allocates only for an
// error.
func (c *Comm) verify(h *transport.Header, b []byte, peer int) error {
	has := h.Flags&transport.FlagSum != 0
	if has != c.checksum {
		if has {
			return fmt.Errorf("%w: rank %d sends payload checksums but this rank's %s is off: every rank must use the same setting", ErrMismatch, peer, EnvChecksum)
		}
		return fmt.Errorf("%w: this rank's %s is %s but rank %d sends no payload checksums: every rank must use the same setting", ErrMismatch, EnvChecksum, ChecksumCRC32C, peer)
	}
	if !has {
		return nil
	}
	if sum := crc32.Checksum(b, castagnoli); sum != h.Sum {
		return fmt.Errorf("%w: %d bytes from rank %d (tag %d): CRC-32C %08x, sender's %08x", ErrCorrupt, len(b), peer, h.Tag, sum, h.Sum)
	}
	return nil
}

// breakCorrupt breaks c after a Recv found a corrupted payload (or
// differing checksum settings), as a failed collective does, and tells the
// other ranks: the job's data can no longer be trusted, and a rank that
// stops here must not leave the others waiting for it.
func (c *Comm) breakCorrupt(seq uint64, err error) {
	if !c.setBroken(err) {
		return
	}
	c.mux.FailComm(c.id, err)
	re := &RemoteError{Origin: c.rank, Lost: -1, Reason: fmt.Sprintf("recv #%d on rank %d: %v", seq, c.rank, err)}
	c.noteFailure(re)
	c.announce(re)
}
