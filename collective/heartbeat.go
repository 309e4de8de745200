package collective

import (
	"fmt"
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
