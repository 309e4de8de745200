package collective

import (
	"errors"
	"fmt"

	"github.com/kizuna-hpc/kizuna/collective/reduce"
	"github.com/kizuna-hpc/kizuna/collective/schedule"
	"github.com/kizuna-hpc/kizuna/transport"
)

// Sentinel errors. Test for them with errors.Is.
var (
	// ErrMismatch: ranks called different operations (collective, count,
	// dtype, reduction, root or algorithm) at the same point of the sequence.
	// The *MismatchError in the chain names which rank called what.
	ErrMismatch = errors.New("collective: mismatched operation across ranks")
	// ErrClosed: the communicator was closed.
	ErrClosed = errors.New("collective: communicator closed")
	// ErrAborted: Abort was called on this communicator, or a peer aborted.
	ErrAborted = errors.New("collective: communicator aborted")
	// ErrBroken: an earlier operation failed part-way, so peers may be at
	// different points of the sequence; the communicator cannot be used again.
	// The first failure is wrapped.
	ErrBroken = errors.New("collective: communicator broken by an earlier failure")
	// ErrInvalid: local misuse (wrong buffer length, root out of range, bad
	// dtype or op). Reported at once, before any communication; the
	// communicator stays usable.
	ErrInvalid = errors.New("collective: invalid argument")
)

// OpError reports a failed operation, like net.OpError: which operation, its
// sequence number, this rank, and the peer it was waiting for (Peer < 0 when
// no single peer is to blame).
type OpError struct {
	Op   string // "allreduce", "send", ...
	Seq  uint64
	Rank int
	Peer int
	Err  error
}

func (e *OpError) Error() string {
	if e.Peer >= 0 {
		return fmt.Sprintf("collective: %s #%d on rank %d: rank %d: %v", e.Op, e.Seq, e.Rank, e.Peer, e.Err)
	}
	return fmt.Sprintf("collective: %s #%d on rank %d: %v", e.Op, e.Seq, e.Rank, e.Err)
}

func (e *OpError) Unwrap() error { return e.Err }

// MismatchError says that two ranks called different operations at the same
// point of the sequence. errors.Is(err, ErrMismatch) is true.
type MismatchError struct {
	Seq       uint64
	Rank      int    // one side (in communicator numbering)
	Call      string // what Rank called, e.g. "allreduce(count=12, float32, sum, algo=ring)"
	Other     int    // the other side
	OtherCall string
}

func (e *MismatchError) Error() string {
	return fmt.Sprintf("collective: mismatched operation #%d: rank %d called %s but rank %d called %s",
		e.Seq, e.Rank, e.Call, e.Other, e.OtherCall)
}

func (e *MismatchError) Is(target error) bool { return target == ErrMismatch }

// RemoteError carries a failure that another rank detected and announced to
// every rank (a lost peer, a mismatch, an abort), so that no rank is left
// waiting for a rank that will never answer.
type RemoteError struct {
	Origin int    // rank that announced it
	Lost   int    // rank that was lost, or -1
	Reason string // the origin's error text
	cause  error  // ErrMismatch or ErrAborted when that is what it was
}

func (e *RemoteError) Error() string {
	if e.Lost >= 0 {
		return fmt.Sprintf("collective: rank %d lost (reported by rank %d): %s", e.Lost, e.Origin, e.Reason)
	}
	return fmt.Sprintf("collective: rank %d reported: %s", e.Origin, e.Reason)
}

func (e *RemoteError) Unwrap() error { return e.cause }

// describe renders an operation descriptor carried in a frame header.
func describe(h *transport.Header) string {
	coll := schedule.Coll(h.Op)
	s := fmt.Sprintf("%s(count=%d, %s", coll, h.Count, reduce.DType(h.DType))
	if reduces(coll) {
		s += ", " + reduce.Op(h.RedOp).String()
	}
	switch coll {
	case schedule.Broadcast, schedule.Reduce, schedule.Gather, schedule.Scatter:
		s += fmt.Sprintf(", root=%d", h.Root)
	case schedule.AllGatherV, schedule.ReduceScatterV:
		s += fmt.Sprintf(", counts digest %08x", uint32(h.Root))
	}
	return s + fmt.Sprintf(", algo=%s)", schedule.Algo(h.Algo))
}
