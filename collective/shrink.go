package collective

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/kizuna-hpc/kizuna/transport"
)

// maxShrinkRounds bounds the agreement rounds of one Shrink: each round
// that does not end it has found at least one more failed rank, or a
// communicator id taken on some survivor.
const maxShrinkRounds = 64

// shrinkTag is the tag of Shrink's agreement messages, on a communicator id
// of their own.
const shrinkTag = 0x5348524b // "SHRK"

// Shrink builds a new communicator from the ranks of c that are still
// alive, like ULFM's MPI_Comm_shrink and ncclCommShrink: its ranks are the
// survivors, renumbered densely in their order in c. It is meant for a
// communicator broken by a lost peer (see Err), but works on a healthy one
// too (then every rank survives).
//
// Every surviving rank of c must call Shrink. The survivors agree on the
// failed set in rounds over the links they share: each one sends the ranks
// it knows to be lost (those it saw fail, and those announced to it) to
// every rank not in that set, receives the others' sets, and adds every
// rank whose message cannot arrive (its link failed, which the heartbeat
// detects for a silent one). A round in which every survivor sent the same
// set ends the agreement on every survivor at once. A rank that finds
// itself in the agreed set (every other rank lost its links to it) gets an
// error. If ctx or c's timeout ends first, or a rank fails while the
// agreement is under way so that the survivors may disagree, Shrink
// returns an error; the communicators it may have built are then unusable,
// and the job should abort.
//
// The new communicator shares c's endpoint, as one from Split does: it has
// a new communicator id, agreed by the survivors and never reused on any of
// them, its own operation sequence and timeout (c's), and it never uses
// the failed ranks' links. Closing it leaves c open; closing c (the
// communicator that owns the links) closes it, so keep c until the new
// communicator is no longer needed, and close both.
func (c *Comm) Shrink(ctx context.Context) (*Comm, error) {
	if c.closed.Load() {
		return nil, &OpError{Op: "shrink", Rank: c.rank, Peer: -1, Err: ErrClosed}
	}
	ctx, cancel := context.WithTimeout(ctx, c.Timeout())
	defer cancel()
	c.grp.mu.Lock()
	c.grp.splits++
	n := c.grp.splits
	c.grp.mu.Unlock()

	agreeID := splitID(c.id, n, -2, 0)
	c.grp.reg.reserve(agreeID)
	defer c.mux.FailComm(agreeID, ErrClosed) // drops late agreement messages

	failed := c.knownLost()
	attempt := 0
	candidate := func() (uint32, byte) {
		id := splitID(c.id, n, -3, attempt)
		if !c.grp.reg.reserve(id) {
			return id, 1
		}
		return id, 0
	}
	id, taken := candidate()
	msg := make([]byte, c.size+1)
	recvs := make([]*transport.Recv, c.size)
	for round := uint64(1); ; round++ {
		if round > maxShrinkRounds {
			return nil, c.shrinkError(fmt.Errorf("no agreement after %d rounds", maxShrinkRounds))
		}
		if failed[c.rank] {
			return nil, c.shrinkError(errors.New("this rank was excluded: the other ranks lost their links to it"))
		}
		for i := range c.size {
			msg[i] = 0
			if failed[i] {
				msg[i] = 1
			}
		}
		msg[c.size] = taken
		// Post every receive first, then send: no rank waits on another's
		// order.
		for i := range c.size {
			recvs[i] = nil
			if i == c.rank || failed[i] {
				continue
			}
			r := &transport.Recv{
				Key: transport.Key{Kind: transport.KindP2P, Comm: agreeID, Src: int32(c.peers[i]), Tag: shrinkTag, Seq: round},
				Buf: make([]byte, c.size+1),
			}
			if err := c.mux.Post(r); err != nil {
				return nil, c.shrinkError(err)
			}
			recvs[i] = r
		}
		for i := range c.size {
			if recvs[i] == nil {
				continue
			}
			h := transport.Header{Kind: transport.KindP2P, Comm: agreeID, Tag: shrinkTag, Seq: round}
			if err := c.ep.Send(ctx, c.peers[i], &h, msg); err != nil && ctx.Err() != nil {
				c.cancelRecvs(recvs)
				return nil, c.shrinkError(err)
			}
			// A failed send shows up again as a failed receive below.
		}
		next := slices.Clone(failed)
		stable, collide := true, taken
		for i, r := range recvs {
			if r == nil {
				continue
			}
			if err := c.mux.Wait(ctx, r); err != nil {
				if ctx.Err() != nil {
					c.cancelRecvs(recvs[i+1:])
					return nil, c.shrinkError(fmt.Errorf("waiting for rank %d: %w", i, err))
				}
				var pe *transport.PeerError
				if !errors.As(err, &pe) {
					c.cancelRecvs(recvs[i+1:])
					return nil, c.shrinkError(fmt.Errorf("rank %d: %w", i, err))
				}
				next[i], stable = true, false
				continue
			}
			for j := range c.size {
				f := r.Buf[j] != 0
				if f != failed[j] {
					stable = false
				}
				next[j] = next[j] || f
			}
			collide |= r.Buf[c.size]
		}
		failed = next
		if !stable {
			continue
		}
		if collide != 0 { // every survivor saw the same flags: try the next id together
			attempt++
			if attempt > maxSplitAttempts {
				return nil, c.shrinkError(fmt.Errorf("no communicator id free on every survivor after %d attempts", maxSplitAttempts))
			}
			id, taken = candidate()
			continue
		}
		break
	}
	var peers []int
	rank := -1
	for i := range c.size {
		if failed[i] {
			continue
		}
		if i == c.rank {
			rank = len(peers)
		}
		peers = append(peers, c.peers[i])
	}
	var lost []int
	for i, f := range failed {
		if f {
			lost = append(lost, i)
		}
	}
	child := c.child(id, rank, peers)
	if err := c.adopt(child); err != nil {
		return nil, err
	}
	if len(lost) > 0 {
		c.log.Info("shrunk communicator", "lost", lost, "size", len(peers), "comm", id)
	}
	return child, nil
}

// knownLost returns, in c's numbering, the ranks this rank knows to be
// lost: the one named by the failure that broke c, and every member whose
// link has failed.
func (c *Comm) knownLost() []bool {
	failed := make([]bool, c.size)
	var re *RemoteError
	if err := c.Err(); errors.As(err, &re) && re.Lost >= 0 && re.Lost < c.size && re.Lost != c.rank {
		failed[re.Lost] = true
	}
	var pe *transport.PeerError
	if err := c.Err(); errors.As(err, &pe) && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
		if i := c.commRank(pe.Peer); i >= 0 && i != c.rank {
			failed[i] = true
		}
	}
	for i, p := range c.peers {
		if i != c.rank && c.mux.PeerErr(p) != nil {
			failed[i] = true
		}
	}
	return failed
}

func (c *Comm) cancelRecvs(rs []*transport.Recv) {
	for _, r := range rs {
		if r != nil {
			c.mux.Cancel(r)
		}
	}
}

func (c *Comm) shrinkError(err error) error {
	return &OpError{Op: "shrink", Rank: c.rank, Peer: -1, Err: err}
}
