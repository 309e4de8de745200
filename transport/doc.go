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
// Package transporttest holds the conformance suite every Endpoint passes.
package transport
