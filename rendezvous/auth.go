package rendezvous

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
)

// Authentication: the hello exchange is a mutual HMAC-SHA256
// challenge-response keyed with the job's token (see the package
// documentation), so that the token itself never crosses the wire.
const (
	nonceSize = 32
	proofSize = sha256.Size
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
// by role sends it. Every field is length-prefixed, so no two transcripts
// encode alike.
func proof(token, role string, nc, ns []byte) []byte {
	var b []byte
	for _, f := range [][]byte{[]byte(authContext), []byte(role), nc, ns} {
		b = binary.BigEndian.AppendUint32(b, uint32(len(f)))
		b = append(b, f...)
	}
	m := hmac.New(sha256.New, []byte(token))
	m.Write(b)
	return m.Sum(nil)
}

// newNonce returns nonceSize random bytes.
func newNonce() []byte {
	n := make([]byte, nonceSize)
	rand.Read(n) // never fails (crypto/rand since Go 1.24)
	return n
}
