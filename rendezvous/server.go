package rendezvous

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"github.com/kizuna-hpc/kizuna/internal/auth"
)

const (
	// helloTimeout bounds how long a new connection may take to send its
	// hello frame.
	helloTimeout = 10 * time.Second
	// flushTimeout bounds how long a closing connection may take to accept
	// the answers still queued for it (a client that stopped reading).
	flushTimeout = time.Second
	// maxAcceptDelay caps the back-off after a failed Accept (out of file
	// descriptors, say).
	maxAcceptDelay = time.Second
)

// Option configures a Server.
type Option func(*serverConfig)

type serverConfig struct {
	log   *slog.Logger
	token string
}

// WithLogger makes the server log to l: a warning for each connection it
// drops for a protocol error, a debug line for each connection that ends.
// The default is slog.Default().
func WithLogger(l *slog.Logger) Option {
	return func(c *serverConfig) { c.log = l }
}

// WithToken makes the server accept only clients that hold tok (Dial with
// DialWithToken(tok)): in the hello exchange the server and the client each
// prove that they hold it, by an HMAC-SHA256 challenge-response, so the
// token never crosses the wire. A client that fails is closed and logged
// (a warning naming its address); the others go on. The default, "", is a
// store open to every client that holds no token.
func WithToken(tok string) Option {
	return func(c *serverConfig) { c.token = tok }
}

// Server serves a store over TCP. Its methods are safe for concurrent use.
type Server struct {
	ln    net.Listener
	log   *slog.Logger
	token string
	store *store
	quit  chan struct{} // closed by Close
	wg    sync.WaitGroup

	mu     sync.Mutex
	conns  map[*serverConn]struct{} // guarded by mu
	closed bool                     // guarded by mu
}

// Listen listens on addr ("host:port"; port 0 picks a free one) and serves
// the store in goroutines the Server owns until Close.
func Listen(addr string, opts ...Option) (*Server, error) {
	cfg := serverConfig{log: slog.Default()}
	for _, o := range opts {
		o(&cfg)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("rendezvous: listen: %w", err)
	}
	s := &Server{
		ln:    ln,
		log:   cfg.log,
		token: cfg.token,
		store: newStore(),
		quit:  make(chan struct{}),
		conns: make(map[*serverConn]struct{}),
	}
	s.wg.Go(s.acceptLoop)
	return s, nil
}

// Addr returns the address the server listens on, with the port it got.
func (s *Server) Addr() string {
	return s.ln.Addr().String()
}

// Close stops the server: it stops accepting, answers every pending Wait with
// an error (clients see ErrClosed), closes every connection and waits for all
// of its goroutines. Calls after the first return nil.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	conns := make([]*serverConn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()

	close(s.quit)
	err := s.ln.Close()
	s.store.closeAll()
	for _, c := range conns {
		c.stop()
	}
	s.wg.Wait()
	if err != nil {
		return fmt.Errorf("rendezvous: close listener: %w", err)
	}
	return nil
}

func (s *Server) acceptLoop() {
	var delay time.Duration
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			select {
			case <-s.quit:
				return
			default:
			}
			delay = min(max(2*delay, 5*time.Millisecond), maxAcceptDelay)
			s.log.Warn("rendezvous: accept failed; retrying", "addr", s.Addr(), "delay", delay, "err", err)
			select {
			case <-s.quit:
				return
			case <-time.After(delay):
			}
			continue
		}
		delay = 0
		c := newServerConn(conn)
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			conn.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.wg.Go(func() { s.serve(c) })
		s.mu.Unlock()
	}
}

// serverConn is one client connection. Its reader (serve) handles requests
// in order and hands their answers to its writer goroutine; answers to
// pending waits arrive from other connections' goroutines through post.
type serverConn struct {
	conn   net.Conn
	remote string

	// out carries immediate answers from the reader to the writer.
	// Unbuffered: a client that stops reading stalls its own reader, not the
	// server.
	out        chan response
	wake       chan struct{} // cap 1: one pending wake-up covers any number of posts
	quit       chan struct{} // closed by serve when the reader has stopped
	writerDone chan struct{} // closed by the writer when it exits

	mu       sync.Mutex
	posted   []response // guarded by mu; answers to pending waits
	gone     bool       // guarded by mu; the writer no longer takes posts
	stopping bool       // guarded by mu; the server is closing this connection
	writeErr error      // guarded by mu; why the writer stopped early

	// Guarded by the server's store.mu.
	waits     map[uint64]*waiter // pending waits by request id
	waitBytes int
}

func newServerConn(conn net.Conn) *serverConn {
	return &serverConn{
		conn:       conn,
		remote:     conn.RemoteAddr().String(),
		out:        make(chan response),
		wake:       make(chan struct{}, 1),
		quit:       make(chan struct{}),
		writerDone: make(chan struct{}),
		waits:      make(map[uint64]*waiter),
	}
}

func (s *Server) serve(c *serverConn) {
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		c.conn.Close()
	}()
	if err := s.handshake(c); err != nil {
		s.logEnd(c, fmt.Errorf("handshake: %w", err))
		return
	}
	go c.writeLoop() // owned by serve, which waits for writerDone below
	err := s.readLoop(c)
	s.store.dropConn(c)
	close(c.quit)
	<-c.writerDone
	s.logEnd(c, err)
}

// errPeerClosed reports a connection the client closed between frames.
var errPeerClosed = errors.New("closed by client")

// logEnd logs why c ended: a warning for a protocol error or a failed
// authentication, debug otherwise.
func (s *Server) logEnd(c *serverConn, err error) {
	c.mu.Lock()
	stopping := c.stopping
	c.mu.Unlock()
	switch {
	case stopping:
		s.log.Debug("rendezvous: connection closed by server shutdown", "remote", c.remote)
	case errors.Is(err, errPeerClosed):
		s.log.Debug("rendezvous: connection closed by client", "remote", c.remote)
	case errors.Is(err, errAuth):
		s.log.Warn("rendezvous: refused connection", "remote", c.remote, "reason", err)
	default:
		s.log.Warn("rendezvous: dropping connection", "remote", c.remote, "err", err)
	}
}

// handshake runs the server's side of the hello exchange on c (see
// answerHello), all of it within helloTimeout.
func (s *Server) handshake(c *serverConn) error {
	c.setReadDeadline(time.Now().Add(helloTimeout))
	c.setWriteDeadline(time.Now().Add(helloTimeout))
	if err := answerHello(c.conn, s.token); err != nil {
		return err
	}
	c.setWriteDeadline(time.Time{})
	c.setReadDeadline(time.Time{})
	return nil
}

// answerHello reads the client's hello from rw, answers it with the server's
// challenge and proof, and reads and checks the client's proof, for token.
// A frame that is not a hello is an error and gets no answer; a hello of
// another version is answered with the reason, so that the client can report
// it, then refused. A client that does not prove it holds token is refused
// with an error wrapping errAuth.
func answerHello(rw io.ReadWriter, token string) error {
	fr := newFrameReader()
	b, err := fr.Read(rw, maxHelloFrame)
	if err == io.EOF {
		return errPeerClosed
	}
	if err != nil {
		return err
	}
	dec := newDecoder()
	h, err := dec.hello(b)
	if err != nil {
		return fmt.Errorf("malformed hello: %w", err)
	}
	if h.Magic != protocolMagic {
		return fmt.Errorf("hello with magic %q, want %q", h.Magic, protocolMagic)
	}
	ack := helloAck{Version: ProtocolVersion}
	switch {
	case h.Version != ProtocolVersion:
		ack.Err = fmt.Sprintf("protocol version %d not supported; server speaks %d", h.Version, ProtocolVersion)
	case len(h.Nonce) != nonceSize:
		return fmt.Errorf("hello with a nonce of %d bytes, want %d", len(h.Nonce), nonceSize)
	default:
		ack.Nonce = auth.NewNonce()
		ack.Proof = proof(token, roleServer, h.Nonce, ack.Nonce)
	}
	fw := newFrameWriter()
	if err := encodeHelloAck(fw.Begin(), &ack); err != nil {
		return err
	}
	frame, err := fw.Finish(maxHelloFrame)
	if err != nil {
		return err
	}
	if _, err := rw.Write(frame); err != nil {
		return fmt.Errorf("write hello ack: %w", err)
	}
	if ack.Err != "" {
		return errors.New(ack.Err)
	}
	b, err = fr.Read(rw, maxHelloFrame)
	if err != nil {
		return fmt.Errorf("%w: no proof from the client: %w", errAuth, err)
	}
	a, err := dec.auth(b)
	switch {
	case err != nil:
		return fmt.Errorf("%w: malformed proof: %w", errAuth, err)
	case len(a.Proof) == 0:
		return fmt.Errorf("%w: the client rejected the server's proof (token mismatch)", errAuth)
	case !auth.Equal(a.Proof, proof(token, roleClient, h.Nonce, ack.Nonce)):
		return fmt.Errorf("%w: wrong proof from the client (token mismatch)", errAuth)
	}
	return nil
}

// setReadDeadline sets c's read deadline unless the server is closing c,
// whose deadline stays in the past.
func (c *serverConn) setReadDeadline(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.stopping {
		c.conn.SetReadDeadline(t)
	}
}

// setWriteDeadline sets c's write deadline unless the server is closing c.
func (c *serverConn) setWriteDeadline(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.stopping {
		c.conn.SetWriteDeadline(t)
	}
}

// stop makes c's reader stop now and its writer give up after flushTimeout.
func (c *serverConn) stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stopping = true
	c.conn.SetReadDeadline(time.Unix(1, 0))
	c.conn.SetWriteDeadline(time.Now().Add(flushTimeout))
}

// readLoop reads and handles requests until the connection ends or breaks
// the protocol.
func (s *Server) readLoop(c *serverConn) error {
	fr := newFrameReader()
	dec := newDecoder()
	for {
		b, err := fr.Read(c.conn, MaxFrameSize)
		if err == io.EOF { // only at a frame boundary; io.ErrUnexpectedEOF inside one
			return errPeerClosed
		}
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				// Only stop and a failed writer set a deadline after the hello.
				c.mu.Lock()
				if c.writeErr != nil {
					err = fmt.Errorf("write: %w", c.writeErr)
				}
				c.mu.Unlock()
			}
			return err
		}
		req, err := dec.request(b)
		if err != nil {
			return fmt.Errorf("malformed request: %w", err)
		}
		if err := req.validate(); err != nil {
			return fmt.Errorf("invalid request: %w", err)
		}
		resp, reply := s.store.handle(c, &req)
		if !reply {
			continue
		}
		select {
		case c.out <- resp:
		case <-c.writerDone:
			return errors.New("writer stopped")
		}
	}
}

// post queues resp, an answer to a pending wait, for the writer. It never
// blocks; the queue is bounded by the connection's pending waits.
func (c *serverConn) post(resp response) {
	c.mu.Lock()
	if c.gone {
		c.mu.Unlock()
		return
	}
	c.posted = append(c.posted, resp)
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// takePosted returns the queued posts; with last set it also stops the queue.
func (c *serverConn) takePosted(last bool) []response {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.posted
	c.posted = nil
	c.gone = c.gone || last
	return p
}

// writeLoop writes answers until the reader stops (then it flushes what was
// posted) or a write fails (then it stops the reader).
func (c *serverConn) writeLoop() {
	defer close(c.writerDone)
	fw := newFrameWriter()
	write := func(resp *response) error {
		if err := encodeResponse(fw.Begin(), resp); err != nil {
			return err
		}
		b, err := fw.Finish(MaxFrameSize)
		if err != nil {
			return err
		}
		_, err = c.conn.Write(b)
		return err
	}
	for {
		var err error
		select {
		case resp := <-c.out:
			err = write(&resp)
		case <-c.wake:
			for _, resp := range c.takePosted(false) {
				if err = write(&resp); err != nil {
					break
				}
			}
		case <-c.quit:
			c.conn.SetWriteDeadline(time.Now().Add(flushTimeout))
			for _, resp := range c.takePosted(true) {
				if write(&resp) != nil {
					break
				}
			}
			return
		}
		if err != nil {
			c.mu.Lock()
			c.writeErr = err
			c.gone = true
			c.posted = nil
			// The reader may be blocked reading; the deadline wakes it.
			c.conn.SetReadDeadline(time.Unix(1, 0))
			c.mu.Unlock()
			return
		}
	}
}
