// Package inproc is a transport.Endpoint for ranks that are goroutines of one
// process: a Fabric connects size endpoints, and Send hands a frame straight
// to the receiving endpoint's Mux, which copies the payload into the posted
// receive buffer (one copy, no intermediate buffer) or keeps it as
// unexpected.
//
// It is the fastest medium and the reference for the conformance suite in
// package transporttest. Closing an endpoint simulates a dead rank: sends to
// it fail with a *transport.PeerError, and its peers' receives from it fail
// with one.
package inproc
