package bench

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// LoopbackMode is how MeasureLoopback's senders hand their bytes to the
// kernel.
type LoopbackMode string

const (
	// LoopbackWrite sends with write(2): the kernel copies the message
	// into socket-buffer pages, and the receiver's read(2) copies it out
	// again, two copies per byte, as every sockets library pays over
	// loopback (Kizuna's TCP transport, Open MPI's, Gloo).
	LoopbackWrite LoopbackMode = "write"
	// LoopbackSplice sends with vmsplice(2) into a pipe and splice(2) into
	// the socket: the socket buffers refer to the sender's own pages, and
	// the receiver's read is the only copy. The pages must not change
	// until the receiver has read them, so the receiver acknowledges each
	// message (one byte on a second connection) and the sender waits for
	// that before it changes its buffer: what a transport's Send would
	// have to do before returning. Linux only.
	LoopbackSplice LoopbackMode = "splice"
)

// ErrNoSplice is MeasureLoopback's error for LoopbackSplice off Linux.
var ErrNoSplice = errors.New("bench: vmsplice and splice are Linux system calls")

// loopbackLimit bounds one MeasureLoopback call (a deadline on every
// connection).
const loopbackLimit = 60 * time.Second

// MeasureLoopback measures how fast two endpoints of this process
// exchange size-byte messages over loopback TCP, both directions at once,
// as the two ranks of a ring all-reduce do: each of rounds rounds (after
// two unmeasured ones) ends when an endpoint has sent its message and
// received its peer's. It returns the rate in bytes per second each way,
// the lower of the two endpoints'.
//
// Every round changes a stamp at the start of each 4 KiB page of the
// message and the receiver checks the stamps, so a sender that changed
// its buffer while the kernel still referred to it (LoopbackSplice
// without its acknowledgement) fails the measurement instead of timing
// it. A call that takes over a minute in all fails (a deadline on every
// connection, so that a side never waits for its peer for longer). It
// leaves no goroutine behind.
func MeasureLoopback(mode LoopbackMode, size, rounds int) (float64, error) {
	if mode != LoopbackWrite && mode != LoopbackSplice {
		return 0, fmt.Errorf("bench: loopback mode %q: want %q or %q", mode, LoopbackWrite, LoopbackSplice)
	}
	if size < 8 || rounds < 1 {
		return 0, fmt.Errorf("bench: loopback of %d rounds of %d bytes: want at least 1 round of 8 bytes", rounds, size)
	}
	data, err := loopbackPair()
	if err != nil {
		return 0, err
	}
	ack, err := loopbackPair()
	if err != nil {
		closeAll(data[:])
		return 0, err
	}
	all := []net.Conn{data[0], data[1], ack[0], ack[1]}
	defer closeAll(all)
	deadline := time.Now().Add(loopbackLimit)
	for _, c := range all {
		_ = c.SetDeadline(deadline)
	}
	// The first failure closes every connection, which ends the other
	// side's waits too; it is the one reported.
	var (
		once  sync.Once
		first error
	)
	abort := func(err error) {
		once.Do(func() {
			first = err
			closeAll(all)
		})
	}
	var (
		wg    sync.WaitGroup
		rates [2]float64
	)
	for side := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rates[side] = loopbackSide(mode, data[side].(*net.TCPConn), ack[side].(*net.TCPConn), size, rounds, abort)
		}()
	}
	wg.Wait()
	if first != nil {
		return 0, first
	}
	return min(rates[0], rates[1]), nil
}

// loopbackPair is the two ends of one loopback TCP connection.
func loopbackPair() ([2]net.Conn, error) {
	var p [2]net.Conn
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return p, fmt.Errorf("bench: loopback: %w", err)
	}
	defer ln.Close()
	type res struct {
		c   net.Conn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		c, err := ln.Accept()
		ch <- res{c, err}
	}()
	d := net.Dialer{Timeout: 5 * time.Second}
	p[0], err = d.DialContext(context.Background(), "tcp", ln.Addr().String())
	if err != nil {
		ln.Close() // ends the Accept
		<-ch
		return p, fmt.Errorf("bench: loopback: %w", err)
	}
	r := <-ch
	if r.err != nil {
		p[0].Close()
		return p, fmt.Errorf("bench: loopback: %w", r.err)
	}
	p[1] = r.c
	return p, nil
}

func closeAll(cs []net.Conn) {
	for _, c := range cs {
		if c != nil {
			_ = c.Close()
		}
	}
}

// stampStride is the distance between stamps in a message: one per page.
const stampStride = 4 << 10

// stamp writes round r into the first 8 bytes of every page of b.
func stamp(b []byte, r uint64) {
	for off := 0; off+8 <= len(b); off += stampStride {
		binary.LittleEndian.PutUint64(b[off:], r)
	}
}

// checkStamps reports the first stamp of b that is not round r.
func checkStamps(b []byte, r uint64) error {
	for off := 0; off+8 <= len(b); off += stampStride {
		if got := binary.LittleEndian.Uint64(b[off:]); got != r {
			return fmt.Errorf("bench: loopback: round %d's message has round %d's bytes at offset %d: the sender changed them before they were read", r, got, off)
		}
	}
	return nil
}

// loopbackSide is one endpoint: it sends its messages on data and reads
// its peer's with a goroutine of its own; with LoopbackSplice that
// goroutine acknowledges each message on ack, and the sender reads the
// peer's acknowledgements from ack before it stamps the next round. On a
// failure it calls abort, which closes every connection, and returns
// once its goroutine has ended.
func loopbackSide(mode LoopbackMode, data, ack *net.TCPConn, size, rounds int, abort func(error)) float64 {
	var (
		send []byte
		sp   *splicer
	)
	if mode == LoopbackSplice {
		var err error
		if sp, err = newSplicer(data, size); err != nil {
			abort(err)
			return 0
		}
		defer sp.close()
		send = sp.mem
	} else {
		send = make([]byte, size)
	}
	recv := make([]byte, size)
	total := rounds + 2 // two to warm up
	got := make(chan error)
	done := make(chan struct{})
	go func() {
		defer close(done)
		one := []byte{1}
		for r := range total {
			var err error
			if _, err = io.ReadFull(data, recv); err != nil {
				err = fmt.Errorf("bench: loopback: receive round %d: %w", r, err)
			} else if mode == LoopbackSplice {
				if _, err = ack.Write(one); err != nil {
					err = fmt.Errorf("bench: loopback: acknowledge round %d: %w", r, err)
				}
			}
			if err == nil {
				err = checkStamps(recv, uint64(r))
			}
			if err != nil {
				abort(err)
				return
			}
			got <- nil
		}
	}()
	one := make([]byte, 1)
	var start time.Time
	for r := range total {
		if r == 2 {
			start = time.Now()
		}
		stamp(send, uint64(r))
		var err error
		if sp != nil {
			if err = sp.send(send); err == nil {
				_, err = io.ReadFull(ack, one)
			}
		} else {
			_, err = data.Write(send)
		}
		if err != nil {
			abort(fmt.Errorf("bench: loopback: send round %d: %w", r, err))
			for { // until the goroutine has seen the connection close
				select {
				case <-got:
				case <-done:
					return 0
				}
			}
		}
		select {
		case <-got:
		case <-done: // it failed
			return 0
		}
	}
	<-done
	return float64(size) * float64(rounds) / time.Since(start).Seconds()
}
