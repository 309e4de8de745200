package shm

import (
	"fmt"
	"time"

	"github.com/kizuna-hpc/kizuna/internal/ntstore"
)

// How the producer copies large pieces into the ring (Config.Copy,
// KIZUNA_SHM_COPY).
//
// An ordinary store to a ring line that the consumer's processor still
// holds (it read that line the last time round the ring) must first take
// the line from that processor's cache. How much that costs depends on
// where the two processors are: on the 2-vCPU machine of
// docs/performance.md ("Two speeds of one machine") a cache line's round
// trip between the two vCPUs takes 48-115 ns for minutes at a time and
// 319-555 ns at other times, as the hypervisor moves them, and the
// producer's copy into a 1 MiB ring that the other vCPU reads runs at
// 10-25 GB/s in the first state and 2.0-2.6 GB/s in the second (the
// consumer's copy out: 26-44 and 12-18.5 GB/s). Non-temporal stores write
// around the caches and take no line from the consumer: the producer then
// copies at 16-42 GB/s near and 34-51 far, and the consumer reads from
// memory instead of the other cache, at about 17 GB/s. Far apart that
// made all-reduces 3.2-5.2 times faster at 2 ranks and 1.3-2.5 times at
// 4; near, 0.5-0.9 times as fast up to 4 MiB.
//
// So by default (CopyAuto) the producer measures: it times one ordinary
// copy of a large piece every copySampleEvery pieces while it copies with
// ordinary stores, and every copyProbeEvery pieces while it copies with
// non-temporal ones, and uses non-temporal stores while the best of the
// last copySamples timings is below copyNTBelow. The best, because a
// timing can only be made slower by what is not the copy (preemption, an
// interrupt), never faster.
const (
	CopyAuto   = "auto"   // measure, and choose per link (default)
	CopyCached = "cached" // ordinary stores
	CopyNT     = "nt"     // non-temporal stores for pieces of ntMinBytes or more (amd64; elsewhere cached)
)

const (
	// ntMinBytes: smaller pieces (headers, small payloads) are always
	// copied with ordinary stores, which leave them in the cache for the
	// consumer to read at once.
	ntMinBytes = 16 << 10
	// copyTimeBytes: only pieces this large are timed, so that the two
	// clock reads (a microsecond each on some virtual machines' clock
	// sources) do not make a fast copy look slow.
	copyTimeBytes = 32 << 10
	// copyNTBelow is the rate of ordinary copies into the ring under
	// which the producer switches to non-temporal stores, in bytes per
	// second: between the two states' 2.0-2.6 and 10-25 GB/s.
	copyNTBelow = 5e9
	// copySampleEvery and copyProbeEvery: how often a large piece is
	// timed in each mode. Timing costs two clock reads (about 100 ns
	// here against 5 us for 64 KiB at 13 GB/s); a probe while
	// non-temporal stores are on costs the slow copy itself (27 us for
	// 64 KiB at 2.4 GB/s against 2 us), once per 16 MiB of large pieces.
	copySampleEvery = 16
	copyProbeEvery  = 256
	copySamples     = 3
)

func checkCopy(mode string) error {
	switch mode {
	case "", CopyAuto, CopyCached, CopyNT:
		return nil
	}
	return fmt.Errorf("shm: copy mode %q: want auto, cached or nt", mode)
}

// copier copies pieces into one ring. It belongs to the link's producer
// and is used with the link's send lock held.
type copier struct {
	mode   string               // CopyAuto, CopyCached or CopyNT
	nt     bool                 // non-temporal stores for large pieces now
	pieces uint64               // large pieces copied
	rates  [copySamples]float64 // the last timings, bytes per second
	timed  int                  // timings taken, up to copySamples
}

func newCopier(mode string) copier {
	if mode == "" {
		mode = CopyAuto
	}
	if !ntstore.Available {
		mode = CopyCached
	}
	return copier{mode: mode, nt: mode == CopyNT}
}

// copy copies src into dst (same length).
func (c *copier) copy(dst, src []byte) {
	if len(src) < ntMinBytes || c.mode == CopyCached {
		copy(dst, src)
		return
	}
	if c.mode == CopyNT {
		ntstore.Copy(dst, src)
		return
	}
	every := uint64(copySampleEvery)
	if c.nt {
		every = copyProbeEvery
	}
	if len(src) >= copyTimeBytes {
		c.pieces++
	}
	if len(src) < copyTimeBytes || c.pieces%every != 0 {
		if c.nt {
			ntstore.Copy(dst, src)
		} else {
			copy(dst, src)
		}
		return
	}
	start := time.Now()
	copy(dst, src)
	c.observe(float64(len(src)) / max(time.Since(start).Seconds(), 1e-9))
}

// observe records the rate of one timed ordinary copy, in bytes per
// second, and decides the mode once copySamples timings are in.
func (c *copier) observe(rate float64) {
	copy(c.rates[1:], c.rates[:copySamples-1])
	c.rates[0] = rate
	if c.timed < copySamples {
		c.timed++
		if c.timed < copySamples {
			return
		}
	}
	best := 0.0
	for _, r := range c.rates {
		best = max(best, r)
	}
	c.nt = best < copyNTBelow
}
