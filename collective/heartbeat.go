package collective

import (
	"errors"
	"fmt"
	"time"

	"github.com/kizuna-hpc/kizuna/transport"
)

// Failure detection. The transports notice a lost peer: a broken
// connection, a process that exited (shared memory checks the peer's pid),
// or a peer silent for two heartbeat intervals (KIZUNA_HEARTBEAT: TCP links
// carry a heartbeat frame when idle). The Mux passes such a loss to
// registry.onPeerLost, which breaks at once every communicator on the
// endpoint that has the peer as a member, whether or not an operation is
// pending, and tells their other members, so that every pending and later
// operation on every surviving rank fails with a *RemoteError naming the
// lost rank. A peer that closed its links cleanly is not lost: operations
// that need it fail when they wait for it.

// onPeerLost runs on a transport goroutine; it must not block.
func (r *registry) onPeerLost(peer int, err error) {
	r.mu.Lock()
	comms := make([]*Comm, 0, len(r.comms))
	for _, c := range r.comms {
		comms = append(comms, c)
	}
	r.mu.Unlock()
	for _, c := range comms {
		if lost := c.commRank(peer); lost >= 0 {
			c.peerLost(lost, err)
		}
	}
}

// peerLost breaks c because its member lost (communicator numbering) is
// gone, and announces it to the other members, unless a failure notice
// arrives within noticeGrace: a rank that failed for a reason of its own (a
// mismatch, a rank it lost) tells the others and may exit at once, and its
// link then breaks, possibly before its notice is read (or with it, when
// the exit resets the connection). It does not block.
func (c *Comm) peerLost(lost int, err error) {
	c.errMu.Lock()
	defer c.errMu.Unlock()
	if c.closed.Load() || c.broken != nil {
		return
	}
	grace := noticeGrace
	if errors.Is(err, transport.ErrSilent) {
		grace = 0 // a silent peer sends no notice; keep the two-interval bound
	}
	c.bg.Add(1)
	go func() {
		defer c.bg.Done()
		if grace > 0 && c.awaitNotice(grace) != nil {
			return
		}
		c.breakLost(lost, err)
	}()
}

// breakLost breaks c for its lost member and tells the other members.
func (c *Comm) breakLost(lost int, err error) {
	re := &RemoteError{Origin: c.rank, Lost: lost, Reason: fmt.Sprintf("link to rank %d failed: %v", lost, err)}
	if !c.setBroken(re) {
		return
	}
	c.mux.FailComm(c.id, re)
	c.kill(re)
	c.noteFailure(re)
	c.announce(re)
}

// noticeGrace bounds how long an operation whose link to a peer broke (and
// the failure detector, for a peer found lost) waits for a failure notice
// before blaming that peer. A rank that fails (a mismatch, a lost rank)
// tells the others and may close its links or exit at once; its notice and
// its end of stream travel on different paths (another connection, a peer
// passing the notice on), and an exit with unread data resets the
// connection, which can discard a notice already received. Reporting the
// broken link would blame the messenger instead of the cause.
const noticeGrace = 100 * time.Millisecond

// awaitNotice waits up to d for a failure notice (announced by another rank
// or recorded by this one) and returns it, or nil if none came.
func (c *Comm) awaitNotice(d time.Duration) *RemoteError {
	c.errMu.Lock()
	if c.failure != nil {
		defer c.errMu.Unlock()
		return c.failure
	}
	if c.noticed == nil {
		c.noticed = make(chan struct{})
	}
	ch := c.noticed
	c.errMu.Unlock()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ch:
	case <-t.C:
	}
	return c.failureNotice()
}
