//go:build !linux

package bench

import "net"

type splicer struct{ mem []byte }

func newSplicer(*net.TCPConn, int) (*splicer, error) { return nil, ErrNoSplice }

func (*splicer) close()            {}
func (*splicer) send([]byte) error { return ErrNoSplice }
