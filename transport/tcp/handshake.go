package tcp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"

	"github.com/vmihailenco/msgpack/v5"
)

// The handshake runs on every new connection before any frame, over the
// plain net.Conn (no read-ahead buffer, so no frame byte is consumed early).
// Each message is a 4-byte little-endian length, at most maxHandshakeMsg,
// followed by a msgpack document:
//
//	dialer (lower rank)   -> hello
//	acceptor (higher rank) -> reply   (OK false, with a Reason, refuses)
//	dialer                -> confirm (OK false refuses the acceptor)
//
// The acceptor registers the connection only after a positive confirm, and
// the dialer only after a positive reply, so both directions are
// acknowledged.
const (
	handshakeMagic   = 0x4B5A4E41 // "KZNA"
	handshakeVersion = 1
	maxHandshakeMsg  = 4096
)

type hello struct {
	Magic   uint32 `msgpack:"magic"`
	Version uint16 `msgpack:"version"`
	Job     string `msgpack:"job"`
	Rank    int    `msgpack:"rank"`
	Size    int    `msgpack:"size"`
	Socket  int    `msgpack:"socket"`  // index of this connection among the pair's
	Sockets int    `msgpack:"sockets"` // SocketsPerPeer of the dialer
}

type reply struct {
	OK     bool   `msgpack:"ok"`
	Reason string `msgpack:"reason,omitempty"`
	Magic  uint32 `msgpack:"magic"`
	Job    string `msgpack:"job"`
	Rank   int    `msgpack:"rank"`
	Size   int    `msgpack:"size"`
}

type confirm struct {
	OK     bool   `msgpack:"ok"`
	Reason string `msgpack:"reason,omitempty"`
}

// errRefused marks a handshake the other side refused.
var errRefused = errors.New("tcp: connection refused by peer")

func writeMsg(c net.Conn, v any) error {
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

func readMsg(c net.Conn, v any) error {
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
	if err := msgpack.Unmarshal(body, v); err != nil {
		return fmt.Errorf("%w: %v", errBadHandshake, err)
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
	}
	return ""
}
