//go:build !linux

package bench

import "net"

type splicer struct{}

func newSplicer(*net.TCPConn) (*splicer, error) { return nil, ErrNoSplice }

func (*splicer) close()            {}
func (*splicer) send([]byte) error { return ErrNoSplice }
