package collective

import (
	"context"
	"errors"
	"fmt"

	"github.com/kizuna-hpc/kizuna/collective/reduce"
	"github.com/kizuna-hpc/kizuna/collective/schedule"
	"github.com/kizuna-hpc/kizuna/transport"
)

func (c *Comm) p2pCheck(op string, buf []byte, dt DType, peer int) error {
	if !dt.Valid() {
		return fmt.Errorf("%w: %s: unknown dtype %d", ErrInvalid, op, dt)
	}
	if len(buf)%dt.Size() != 0 {
		return fmt.Errorf("%w: %s: buffer of %d bytes is not a whole number of %s elements", ErrInvalid, op, len(buf), dt)
	}
	if peer < 0 || peer >= c.size {
		return fmt.Errorf("%w: %s: peer %d out of range [0, %d)", ErrInvalid, op, peer, c.size)
	}
	if c.closed.Load() {
		return &OpError{Op: op, Rank: c.rank, Peer: peer, Err: ErrClosed}
	}
	if err := c.Err(); err != nil {
		return &OpError{Op: op, Rank: c.rank, Peer: peer, Err: fmt.Errorf("%w: %w", ErrBroken, err)}
	}
	return nil
}

func (c *Comm) nextP2P(m map[p2pKey]uint64, peer int, tag uint32) uint64 {
	c.p2pMu.Lock()
	defer c.p2pMu.Unlock()
	k := p2pKey{peer, tag}
	s := m[k]
	m[k] = s + 1
	return s
}

// SendBytes sends buf (elements of dt) to peer with tag. See Send.
func (c *Comm) SendBytes(ctx context.Context, buf []byte, dt DType, peer int, tag uint32) (err error) {
	if err := c.p2pCheck("send", buf, dt, peer); err != nil {
		return err
	}
	seq := c.nextP2P(c.sendSeq, peer, tag)
	defer c.obs.p2pEnd(c.obs.p2pBegin(true, peer, tag, seq, buf, dt), &err) // flight recorder
	h := transport.Header{
		Kind: transport.KindP2P, Op: uint8(schedule.SendRecv), DType: uint8(dt), Comm: c.id,
		Tag: tag, Seq: seq, Count: int64(len(buf) / dt.Size()),
	}
	c.seal(&h, buf) // checksum.go
	if peer == c.rank {
		h.Src = int32(c.peers[c.rank])
		h.Len = uint32(len(buf))
		c.mux.Deliver(&h, buf)
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	if err := c.ep.Send(ctx, c.peers[peer], &h, buf); err != nil {
		return &OpError{Op: "send", Seq: seq, Rank: c.rank, Peer: peer, Err: err}
	}
	return nil
}

// RecvBytes receives the next message from peer with tag into buf. See Recv.
func (c *Comm) RecvBytes(ctx context.Context, buf []byte, dt DType, peer int, tag uint32) (err error) {
	if err := c.p2pCheck("recv", buf, dt, peer); err != nil {
		return err
	}
	seq := c.nextP2P(c.recvSeq, peer, tag)
	defer c.obs.p2pEnd(c.obs.p2pBegin(false, peer, tag, seq, buf, dt), &err) // flight recorder
	r := &transport.Recv{
		Key: transport.Key{Kind: transport.KindP2P, Comm: c.id, Src: int32(c.peers[peer]), Tag: tag, Seq: seq},
		Buf: buf,
	}
	if err := c.mux.Post(r); err != nil {
		return &OpError{Op: "recv", Seq: seq, Rank: c.rank, Peer: peer, Err: err}
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	err = c.mux.Wait(ctx, r)
	if err == nil && (c.checksum || r.Hdr.Flags != 0) {
		if err = c.verify(&r.Hdr, buf, peer); err != nil { // checksum.go
			c.breakCorrupt(seq, err)
		}
	}
	if err == nil && r.Hdr.DType != uint8(dt) {
		err = fmt.Errorf("%w: rank %d sent %d %s elements with tag %d, receiver expects %s",
			ErrMismatch, peer, r.Hdr.Count, reduce.DType(r.Hdr.DType), tag, dt)
	}
	if err != nil {
		if errors.Is(err, transport.ErrTooLarge) || errors.Is(err, transport.ErrShortFrame) {
			err = fmt.Errorf("%w: rank %d sent a message with tag %d whose length differs from the receive buffer's %d bytes: %w",
				ErrMismatch, peer, tag, len(buf), err)
		}
		return &OpError{Op: "recv", Seq: seq, Rank: c.rank, Peer: peer, Err: err}
	}
	return nil
}
