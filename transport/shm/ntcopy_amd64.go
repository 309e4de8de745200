package shm

import "unsafe"

// ntCopy64 copies n bytes, a multiple of 64, from src to dst (16-byte
// aligned) with non-temporal stores and fences them (ntcopy_amd64.s).
//
//go:noescape
func ntCopy64(dst, src *byte, n int)

// haveNT says ntCopy uses non-temporal stores here.
const haveNT = true

// ntCopy copies src into dst (len(dst) >= len(src)) writing dst around the
// caches: ordinary stores up to dst's first 64-byte boundary and after its
// last, non-temporal ones between. The stores are fenced before it returns,
// so a later atomic store that publishes them orders after them.
func ntCopy(dst, src []byte) {
	n := len(src)
	head := int((64 - uintptr(unsafe.Pointer(unsafe.SliceData(dst)))%64) % 64)
	if n < head+64 {
		copy(dst, src)
		return
	}
	copy(dst[:head], src[:head])
	body := (n - head) &^ 63
	ntCopy64(&dst[head], &src[head], body)
	copy(dst[head+body:n], src[head+body:])
}
