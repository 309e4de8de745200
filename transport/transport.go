package transport

import (
	"context"
	"errors"
	"fmt"
)

// Kind says which matching space a frame belongs to.
type Kind uint8

const (
	// KindColl frames carry one message of a collective operation's schedule.
	KindColl Kind = 1
	// KindP2P frames carry a tagged point-to-point message (Send/Recv).
	KindP2P Kind = 2
	// KindControl frames carry a msgpack-encoded control message (abort, mismatch
	// notice). They are never matched against posted receives; the Mux hands them
	// to its control handler.
	KindControl Kind = 3
	// KindHeartbeat frames carry nothing: a transport sends one on a link
	// that has been idle for a while, so that the peer can tell a silent
	// link from a dead or stopped process. The receiving transport drops
	// them; the Mux never sees them.
	KindHeartbeat Kind = 4
)

// HeaderSize is the encoded size of a Header on the wire, in bytes.
const HeaderSize = 64

// MaxPayload bounds the payload length accepted from the wire. A frame that
// announces more is a protocol error and the connection is dropped.
const MaxPayload = 1 << 30

// Header describes one frame. The collective layer fills the operation
// descriptor (Op, DType, RedOp, Algo, Root, Count) so that a receiver can tell
// when two ranks called different operations; the Mux matches frames to posted
// receives by the Key (Kind, Comm, Src, Seq, Tag) only.
type Header struct {
	Kind  Kind
	Op    uint8 // collective kind (collective package's numbering)
	DType uint8
	RedOp uint8
	Algo  uint8
	Comm  uint32 // communicator id; 0 is the world communicator
	Src   int32  // sender's rank in the endpoint's (world) numbering; set by the sender
	Root  int32
	Tag   uint32 // message tag within the operation (schedule-defined) or user tag (P2P)
	Seq   uint64 // operation sequence number on Comm (or per-(peer,tag) counter for P2P)
	Count int64  // element count of the whole operation, as the caller passed it
	Len   uint32 // payload length in bytes
	// Flags holds FlagSum or nothing. Sum is the CRC-32C (Castagnoli) of
	// the payload when Flags has FlagSum; the transports carry both and
	// never compute or check them (the collective package does, with
	// KIZUNA_CHECKSUM=crc32c).
	Flags uint8
	Sum   uint32
}

// FlagSum marks a header whose Sum holds the payload's CRC-32C.
const FlagSum uint8 = 1

// Key is the matching key of a frame or posted receive.
type Key struct {
	Kind Kind
	Comm uint32
	Src  int32
	Tag  uint32
	Seq  uint64
}

// Key returns the matching key of h.
func (h *Header) Key() Key {
	return Key{Kind: h.Kind, Comm: h.Comm, Src: h.Src, Tag: h.Tag, Seq: h.Seq}
}

// Endpoint is one rank's attachment to a fabric of size ranks. It sends frames
// to peers and delivers arriving frames to its Mux.
//
// Send may be called concurrently from several goroutines; frames to one peer
// from one goroutine arrive in the order sent only when the endpoint uses a
// single connection per peer, so callers must match by Key, never by order.
type Endpoint interface {
	// Rank is this endpoint's rank, Size the number of ranks in the fabric.
	Rank() int
	Size() int
	// Name names the transport ("inproc", "tcp").
	Name() string
	// Send transmits one frame (h and payload) to peer. h.Src and h.Len are
	// set by Send. It returns once payload may be reused; implementations must
	// not retain payload after return. Sending to oneself is an error.
	// A failed or closed link returns a *PeerError naming peer.
	Send(ctx context.Context, peer int, h *Header, payload []byte) error
	// Mux returns the endpoint's receive-side matcher.
	Mux() *Mux
	// Close tears down every link and stops every goroutine the endpoint
	// started, waiting for them. Pending receives fail with ErrClosed.
	Close() error
}

// Sentinel errors.
var (
	ErrClosed   = errors.New("transport: closed")
	ErrTooLarge = errors.New("transport: payload length exceeds receive buffer")
	ErrProtocol = errors.New("transport: protocol error")
	// ErrPeerClosed is the failure of a link whose peer closed it cleanly,
	// at a frame boundary (it called Close, or its process ended). Unlike
	// every other link failure it is not reported to the Mux's peer-lost
	// handler: a peer that finished and closed is not lost.
	ErrPeerClosed = errors.New("connection closed by peer")
	// ErrSilent is the failure of a link on which nothing (no frame, no
	// heartbeat) arrived for two heartbeat intervals: the peer's process is
	// stopped, hung, or cut off.
	ErrSilent = errors.New("transport: peer silent past the heartbeat timeout")
)

// PeerError reports a failure of the link to one peer, like net.OpError.
type PeerError struct {
	Peer int    // rank of the peer
	Op   string // "send", "recv", "connect", ...
	Err  error
}

func (e *PeerError) Error() string {
	return fmt.Sprintf("transport: %s rank %d: %v", e.Op, e.Peer, e.Err)
}

func (e *PeerError) Unwrap() error { return e.Err }
