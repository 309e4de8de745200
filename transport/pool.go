package transport

import (
	"math/bits"
	"sync"
)

// Size-class buffer pools for unexpected frames and control payloads.
//
// A frame that arrives before its receive is posted is copied into a buffer
// from the pool of the smallest power-of-two class that holds it (64 B up to
// MaxPayload), and the buffer goes back to the pool when a receive takes the
// frame. The pools are sync.Pools of *[]byte, so Get and Put do not allocate
// in steady state and idle buffers are released to the garbage collector.
// They are shared by every Mux in the process.
const (
	minClassShift = 6  // smallest class: 64 B
	maxClassShift = 30 // largest class: 1 GiB == MaxPayload
)

var bufPools [maxClassShift - minClassShift + 1]sync.Pool

// sizeClass returns the pool index for a buffer of n bytes, 0 < n <= MaxPayload.
func sizeClass(n int) int {
	if n <= 1<<minClassShift {
		return 0
	}
	return bits.Len(uint(n-1)) - minClassShift
}

// getBuf returns a buffer with len >= n from the pools. 0 < n <= MaxPayload.
func getBuf(n int) *[]byte {
	c := sizeClass(n)
	if p, _ := bufPools[c].Get().(*[]byte); p != nil {
		return p
	}
	b := make([]byte, 1<<(c+minClassShift))
	return &b
}

// putBuf returns a buffer obtained from getBuf. The caller must not use it
// afterwards.
func putBuf(p *[]byte) {
	n := cap(*p)
	c := sizeClass(n)
	if n != 1<<(c+minClassShift) {
		return // not one of ours; let the collector have it
	}
	*p = (*p)[:n]
	bufPools[c].Put(p)
}
