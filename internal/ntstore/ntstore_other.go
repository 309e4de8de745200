//go:build !amd64

package ntstore

// Available says Copy uses non-temporal stores on this architecture: not
// here, where it is an ordinary copy.
const Available = false

// Copy copies src into dst with ordinary stores.
func Copy(dst, src []byte) { copy(dst, src) }
