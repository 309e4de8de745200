//go:build !linux

package tcp

import (
	"net"
	"sync/atomic"
	"time"

	"github.com/kizuna-hpc/kizuna/transport"
)

// The read-ahead stream reader and the inline reads of fastpath.go are
// Linux-only; elsewhere every socket has a plain reader goroutine.

// EnvSpin is read on Linux only.
const EnvSpin = "KIZUNA_TCP_SPIN"

type stream struct{}

var liveEndpoints atomic.Int32

func spinBudget(int, int) (time.Duration, error) { return 0, nil }

func newStream(*endpoint, *peer, *sock, *net.TCPConn) (*stream, error) { return nil, nil }

func (e *endpoint) streamLoop(p *peer, s *sock) { e.readLoop(p, s) }

func (e *endpoint) poll(*transport.Recv) {}

type fastWrite struct{}

func (*fastWrite) init(*netLink) {}

func (l *netLink) tryWrite() (bool, error) { return false, nil }
