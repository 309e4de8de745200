package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
)

const (
	// NonceSize is the size of a nonce, in bytes.
	NonceSize = 32
	// ProofSize is the size of a proof, in bytes.
	ProofSize = sha256.Size
)

// NewNonce returns NonceSize fresh random bytes.
func NewNonce() []byte {
	n := make([]byte, NonceSize)
	rand.Read(n) // never fails (crypto/rand since Go 1.24)
	return n
}

// Transcript is the message a proof authenticates. Build it with
// NewTranscript and the Field, FieldString and Uint64 methods, in the order the protocol
// defines.
type Transcript struct {
	b []byte
}

// NewTranscript starts a transcript with the protocol's context string and
// the prover's role, each as a length-prefixed field.
func NewTranscript(context, role string) *Transcript {
	t := &Transcript{}
	t.FieldString(context)
	t.FieldString(role)
	return t
}

// Field appends f, prefixed with its length as a big-endian uint32. t does
// not retain f.
func (t *Transcript) Field(f []byte) {
	t.b = binary.BigEndian.AppendUint32(t.b, uint32(len(f)))
	t.b = append(t.b, f...)
}

// FieldString appends s as Field does.
func (t *Transcript) FieldString(s string) {
	t.b = binary.BigEndian.AppendUint32(t.b, uint32(len(s)))
	t.b = append(t.b, s...)
}

// Uint64 appends v as 8 big-endian bytes.
func (t *Transcript) Uint64(v uint64) {
	t.b = binary.BigEndian.AppendUint64(t.b, v)
}

// Proof returns the HMAC-SHA256 of the transcript keyed with token (an
// empty token is a key like any other), ProofSize bytes.
func (t *Transcript) Proof(token string) []byte {
	m := hmac.New(sha256.New, []byte(token))
	m.Write(t.b)
	return m.Sum(nil)
}

// Equal reports whether the proof got is the proof want, in time that does
// not depend on their contents (hmac.Equal).
func Equal(got, want []byte) bool {
	return hmac.Equal(got, want)
}
