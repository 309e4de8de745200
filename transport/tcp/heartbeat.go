package tcp

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/kizuna-hpc/kizuna/transport"
)

// Heartbeats. One goroutine per endpoint (owned by Close) wakes every
// quarter of the heartbeat interval and, for each live peer:
//
//   - sends a KindHeartbeat frame (a bare 64-byte header) when nothing has
//     been sent to the peer for half an interval, so that an idle but
//     healthy link carries something at least once per interval;
//   - declares the peer lost (transport.ErrSilent) when every socket's
//     reader has been waiting on the peer, with nothing read, for two
//     intervals, once something has arrived from the peer (ranks finish
//     connecting at different times, and a peer starts its heartbeats when
//     its endpoint is up; one stopped before that is left to the
//     operation timeout). A reader that is busy delivering (copying into a receive,
//     or held back because this rank is behind) is not waiting on the peer,
//     so backpressure from this side never counts as silence.
//
// The per-frame cost is one atomic add per Send and, per read system call,
// two atomic stores and one add; no lock and no allocation.

// watchReader counts the reads of one socket and marks when its reader
// goroutine is blocked on the peer.
type watchReader struct {
	rd io.Reader
	s  *sock
}

func (w *watchReader) Read(b []byte) (int, error) {
	w.s.inRead.Store(true)
	n, err := w.rd.Read(b)
	w.s.inRead.Store(false)
	w.s.reads.Add(1)
	return n, err
}

// beatState is the heartbeat goroutine's view of one peer; only that
// goroutine touches it.
type beatState struct {
	lastReads []uint64  // per socket, at the last check
	heard     bool      // something arrived from the peer since this endpoint started
	seen      time.Time // last time the peer showed life
	sentCount uint64    // p.sent at the last check
	sentAt    time.Time // last time something was sent to the peer
}

// heartbeat runs until stop is closed.
func (e *endpoint) heartbeat(hb time.Duration, stop <-chan struct{}) {
	defer e.beats.Done()
	tick := time.NewTicker(hb / 4)
	defer tick.Stop()
	now := time.Now()
	states := make([]beatState, len(e.peers))
	for i, p := range e.peers {
		if p != nil {
			states[i] = beatState{lastReads: make([]uint64, len(p.socks)), seen: now, sentAt: now}
		}
	}
	prev := now
	for {
		select {
		case <-stop:
			return
		case now = <-tick.C:
		}
		// A tick that comes late means this process did not run (a loaded
		// machine, a stop of our own): what it saw says nothing about the
		// peers, so every peer gets the benefit of the doubt.
		late := now.Sub(prev) > hb
		prev = now
		for i, p := range e.peers {
			if p == nil || p.failure() != nil {
				continue
			}
			st := &states[i]
			alive := late
			for j, s := range p.socks {
				if r := s.reads.Load(); r != st.lastReads[j] {
					st.lastReads[j], alive, st.heard = r, true, true
				}
				if !s.inRead.Load() {
					alive = true
				}
			}
			if alive {
				st.seen = now
			} else if d := now.Sub(st.seen); st.heard && d >= 2*hb {
				e.fail(p, fmt.Errorf("nothing received for %v (heartbeat interval %v): %w", d.Round(time.Millisecond), hb, transport.ErrSilent))
				continue
			}
			if n := p.sent.Load(); n != st.sentCount {
				st.sentCount, st.sentAt = n, now
			} else if now.Sub(st.sentAt) >= hb/2 {
				st.sentAt = now
				e.beat(p)
			}
		}
	}
}

// beat sends one heartbeat frame to p unless a write to p is in progress
// (which carries data anyway) or a heartbeat is still on its way. The write
// runs on a goroutine of its own, so that a peer that stopped reading
// blocks only that goroutine; it ends when the write completes or the link
// is interrupted (failure or Close).
func (e *endpoint) beat(p *peer) {
	s := p.socks[0]
	if !p.beating.CompareAndSwap(false, true) {
		return
	}
	if !s.mu.TryLock() {
		p.beating.Store(false)
		return
	}
	e.beats.Add(1)
	go func() {
		defer e.beats.Done()
		defer p.beating.Store(false)
		var err error
		if s.released {
			err = transport.ErrClosed
		} else {
			h := transport.Header{Kind: transport.KindHeartbeat, Src: int32(e.rank)}
			h.MarshalTo(s.hdr[:])
			// No deadline: the write blocks until it completes or the
			// link is interrupted, and never leaves a heartbeat
			// half-written on a link that is otherwise healthy.
			err = s.l.writeFrame(context.Background(), s.hdr[:], nil)
		}
		s.mu.Unlock()
		if err != nil {
			if e.closed.Load() {
				err = transport.ErrClosed
			}
			e.fail(p, err)
		}
	}()
}
