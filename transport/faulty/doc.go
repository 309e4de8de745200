// Package faulty wraps the endpoints of a fabric with injected faults, for
// soak and fault-tolerance tests: delayed frames, dropped links and
// corrupted payloads, each decided by a seeded random generator per rank,
// so that a rank's sequence of decisions repeats from run to run.
//
// Only data frames (transport.KindColl and KindP2P) are subject to faults;
// control frames (failure notices) and heartbeats pass untouched, as a
// fault in them would only hide the data fault under test.
//
// A dropped link behaves like a connection that broke: both of its ends
// fail their receives from the other (the Mux's peer-lost handler is told,
// with ErrDropped), and every later Send between them fails. Every rank of
// the fabric must be wrapped by the same Fabric for the far end to see it.
package faulty
