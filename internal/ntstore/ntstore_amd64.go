package ntstore

import "unsafe"

// copy64 copies n bytes, a multiple of 64, from src to dst (16-byte
// aligned) with non-temporal stores and fences them (ntstore_amd64.s).
//
//go:noescape
func copy64(dst, src *byte, n int)

// Available says Copy uses non-temporal stores on this architecture.
const Available = true

// Copy copies src into dst (len(dst) >= len(src)) writing dst around the
// caches: ordinary stores up to dst's first 64-byte boundary and after its
// last, non-temporal ones (MOVNTDQ) between. The stores are fenced
// (SFENCE) before it returns, so that a later atomic store that publishes
// them is ordered after them.
func Copy(dst, src []byte) {
	n := len(src)
	head := int((64 - uintptr(unsafe.Pointer(unsafe.SliceData(dst)))%64) % 64)
	if n < head+64 {
		copy(dst, src)
		return
	}
	copy(dst[:head], src[:head])
	body := (n - head) &^ 63
	copy64(&dst[head], &src[head], body)
	copy(dst[head+body:n], src[head+body:])
}
