// Package auth holds the primitive behind Kizuna's mutual challenge-response
// authentication (the rendezvous store's hello exchange and the TCP
// transport's handshake): fresh random nonces, and a proof that is the
// HMAC-SHA256, keyed with the job's token, of a transcript of the
// connection. The token itself never crosses the wire.
//
// A transcript opens with a context string naming the protocol and its
// version, then the role of the side that sends the proof (so that one
// side's proof is never valid as the other's), then the protocol's fields.
// Every variable-length field is prefixed with its big-endian uint32
// length and every integer takes a fixed 8 bytes, so no two transcripts
// encode alike. A fresh nonce from each side makes a proof good for one
// connection only. Proofs are compared with Equal, in constant time.
//
// # Concurrency
//
// NewNonce, Equal and a Transcript's Proof may be called from any
// goroutine; a Transcript being built is owned by one goroutine.
package auth
