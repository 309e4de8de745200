package tcp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/kizuna-hpc/kizuna/internal/auth"
	"github.com/vmihailenco/msgpack/v5"
)

// The handshake runs on every new connection before any frame, over the
// plain net.Conn (no read-ahead buffer, so no frame byte is consumed early).
// Each message is a 4-byte little-endian length, at most maxHandshakeMsg,
// followed by a msgpack document:
//
//	dialer (lower rank)    -> hello   (with the dialer's nonce Nd)
//	acceptor (higher rank) -> reply   (with the acceptor's nonce Na and its proof;
//	                                   OK false, with a Reason, refuses)
//	dialer                 -> confirm (with the dialer's proof; OK false refuses
//	                                   the acceptor)
//
// A proof is HMAC-SHA256 keyed with Config.Token over the transcript (see
// proof): a context string, the prover's role, the job id, both ranks, the
// job size, the socket index and count, and both nonces. The token itself
// never crosses the wire; a fresh nonce on each side makes every proof good
// for one connection only (no replay), and the role makes the acceptor's
// proof useless as the dialer's (no reflection). The acceptor proves first,
// so the dialer learns of a token mismatch from the reply and fails fast,
// telling the acceptor why in its confirm; it sends its own proof only to an
// acceptor that proved it holds the token. An empty token is a key like any
// other: two ranks without a token agree (an open job), a rank with a token
// and one without do not.
//
// The acceptor registers the connection only after a positive confirm with a
// valid proof, and the dialer only after a positive reply with a valid proof,
// so both directions are acknowledged and authenticated.
const (
	handshakeMagic   = 0x4B5A4E41 // "KZNA"
	handshakeVersion = 2          // 2: nonces and proofs (authentication)
	maxHandshakeMsg  = 4096
	nonceSize        = auth.NonceSize
	proofSize        = auth.ProofSize
)

// ErrAuthFailed reports a peer that does not hold this rank's token (or
// holds one where this rank has none). Connect fails with it at the dialing
// rank, without retrying.
var ErrAuthFailed = errors.New("tcp: authentication failed: token mismatch — is KIZUNA_TOKEN the same on every rank?")

// reasonAuth is the Reason of a negative confirm sent because the acceptor's
// proof was wrong.
const reasonAuth = "authentication failed"

// Roles bound into a proof, so that one side's proof is never valid as the
// other's.
const (
	roleDialer   = "dialer"
	roleAcceptor = "acceptor"
)

// authContext opens every proof's transcript.
const authContext = "kizuna tcp handshake v2"

// proof returns the HMAC-SHA256, keyed with token, of the transcript of one
// connection between dialer and acceptor (ranks of a job of size ranks), as
// the side named by role sends it: authContext, role and job
// length-prefixed, the five integers in 8 bytes each, then both nonces
// length-prefixed (see package auth), so no two transcripts encode alike.
func proof(token, role, job string, dialer, acceptor, size, socket, sockets int, nd, na []byte) []byte {
	t := auth.NewTranscript(authContext, role)
	t.FieldString(job)
	for _, n := range []int{dialer, acceptor, size, socket, sockets} {
		t.Uint64(uint64(n))
	}
	t.Field(nd)
	t.Field(na)
	return t.Proof(token)
}

type hello struct {
	Magic   uint32 `msgpack:"magic"`
	Version uint16 `msgpack:"version"`
	Job     string `msgpack:"job"`
	Rank    int    `msgpack:"rank"`
	Size    int    `msgpack:"size"`
	Socket  int    `msgpack:"socket"`  // index of this connection among the pair's
	Sockets int    `msgpack:"sockets"` // SocketsPerPeer of the dialer
	Nonce   []byte `msgpack:"nonce"`   // Nd, nonceSize bytes
}

type reply struct {
	OK     bool   `msgpack:"ok"`
	Reason string `msgpack:"reason,omitempty"`
	Magic  uint32 `msgpack:"magic"`
	Job    string `msgpack:"job"`
	Rank   int    `msgpack:"rank"`
	Size   int    `msgpack:"size"`
	Nonce  []byte `msgpack:"nonce,omitempty"` // Na, nonceSize bytes (when OK)
	Proof  []byte `msgpack:"proof,omitempty"` // the acceptor's proof (when OK)
}

type confirm struct {
	OK     bool   `msgpack:"ok"`
	Reason string `msgpack:"reason,omitempty"`
	Proof  []byte `msgpack:"proof,omitempty"` // the dialer's proof (when OK)
}

// errRefused marks a handshake the other side refused.
var errRefused = errors.New("tcp: connection refused by peer")

func writeMsg(c io.Writer, v any) error {
	body, err := msgpack.Marshal(v)
	if err != nil {
		return err
	}
	if len(body) > maxHandshakeMsg {
		return fmt.Errorf("tcp: handshake message of %d bytes exceeds %d", len(body), maxHandshakeMsg)
	}
	msg := make([]byte, 4+len(body))
	binary.LittleEndian.PutUint32(msg, uint32(len(body)))
	copy(msg[4:], body)
	_, err = c.Write(msg)
	return err
}

func readMsg(c io.Reader, v any) error {
	var lb [4]byte
	if _, err := io.ReadFull(c, lb[:]); err != nil {
		return err
	}
	n := binary.LittleEndian.Uint32(lb[:])
	if n == 0 || n > maxHandshakeMsg {
		return fmt.Errorf("%w: handshake message length %d", errBadHandshake, n)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(c, body); err != nil {
		return err
	}
	if err := checkBounds(body); err != nil {
		return fmt.Errorf("%w: %v", errBadHandshake, err)
	}
	// A decoder of our own: msgpack.Unmarshal's pooled decoders keep their
	// buffers between calls.
	if err := msgpack.NewDecoder(bytes.NewReader(body)).Decode(v); err != nil {
		return fmt.Errorf("%w: %v", errBadHandshake, err)
	}
	return nil
}

// checkBounds checks that b holds exactly one msgpack value, every length
// and element count of which fits in the bytes that follow it. The msgpack
// package allocates up to a megabyte ahead of the data for a string, binary
// or array length it has not yet seen the bytes of (and, with its pooled
// decoders, keeps growing that buffer from call to call), so a hostile
// length must be refused before decoding.
func checkBounds(b []byte) error {
	pos, pending := 0, 1 // values still to walk
	// need reads an n-byte big-endian length at pos+off.
	need := func(off, n int) (int, error) {
		if pos+off+n > len(b) {
			return 0, io.ErrUnexpectedEOF
		}
		var v uint64
		for _, c := range b[pos+off : pos+off+n] {
			v = v<<8 | uint64(c)
		}
		if v > uint64(len(b)) {
			return 0, fmt.Errorf("length %d in a %d-byte message", v, len(b))
		}
		return int(v), nil
	}
	for pending > 0 {
		if pos >= len(b) {
			return io.ErrUnexpectedEOF
		}
		pending--
		c := b[pos]
		var size, elems int // bytes of this value; values it contains
		var err error
		switch {
		case c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3:
			size = 1
		case c <= 0x8f:
			size, elems = 1, 2*int(c&0x0f)
		case c <= 0x9f:
			size, elems = 1, int(c&0x0f)
		case c <= 0xbf:
			size = 1 + int(c&0x1f)
		case c == 0xc4 || c == 0xd9: // bin8, str8
			size, err = need(1, 1)
			size += 2
		case c == 0xc5 || c == 0xda: // bin16, str16
			size, err = need(1, 2)
			size += 3
		case c == 0xc6 || c == 0xdb: // bin32, str32
			size, err = need(1, 4)
			size += 5
		case c == 0xc7: // ext8
			size, err = need(1, 1)
			size += 3
		case c == 0xc8: // ext16
			size, err = need(1, 2)
			size += 4
		case c == 0xc9: // ext32
			size, err = need(1, 4)
			size += 6
		case c == 0xca || c == 0xce || c == 0xd2: // float32, uint32, int32
			size = 5
		case c == 0xcb || c == 0xcf || c == 0xd3: // float64, uint64, int64
			size = 9
		case c == 0xcc || c == 0xd0: // uint8, int8
			size = 2
		case c == 0xcd || c == 0xd1: // uint16, int16
			size = 3
		case c >= 0xd4 && c <= 0xd8: // fixext 1, 2, 4, 8, 16
			size = 2 + 1<<(c-0xd4)
		case c == 0xdc || c == 0xde: // array16, map16
			elems, err = need(1, 2)
			size = 3
		case c == 0xdd || c == 0xdf: // array32, map32
			elems, err = need(1, 4)
			size = 5
		default: // 0xc1, never used
			return fmt.Errorf("invalid msgpack byte %#x", c)
		}
		if err != nil {
			return err
		}
		if c == 0xde || c == 0xdf {
			elems *= 2
		}
		// Every element takes at least one byte.
		if pos+size > len(b) || elems > len(b)-pos-size {
			return io.ErrUnexpectedEOF
		}
		pos += size
		pending += elems
	}
	if pos != len(b) {
		return fmt.Errorf("%d trailing bytes", len(b)-pos)
	}
	return nil
}

var errBadHandshake = errors.New("tcp: malformed handshake")

// checkHello validates a dialer's hello at rank self; it returns the reason
// for refusing it, or "".
func checkHello(h *hello, cfg *resolved) string {
	switch {
	case h.Magic != handshakeMagic:
		return fmt.Sprintf("bad magic %#x", h.Magic)
	case h.Version != handshakeVersion:
		return fmt.Sprintf("protocol version %d, want %d", h.Version, handshakeVersion)
	case h.Job != cfg.JobID:
		return fmt.Sprintf("job id %q, want %q", h.Job, cfg.JobID)
	case h.Size != cfg.Size:
		return fmt.Sprintf("job size %d, want %d", h.Size, cfg.Size)
	case h.Rank < 0 || h.Rank >= cfg.Size:
		return fmt.Sprintf("rank %d out of range [0,%d)", h.Rank, cfg.Size)
	case h.Rank >= cfg.Rank:
		return fmt.Sprintf("rank %d must not dial rank %d (the lower rank dials)", h.Rank, cfg.Rank)
	case h.Sockets != cfg.SocketsPerPeer:
		return fmt.Sprintf("%d sockets per peer, want %d", h.Sockets, cfg.SocketsPerPeer)
	case h.Socket < 0 || h.Socket >= cfg.SocketsPerPeer:
		return fmt.Sprintf("socket index %d out of range [0,%d)", h.Socket, cfg.SocketsPerPeer)
	case len(h.Nonce) != nonceSize:
		return fmt.Sprintf("nonce of %d bytes, want %d", len(h.Nonce), nonceSize)
	}
	return ""
}

// checkReply validates the acceptor's reply at the dialer, which dialed rank
// peer; it returns the reason for refusing it, or "".
func checkReply(r *reply, peer int, cfg *resolved) string {
	switch {
	case r.Magic != handshakeMagic:
		return fmt.Sprintf("bad magic %#x", r.Magic)
	case r.Job != cfg.JobID:
		return fmt.Sprintf("job id %q, want %q", r.Job, cfg.JobID)
	case r.Size != cfg.Size:
		return fmt.Sprintf("job size %d, want %d", r.Size, cfg.Size)
	case r.Rank != peer:
		return fmt.Sprintf("answered as rank %d, want %d", r.Rank, peer)
	case len(r.Nonce) != nonceSize:
		return fmt.Sprintf("nonce of %d bytes, want %d", len(r.Nonce), nonceSize)
	}
	return ""
}

// acceptHandshake runs the acceptor's side of the handshake on rw, at rank
// cfg.Rank, and returns the dialer's rank and socket index once it has
// proved it holds the token. linked reports whether a link for a (peer,
// socket) pair is up already; such a hello is refused at once. No pair is
// held for a dialer until it has proved itself, so a stranger cannot keep a
// rank out by starting handshakes in its name. A *refusal is a hello that
// this rank refuses and should answer with its reason; an error mentioning
// reasonAuth is a dialer that failed authentication.
func acceptHandshake(rw io.ReadWriter, cfg *resolved, linked func(peer, sock int) bool) (peer, sock int, err error) {
	var h hello
	if err := readMsg(rw, &h); err != nil {
		return -1, -1, err
	}
	if reason := checkHello(&h, cfg); reason != "" {
		return -1, -1, &refusal{reason}
	}
	if linked(h.Rank, h.Socket) {
		return -1, -1, &refusal{fmt.Sprintf("duplicate or unwanted connection for rank %d socket %d", h.Rank, h.Socket)}
	}
	peer, sock = h.Rank, h.Socket
	na := auth.NewNonce()
	r := reply{OK: true, Magic: handshakeMagic, Job: cfg.JobID, Rank: cfg.Rank, Size: cfg.Size, Nonce: na,
		Proof: proof(cfg.Token, roleAcceptor, cfg.JobID, peer, cfg.Rank, cfg.Size, sock, cfg.SocketsPerPeer, h.Nonce, na)}
	if err := writeMsg(rw, &r); err != nil {
		return -1, -1, err
	}
	var cf confirm
	if err := readMsg(rw, &cf); err != nil {
		return -1, -1, err
	}
	switch {
	case !cf.OK && cf.Reason == reasonAuth:
		return -1, -1, errors.New(reasonAuth + ": the peer rejected this rank's proof (token mismatch)")
	case !cf.OK:
		return -1, -1, fmt.Errorf("%w: %s", errRefused, cf.Reason)
	}
	want := proof(cfg.Token, roleDialer, cfg.JobID, peer, cfg.Rank, cfg.Size, sock, cfg.SocketsPerPeer, h.Nonce, na)
	if !auth.Equal(cf.Proof, want) {
		return -1, -1, errors.New(reasonAuth + ": wrong proof from the peer (token mismatch)")
	}
	return peer, sock, nil
}

// dialHandshake runs the dialer's side of the handshake on rw, connected to
// addr, which should be rank peer; sock is the connection's index among the
// pair's. An error wrapping errRefused or ErrAuthFailed is one that retrying
// will not cure.
func dialHandshake(rw io.ReadWriter, cfg *resolved, peer, sock int, addr string) error {
	nd := auth.NewNonce()
	h := hello{Magic: handshakeMagic, Version: handshakeVersion, Job: cfg.JobID, Rank: cfg.Rank,
		Size: cfg.Size, Socket: sock, Sockets: cfg.SocketsPerPeer, Nonce: nd}
	if err := writeMsg(rw, &h); err != nil {
		return err
	}
	var r reply
	if err := readMsg(rw, &r); err != nil {
		return err
	}
	if !r.OK {
		return fmt.Errorf("%w: rank %d at %s: %s", errRefused, peer, addr, r.Reason)
	}
	if reason := checkReply(&r, peer, cfg); reason != "" {
		_ = writeMsg(rw, &confirm{OK: false, Reason: reason})
		return fmt.Errorf("tcp: peer at %s (rank %d's address) %s: %w", addr, peer, reason, errRefused)
	}
	want := proof(cfg.Token, roleAcceptor, cfg.JobID, cfg.Rank, peer, cfg.Size, sock, cfg.SocketsPerPeer, nd, r.Nonce)
	if !auth.Equal(r.Proof, want) {
		_ = writeMsg(rw, &confirm{OK: false, Reason: reasonAuth})
		return fmt.Errorf("rank %d at %s: %w", peer, addr, ErrAuthFailed)
	}
	return writeMsg(rw, &confirm{OK: true,
		Proof: proof(cfg.Token, roleDialer, cfg.JobID, cfg.Rank, peer, cfg.Size, sock, cfg.SocketsPerPeer, nd, r.Nonce)})
}
