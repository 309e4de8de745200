// Package emu imposes a network model on a real transport: an emulating
// transport.Endpoint wrapper that makes a handful of local ranks behave
// like a small torus or dragonfly, with per-link bandwidth, per-hop latency
// and contention between the flows that share a link. It is the proof
// bench for `kizuna sim` (package collective/sim): the same topology
// model, imposed on real runs.
//
// A Network holds the links of one topology.Topology and the placement of
// ranks on its nodes. Every directed link is a token bucket with no burst
// (a FIFO reservation of the link's time): a frame of n bytes sent at time
// t on a route of links l1..lk reserves n/LinkBW seconds on each link, from
// max(t, the link's previous reservation end), and is delivered to the
// peer when its last reservation ends plus k·HopLatency. Frames between
// ranks on one node cross no link and go at LocalBW (unlimited when 0).
// Flows that share a link therefore split its bandwidth, whichever ranks
// they come from, because every endpoint Network.Wrap returns reserves
// links in the one shared Network.
//
// Wrap's Send copies the frame into a pooled buffer, reserves its route and
// queues it for delivery by the endpoint's per-peer goroutine, which sleeps
// until the delivery time and hands the frame to the wrapped endpoint; Send
// returns once the frame is queued (as a NIC accepts a send descriptor), so
// a rank's sends to different peers travel concurrently. At most QueueDepth
// frames wait per peer; Send blocks (honouring its context) beyond that.
// Frames to one peer are delivered in the order sent.
//
// Only ranks of one process share link state: the wrapper suits goroutine
// ranks (collective.NewLocal over inproc or loopback TCP) and
// KIZUNA_EMULATE there, not separate processes.
//
// All methods are safe for concurrent use. Close stops and waits for the
// endpoint's delivery goroutines (frames still queued are dropped) and
// closes the wrapped endpoint; the Network needs no closing.
package emu
