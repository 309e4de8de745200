package transport

// SetPoller sets the function Wait calls, on the waiting goroutine, before
// it blocks on a receive that is still pending. The transport that owns the
// Mux uses it to read the receive's frame itself for a short while (the
// TCP transport reads small frames straight from the socket), which saves
// the hand-off from a reader goroutine to the waiter and the waiter's
// park and wake-up: the dominant costs of a small message.
//
// fn must return promptly (within microseconds, whether or not r has
// completed), must not block on I/O, and may complete r and any other
// receive by delivering frames to the Mux (Deliver). fn(r) is called
// concurrently for different receives. Set it before traffic starts; nil
// removes it.
func (m *Mux) SetPoller(fn func(r *Recv)) {
	if fn == nil {
		m.poller.Store(nil)
		return
	}
	m.poller.Store(&fn)
}

// Ready reports whether r has completed: Wait would return at once. It is
// safe to call concurrently with the delivery that completes r, and is
// meant for pollers (SetPoller) deciding whether to go on reading.
func (r *Recv) Ready() bool { return r.state.Load() == recvDone }
