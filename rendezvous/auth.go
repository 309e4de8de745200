package rendezvous

import (
	"errors"

	"github.com/kizuna-hpc/kizuna/internal/auth"
)

// Authentication: the hello exchange is a mutual HMAC-SHA256
// challenge-response keyed with the job's token (see the package
// documentation), so that the token itself never crosses the wire.
const (
	nonceSize = auth.NonceSize
	proofSize = auth.ProofSize
	// authContext opens every proof's transcript.
	authContext = "kizuna rendezvous handshake v2"
	// Roles bound into a proof, so that the server's proof is never valid as
	// the client's.
	roleClient = "client"
	roleServer = "server"
)

// ErrAuthFailed is returned by Dial when the store does not hold the
// client's token (or holds one where the client has none). Dial does not
// retry it.
var ErrAuthFailed = errors.New("rendezvous: authentication failed: token mismatch — is KIZUNA_TOKEN the same on every rank?")

// errAuth marks a connection the server refused for failing authentication.
var errAuth = errors.New("authentication failed")

// proof returns the HMAC-SHA256, keyed with token, of the transcript of one
// connection (the client's nonce nc and the server's ns) as the side named
// by role sends it: authContext, role, nc and ns, each length-prefixed (see
// package auth), so no two transcripts encode alike.
func proof(token, role string, nc, ns []byte) []byte {
	t := auth.NewTranscript(authContext, role)
	t.Field(nc)
	t.Field(ns)
	return t.Proof(token)
}
