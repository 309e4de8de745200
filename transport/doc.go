// Package transport moves frames between the ranks of a job and matches
// arriving frames to posted receives.
//
// It has two layers. Each medium (package inproc for goroutine ranks in one
// process, package tcp for sockets) implements Endpoint: it sends a frame
// (a 64-byte Header, see Header.MarshalTo, followed by the payload) to a
// peer, and hands every arriving frame to the endpoint's Mux. The Mux, shared
// by every medium, matches frames to receives posted with Post by Key (Kind,
// Comm, Src, Tag, Seq), never by arrival order; it copies a payload straight
// into the posted buffer when the receive is posted first, and keeps it in a
// pooled buffer as unexpected otherwise. It also fails receives when a peer,
// a communicator or the whole endpoint fails, routes KindControl frames to a
// handler, and detects ranks that started different collective operations
// with the same sequence number (Expect, MismatchError).
//
// Unexpected frames are held up to a bound per source (DefaultHoldLimit,
// SetHoldLimit). A source that runs further ahead is pushed back: its TCP
// stream is not read until the application posts the receive or consumes
// what is held (so the sender's writes block), and its inproc sends wait
// (DeliverCtx). One frame always fits when nothing of its source is held.
// As with MPI's eager limit, a point-to-point pattern that needs more than
// the bound buffered at once (every rank sending large messages before any
// receives them) can stall; collectives never need it.
//
// Package transporttest holds the conformance suite every Endpoint passes.
package transport
