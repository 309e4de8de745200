//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package tcp

import (
	"errors"
	"net"
)

const netpollSupported = false

func newNetpollLink(c *net.TCPConn) (link, error) {
	_ = c.Close()
	return nil, errors.New("tcp: netpoll is not supported on this system")
}
