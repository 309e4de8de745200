//go:build !amd64

package shm

// haveNT says ntCopy uses non-temporal stores here: not on this
// architecture, where it is an ordinary copy.
const haveNT = false

func ntCopy(dst, src []byte) { copy(dst, src) }
