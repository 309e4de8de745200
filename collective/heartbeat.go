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
// gone, and announces it to the other members.
func (c *Comm) peerLost(lost int, err error) {
	re := &RemoteError{Origin: c.rank, Lost: lost, Reason: fmt.Sprintf("link to rank %d failed: %v", lost, err)}
	if !c.setBroken(re) {
		return
	}
	c.mux.FailComm(c.id, re)
	c.kill(re)
	c.noteFailure(re)
	c.errMu.Lock()
	defer c.errMu.Unlock()
	if !c.closed.Load() {
		c.bg.Add(1)
		go func() {
			defer c.bg.Done()
			c.announce(re)
		}()
	}
}

// noticeGrace bounds how long an operation whose link to a peer closed
// waits for that peer's failure notice. A rank that fails (a mismatch, a
// lost rank) tells the others and may close its links at once; its notice
// and its end of stream travel on different paths (another connection, a
// peer passing the notice on), so the close can be seen first. Reporting
// the close would blame the messenger instead of the cause.
const noticeGrace = 250 * time.Millisecond

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

// peerClosed reports whether err is a link that closed under an operation
// (the peer closed it, or the transport did) rather than a failure with a
// cause of its own.
func peerClosed(err error) bool {
	return errors.Is(err, transport.ErrPeerClosed) || errors.Is(err, transport.ErrClosed)
}
