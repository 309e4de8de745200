package collective

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"slices"
	"time"

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
// error. If ctx or c's timeout ends first, or a rank fails (or a message is
// corrupted) while the agreement is under way, so that the survivors may
// disagree, Shrink returns an error on the rank that saw it, which tells
// the others: their Shrink fails too, or, where it had already returned,
// the new communicator is broken and its operations fail at once. The job
// should then abort or start over. The agreement is not a full consensus
// protocol: links that fail between survivors while it runs can, rarely,
// leave one survivor waiting for a message until its timeout (the soak
// test finds this with faults injected into the agreement).
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
	// A message: the failed set (one byte per rank), the id-taken flag,
	// and the CRC-32C of both, always: a corrupted set would split the
	// survivors' views.
	msg := make([]byte, c.size+5)
	recvs := make([]*transport.Recv, c.size)
	started := false // messages have been sent: an error must be announced
	// settled: the last round was stable here. The agreement ends after two
	// stable rounds in a row, so that a rank that sees a change in the
	// round after a stable one knows that nobody has ended yet before it,
	// and can give up without leaving anyone waiting for it.
	settled := false
	fail := func(err error) (*Comm, error) {
		if started {
			c.abandonAgreement([]uint32{agreeID, id}, failed, err)
		}
		return nil, c.shrinkError(err)
	}
	for round := uint64(1); ; round++ {
		if round > maxShrinkRounds {
			return fail(fmt.Errorf("no agreement after %d rounds", maxShrinkRounds))
		}
		if failed[c.rank] {
			// Not abandonAgreement: the survivors' agreement stands.
			return nil, c.shrinkError(errors.New("this rank was excluded: the other ranks lost their links to it"))
		}
		for i := range c.size {
			msg[i] = 0
			if failed[i] {
				msg[i] = 1
			}
		}
		msg[c.size] = taken
		binary.LittleEndian.PutUint32(msg[c.size+1:], crc32.Checksum(msg[:c.size+1], castagnoli))
		// Post every receive first, then send: no rank waits on another's
		// order.
		for i := range c.size {
			recvs[i] = nil
			if i == c.rank || failed[i] {
				continue
			}
			r := &transport.Recv{
				Key: transport.Key{Kind: transport.KindP2P, Comm: agreeID, Src: int32(c.peers[i]), Tag: shrinkTag, Seq: round},
				Buf: make([]byte, c.size+5),
			}
			if err := c.mux.Post(r); err != nil {
				c.cancelRecvs(recvs[:i])
				return fail(err)
			}
			recvs[i] = r
		}
		for i := range c.size {
			// Send to the ranks this one waits for, and to those it
			// counts as failed on others' word while its link to them
			// works: they learn from the set that they were excluded
			// instead of waiting for this message.
			if i == c.rank || recvs[i] == nil && c.mux.PeerErr(c.peers[i]) != nil {
				continue
			}
			h := transport.Header{Kind: transport.KindP2P, Comm: agreeID, Tag: shrinkTag, Seq: round}
			started = true
			if err := c.ep.Send(ctx, c.peers[i], &h, msg); err != nil && ctx.Err() != nil {
				c.cancelRecvs(recvs)
				return fail(err)
			}
			// A failed send shows up again as a failed receive below.
		}
		next := slices.Clone(failed)
		stable, collide := true, taken
		var change error // why this round was not stable
		for i, r := range recvs {
			if r == nil {
				continue
			}
			if err := c.mux.Wait(ctx, r); err != nil {
				if ctx.Err() != nil {
					c.cancelRecvs(recvs[i+1:])
					return fail(fmt.Errorf("waiting for rank %d: %w", i, err))
				}
				var pe *transport.PeerError
				if !errors.As(err, &pe) {
					c.cancelRecvs(recvs[i+1:])
					return fail(fmt.Errorf("rank %d: %w", i, err))
				}
				next[i], stable = true, false
				change = pe
				continue
			}
			if sum := crc32.Checksum(r.Buf[:c.size+1], castagnoli); sum != binary.LittleEndian.Uint32(r.Buf[c.size+1:]) {
				c.cancelRecvs(recvs[i+1:])
				return fail(fmt.Errorf("%w: agreement message from rank %d", ErrCorrupt, i))
			}
			for j := range c.size {
				f := r.Buf[j] != 0
				if f != failed[j] {
					stable = false
					if f && change == nil {
						change = &RemoteError{Origin: i, Lost: j, Reason: "lost during shrink"}
					}
				}
				next[j] = next[j] || f
			}
			collide |= r.Buf[c.size]
		}
		failed = next
		if !stable {
			if settled {
				// The last round was stable here, so another rank may
				// have ended the agreement after this one: a rank (or
				// link) failed during the agreement. Give up, and tell
				// the others (abandonAgreement breaks a communicator a
				// rank that finished built).
				if change == nil {
					change = errors.New("the survivors' views differ")
				}
				return fail(fmt.Errorf("a rank or link failed while the survivors were agreeing (call Shrink again, or abort): %w", change))
			}
			continue
		}
		if collide != 0 { // every survivor saw the same flags: try the next id together
			attempt++
			if attempt > maxSplitAttempts {
				return fail(fmt.Errorf("no communicator id free on every survivor after %d attempts", maxSplitAttempts))
			}
			id, taken = candidate()
			settled = false
			continue
		}
		if settled {
			break // two stable rounds in a row: every survivor ends here or fails
		}
		settled = true
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
	err := c.Err()
	var re *RemoteError
	if errors.As(err, &re) && re.Lost >= 0 && re.Lost < c.size && re.Lost != c.rank {
		failed[re.Lost] = true
	}
	var pe *transport.PeerError
	if errors.As(err, &pe) && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
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

// abandonAgreement tells the ranks still in the agreement that this rank
// gave up (err): the notice, for the agreement's id and for the new
// communicator's, fails the agreement's receives on every rank that gets
// it, and the new communicator on a rank that had already finished.
func (c *Comm) abandonAgreement(ids []uint32, failed []bool, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for _, id := range ids {
		body, eerr := encodeControl(&controlMsg{Type: "abort", Comm: id, Origin: c.rank, Lost: -1, Kind: "other", Reason: "shrink: " + err.Error()})
		if eerr != nil || len(body) > maxControl {
			return
		}
		for i, p := range c.peers {
			if i == c.rank || failed[i] {
				continue
			}
			h := transport.Header{Kind: transport.KindControl, Comm: id}
			_ = c.ep.Send(ctx, p, &h, body)
		}
	}
}
