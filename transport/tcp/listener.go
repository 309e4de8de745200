package tcp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/kizuna-hpc/kizuna/transport"
)

// handshakeTimeout bounds one connection's handshake, so that a stranger that
// connects and sends nothing holds the accepting side only this long.
const handshakeTimeout = 10 * time.Second

// Listener is one rank's listening socket, bound by Listen and consumed by
// Connect. Its methods are safe for concurrent use; Connect may be called
// once.
type Listener struct {
	cfg resolved
	ln  *net.TCPListener
	log *slog.Logger

	mu        sync.Mutex
	connected bool // Connect was called
	closed    bool
}

// Listen binds cfg's listening socket (see Config for defaults) and logs
// which address was chosen and why. The caller publishes l.Addr() to the
// other ranks, then calls Connect.
func Listen(cfg Config) (*Listener, error) {
	rc, err := resolve(cfg)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", rc.BindAddr)
	if err != nil {
		return nil, fmt.Errorf("tcp: rank %d: listen: %w", rc.Rank, err)
	}
	l := &Listener{cfg: rc, ln: ln.(*net.TCPListener), log: rc.Logger}
	l.log.Info("tcp: listening", "rank", rc.Rank, "addr", l.Addr(), "bind", rc.BindAddr,
		"source", rc.bindSource, "impl", rc.Impl, "sockets_per_peer", rc.SocketsPerPeer)
	return l, nil
}

// Addr returns the address other ranks dial, host:port.
func (l *Listener) Addr() string { return l.ln.Addr().String() }

// Close closes the listening socket. Connect closes it too when it returns.
// It is safe to call more than once.
func (l *Listener) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	return l.ln.Close()
}

// mesh collects the connections of one Connect call.
type mesh struct {
	l     *Listener
	cfg   *resolved
	addrs []string

	mu      sync.Mutex
	links   [][]*net.TCPConn // [peer][socket]; nil until the handshake completes
	missing int              // links not yet up
	done    chan struct{}    // closed when missing reaches 0
	fatal   error            // first unrecoverable error (a dial refused)
	failed  chan struct{}    // closed when fatal is set
}

// Connect builds the full mesh: for each pair of ranks the lower dials the
// higher SocketsPerPeer times, the higher accepts, and a handshake in both
// directions checks the job id, size, ranks and socket indices and that both
// sides hold Config.Token. A stranger (another job, garbage, a rank out of
// range, a wrong token or none) is refused with a warning logged naming its
// address, and accepting goes on. addrs[i] is rank i's Addr() (addrs[Rank] is
// not used); an empty addrs[i] means no link to rank i (another transport
// reaches it), which both ranks must agree on: a connection in its name is
// refused, and Send to it is an error.
//
// Connect returns the endpoint once every link is up. If ctx ends first, or
// a peer refuses this rank, or a peer this rank dials fails authentication
// (ErrAuthFailed), it returns an error naming the ranks still missing. It
// closes the listener before it returns, either way.
func (l *Listener) Connect(ctx context.Context, addrs []string) (transport.Endpoint, error) {
	cfg := &l.cfg
	l.mu.Lock()
	if l.connected || l.closed {
		l.mu.Unlock()
		return nil, errors.New("tcp: connect: listener already used or closed")
	}
	l.connected = true
	l.mu.Unlock()
	defer l.Close()
	if len(addrs) != cfg.Size {
		return nil, fmt.Errorf("tcp: rank %d: connect: %d addresses for %d ranks", cfg.Rank, len(addrs), cfg.Size)
	}

	m := &mesh{
		l: l, cfg: cfg, addrs: addrs,
		links:  make([][]*net.TCPConn, cfg.Size),
		done:   make(chan struct{}),
		failed: make(chan struct{}),
	}
	for p := range cfg.Size {
		if p != cfg.Rank && addrs[p] != "" {
			m.links[p] = make([]*net.TCPConn, cfg.SocketsPerPeer)
			m.missing += cfg.SocketsPerPeer
		}
	}
	if m.missing == 0 {
		close(m.done)
	}

	hctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		m.acceptLoop(hctx, &wg)
	}()
	for p := cfg.Rank + 1; p < cfg.Size; p++ {
		for s := range len(m.links[p]) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				m.dial(hctx, p, s)
			}()
		}
	}

	var err error
	select {
	case <-m.done:
	case <-m.failed:
		err = m.fatal
	case <-ctx.Done():
		err = context.Cause(ctx)
	}
	cancel()
	_ = l.Close() // stops acceptLoop
	wg.Wait()

	m.mu.Lock()
	defer m.mu.Unlock()
	if m.missing == 0 {
		err = nil // ctx may have ended just as the last link came up
	}
	if err != nil {
		var missing []int
		for p := range cfg.Size {
			for s := range m.links[p] {
				if m.links[p][s] == nil {
					missing = append(missing, p)
					break
				}
			}
		}
		for _, socks := range m.links {
			for _, c := range socks {
				if c != nil {
					_ = c.Close()
				}
			}
		}
		return nil, fmt.Errorf("tcp: rank %d: connect: no link to ranks %v: %w", cfg.Rank, missing, err)
	}
	return newEndpoint(cfg, m.links)
}

func (m *mesh) setFatal(err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fatal == nil {
		m.fatal = err
		close(m.failed)
	}
}

// register records a completed link (peer, sock), unless that link is up
// already; it reports whether it did. Only the goroutine that dials (peer,
// sock), or, for the lower ranks' links, accepting goroutines, register it.
func (m *mesh) register(peer, sock int, c *net.TCPConn) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.links[peer][sock] != nil {
		return false
	}
	m.links[peer][sock] = c
	m.missing--
	if m.missing == 0 {
		close(m.done)
	}
	return true
}

// linked reports whether the link (peer, sock) is up, or not wanted (no
// address for peer).
func (m *mesh) linked(peer, sock int) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.links[peer] == nil || m.links[peer][sock] != nil
}

// acceptLoop accepts connections until the listener is closed, and runs each
// one's handshake in a goroutine counted by wg.
func (m *mesh) acceptLoop(ctx context.Context, wg *sync.WaitGroup) {
	for {
		c, err := m.l.ln.AcceptTCP()
		if err != nil {
			if ctx.Err() == nil && !errors.Is(err, net.ErrClosed) {
				m.l.log.Error("tcp: accept", "rank", m.cfg.Rank, "err", err)
				time.Sleep(10 * time.Millisecond) // e.g. EMFILE: do not spin
				continue
			}
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			m.accept(ctx, c)
		}()
	}
}

// withDeadline runs fn with c's deadline bounded by handshakeTimeout and
// cut short when ctx ends; it clears the deadline afterwards.
func withDeadline(ctx context.Context, c net.Conn, fn func() error) error {
	_ = c.SetDeadline(time.Now().Add(handshakeTimeout))
	stop := context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Unix(1, 0)) })
	err := fn()
	if !stop() && err == nil {
		err = context.Cause(ctx)
	}
	_ = c.SetDeadline(time.Time{})
	return err
}

// accept runs the acceptor's side of a handshake on c. A refused connection
// is closed and logged (a warning naming its address and the reason), and
// accepting goes on.
func (m *mesh) accept(ctx context.Context, c *net.TCPConn) {
	cfg := m.cfg
	remote := c.RemoteAddr().String()
	refuse := func(reason string, tell bool) {
		m.l.log.Warn("tcp: refused connection", "rank", cfg.Rank, "remote", remote, "reason", reason)
		if tell {
			_ = writeMsg(c, &reply{OK: false, Reason: reason, Magic: handshakeMagic, Job: cfg.JobID, Rank: cfg.Rank, Size: cfg.Size})
		}
		_ = c.Close()
	}
	var peer, sock int
	err := withDeadline(ctx, c, func() error {
		var err error
		peer, sock, err = acceptHandshake(c, cfg, m.linked)
		return err
	})
	if err != nil {
		var rf *refusal
		switch {
		case errors.As(err, &rf):
			refuse(rf.reason, true)
		case ctx.Err() != nil:
			_ = c.Close() // Connect is over; not the stranger's fault
		default:
			refuse(err.Error(), false)
		}
		return
	}
	if !m.register(peer, sock, c) {
		// Two handshakes in the name of (peer, sock) both proved the
		// token: the dialer retried one this rank had accepted.
		refuse(fmt.Sprintf("duplicate connection for rank %d socket %d", peer, sock), false)
	}
}

type refusal struct{ reason string }

func (r *refusal) Error() string { return r.reason }

// dial connects to peer's socket sock, retrying while the peer is not
// listening yet, until the handshake succeeds or ctx ends. A refusal by the
// peer, or a peer that fails authentication, is fatal for Connect.
func (m *mesh) dial(ctx context.Context, peer, sock int) {
	cfg := m.cfg
	addr := m.addrs[peer]
	var d net.Dialer
	backoff := 5 * time.Millisecond
	for ctx.Err() == nil {
		nc, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if !errors.Is(err, syscall.ECONNREFUSED) {
				m.l.log.Debug("tcp: dial", "rank", cfg.Rank, "peer", peer, "addr", addr, "err", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 500*time.Millisecond)
			continue
		}
		c := nc.(*net.TCPConn)
		err = withDeadline(ctx, c, func() error { return dialHandshake(c, cfg, peer, sock, addr) })
		if err == nil {
			m.register(peer, sock, c) // no one else links (peer, sock): the lower rank dials
			return
		}
		_ = c.Close()
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, errRefused) || errors.Is(err, ErrAuthFailed) {
			m.setFatal(err)
			return
		}
		// The connection broke during the handshake (e.g. the peer's accept
		// backlog overflowed): try again.
		m.l.log.Debug("tcp: handshake", "rank", cfg.Rank, "peer", peer, "addr", addr, "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 500*time.Millisecond)
	}
}
