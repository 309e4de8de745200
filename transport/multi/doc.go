// Package multi combines several transports behind one transport.Endpoint:
// each peer is reached through the endpoint chosen for it (shared memory
// for ranks on this host, TCP for the others, say), and every one of them
// delivers into one Mux, so the layers above see a single endpoint.
package multi
