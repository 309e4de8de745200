package rendezvous

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kizuna-hpc/kizuna/internal/auth"
	"github.com/kizuna-hpc/kizuna/internal/wire"
)

const (
	// dialMinDelay and dialMaxDelay bound the back-off between Dial's
	// attempts.
	dialMinDelay = 10 * time.Millisecond
	dialMaxDelay = 500 * time.Millisecond
	// cancelGrace bounds how long Wait, once its ctx has ended, waits for the
	// server to say which keys are still missing.
	cancelGrace = time.Second
)

// Client is a connection to a Server, scoped to one namespace: every key it
// names lives in that namespace, and no two namespaces share keys.
//
// A Client's methods may be called concurrently; they share one TCP
// connection, on which requests are told apart by id, so a blocked Wait does
// not hold up anything else. Views made by Namespace share the connection
// too. A Client must be closed, which closes every view.
//
// Calls made one after another take effect in that order; concurrent calls
// take effect in no set order. Requests are written in the calling
// goroutine. A request whose ctx ends is abandoned: its answer, if one comes,
// is dropped; a Wait is also withdrawn on the server.
type Client struct {
	cc *clientConn
	ns string
}

// clientConn is the connection Client views share.
type clientConn struct {
	addr   string
	conn   net.Conn
	nextID atomic.Uint64
	done   chan struct{} // closed when the reader has stopped

	sendMu sync.Mutex
	fw     *wire.FrameWriter // guarded by sendMu

	mu      sync.Mutex
	pending map[uint64]chan response // guarded by mu; by request id
	cause   error                    // guarded by mu; why the connection ended, first cause wins
}

// DialOption configures Dial.
type DialOption func(*dialConfig)

type dialConfig struct {
	token string
}

// DialWithToken makes Dial authenticate with tok: the client and the server
// each prove that they hold it (see WithToken), so the token never crosses
// the wire. Without it the client holds no token and can connect only to a
// server that holds none.
func DialWithToken(tok string) DialOption {
	return func(c *dialConfig) { c.token = tok }
}

// Dial connects to the store at addr and returns a client in namespace.
// Until ctx ends it retries connecting (the server may start a moment
// later); the error then names addr and wraps ctx's error. A server that
// answers with another protocol, or refuses the hello, fails Dial at once,
// and so does one that does not hold the client's token (the error wraps
// ErrAuthFailed).
func Dial(ctx context.Context, addr, namespace string, opts ...DialOption) (*Client, error) {
	if len(namespace) > MaxKeySize {
		return nil, fmt.Errorf("rendezvous: namespace of %d bytes, limit %d", len(namespace), MaxKeySize)
	}
	var cfg dialConfig
	for _, o := range opts {
		o(&cfg)
	}
	var d net.Dialer
	delay := dialMinDelay
	for {
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			var permanent bool
			if permanent, err = handshake(ctx, conn, cfg.token); err == nil {
				return newClient(addr, conn, namespace), nil
			}
			conn.Close()
			if permanent {
				return nil, fmt.Errorf("rendezvous: dial %s: %w", addr, err)
			}
		}
		select {
		case <-ctx.Done():
			if errors.Is(err, ctx.Err()) {
				return nil, fmt.Errorf("rendezvous: dial %s: %w", addr, ctx.Err())
			}
			return nil, fmt.Errorf("rendezvous: dial %s: %w (last attempt: %v)", addr, ctx.Err(), err)
		case <-time.After(delay):
		}
		delay = min(2*delay, dialMaxDelay)
	}
}

// handshake sends the hello, reads the server's ack and checks its proof,
// and sends the client's proof, for token. permanent reports an error that
// retrying will not cure (the server speaks another protocol, refused us, or
// does not hold token).
func handshake(ctx context.Context, conn net.Conn, token string) (permanent bool, err error) {
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	nc := auth.NewNonce()
	fw := newFrameWriter()
	if err := encodeHello(fw.Begin(), &hello{Magic: protocolMagic, Version: ProtocolVersion, Nonce: nc}); err != nil {
		return true, err
	}
	b, err := fw.Finish(maxHelloFrame)
	if err != nil {
		return true, err
	}
	if _, err := conn.Write(b); err != nil {
		return false, fmt.Errorf("send hello: %w", err)
	}
	fr := newFrameReader()
	if b, err = fr.Read(conn, maxHelloFrame); err != nil {
		var fse *frameSizeError
		return errors.As(err, &fse), fmt.Errorf("read hello ack: %w", err)
	}
	ack, err := newDecoder().helloAck(b)
	if err != nil {
		return true, fmt.Errorf("malformed hello ack: %w", err)
	}
	if ack.Err != "" {
		return true, fmt.Errorf("server refused the connection: %s", ack.Err)
	}
	if len(ack.Nonce) != nonceSize {
		return true, fmt.Errorf("malformed hello ack: nonce of %d bytes, want %d", len(ack.Nonce), nonceSize)
	}
	// An empty proof tells the server why we hang up.
	var reply authFrame
	ok := auth.Equal(ack.Proof, proof(token, roleServer, nc, ack.Nonce))
	if ok {
		reply.Proof = proof(token, roleClient, nc, ack.Nonce)
	}
	if err := encodeAuth(fw.Begin(), &reply); err != nil {
		return true, err
	}
	if b, err = fw.Finish(maxHelloFrame); err != nil {
		return true, err
	}
	_, err = conn.Write(b)
	switch {
	case !ok:
		return true, ErrAuthFailed
	case err != nil:
		return false, fmt.Errorf("send proof: %w", err)
	}
	if !stop() {
		return false, ctx.Err() // the deadline is set; the connection is spoilt
	}
	return false, nil
}

func newClient(addr string, conn net.Conn, ns string) *Client {
	cc := &clientConn{
		addr:    addr,
		conn:    conn,
		done:    make(chan struct{}),
		fw:      newFrameWriter(),
		pending: make(map[uint64]chan response),
	}
	go cc.readLoop() // owned by Close, which waits for done
	return &Client{cc: cc, ns: ns}
}

// Addr returns the address of the store c is connected to.
func (c *Client) Addr() string {
	return c.cc.addr
}

// Namespace returns a view of c on the same connection in namespace ns.
// Closing either closes both.
func (c *Client) Namespace(ns string) *Client {
	return &Client{cc: c.cc, ns: ns}
}

// Close closes the connection, failing the calls in flight on it and on
// every view with ErrClosed, and waits for the client's goroutine. Calls
// after the first do nothing.
func (c *Client) Close() error {
	c.cc.fail(ErrClosed)
	<-c.cc.done
	return nil
}

// Set stores value under key, replacing any value. It does not retain value.
func (c *Client) Set(ctx context.Context, key string, value []byte) error {
	if err := checkKeyValue(key, value); err != nil {
		return err
	}
	_, err := c.do(ctx, &request{Op: opSet, Keys: []string{key}, Value: value})
	return err
}

// Get returns the value stored under key, or ErrNotFound. The caller owns the
// returned slice. A counter made by Add reads as its decimal text.
func (c *Client) Get(ctx context.Context, key string) ([]byte, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	resp, err := c.do(ctx, &request{Op: opGet, Keys: []string{key}})
	if err != nil {
		return nil, err
	}
	return resp.Value, nil
}

// getMany returns the values stored under keys, nil where absent.
func (c *Client) getMany(ctx context.Context, keys []string) ([][]byte, error) {
	if err := checkKeys(keys); err != nil {
		return nil, err
	}
	resp, err := c.do(ctx, &request{Op: opGetMany, Keys: keys})
	if err != nil {
		return nil, err
	}
	if len(resp.Values) != len(keys) {
		return nil, fmt.Errorf("rendezvous: get-many of %d keys at %s returned %d values", len(keys), c.cc.addr, len(resp.Values))
	}
	return resp.Values, nil
}

// Add adds delta to the counter under key (absent counts as 0) atomically and
// returns the new value. The counter is stored as decimal text; adding to a
// key holding anything else, or overflowing int64, is an error.
func (c *Client) Add(ctx context.Context, key string, delta int64) (int64, error) {
	if err := checkKey(key); err != nil {
		return 0, err
	}
	resp, err := c.do(ctx, &request{Op: opAdd, Keys: []string{key}, Delta: delta})
	if err != nil {
		return 0, err
	}
	return resp.Num, nil
}

// CompareAndSet stores new under key if the key holds old, or, with old nil,
// if the key is absent (an empty non-nil old matches an empty value). It
// returns the value the key holds afterwards (nil if absent) and whether new
// was stored. It does not retain old or new.
func (c *Client) CompareAndSet(ctx context.Context, key string, old, new []byte) (current []byte, swapped bool, err error) {
	if err := checkKeyValue(key, new); err != nil {
		return nil, false, err
	}
	if len(old) > MaxValueSize {
		return nil, false, fmt.Errorf("rendezvous: old value of %d bytes, limit %d", len(old), MaxValueSize)
	}
	if new == nil {
		new = []byte{}
	}
	resp, err := c.do(ctx, &request{Op: opCAS, Keys: []string{key}, Value: new, Old: old})
	if err != nil {
		return nil, false, err
	}
	return resp.Value, resp.Swapped, nil
}

// Delete removes key. Deleting an absent key is not an error. A key deleted
// after a pending Wait saw it still counts for that Wait.
func (c *Client) Delete(ctx context.Context, key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	_, err := c.do(ctx, &request{Op: opDelete, Keys: []string{key}})
	return err
}

// Abort sets the namespace's AbortKey to reason: every pending and later
// Wait in the namespace fails with *AbortError{Reason: reason} until the key
// is deleted. Setting it again keeps the first reason. A reason longer than
// MaxValueSize is cut to that length.
func (c *Client) Abort(ctx context.Context, reason string) error {
	if len(reason) > MaxValueSize {
		reason = reason[:MaxValueSize]
	}
	_, err := c.do(ctx, &request{Op: opAbort, Value: []byte(reason)})
	return err
}

// Wait returns once every key exists in the namespace; the server holds the
// request meanwhile. It returns *AbortError as soon as the namespace is
// aborted. When ctx ends first, it asks the server which keys are still
// missing (waiting at most a second for the answer) and returns a *WaitError
// naming them and wrapping ctx's error.
func (c *Client) Wait(ctx context.Context, keys ...string) error {
	if len(keys) == 0 {
		return nil
	}
	if err := checkKeys(keys); err != nil {
		return err
	}
	req := &request{Op: opWait, NS: c.ns, Keys: keys}
	ch, err := c.cc.start(req)
	if err != nil {
		return c.opError(req, err)
	}
	var resp response
	select {
	case resp = <-ch:
	case <-c.cc.done:
		if resp, err = c.cc.late(ch); err != nil {
			return c.opError(req, err)
		}
	case <-ctx.Done():
		resp = c.cancelWait(req, ch)
	}
	if resp.Status == statusCancelled {
		return &WaitError{Namespace: c.ns, Missing: resp.Keys, Err: ctx.Err()}
	}
	return c.check(req, resp)
}

// cancelWait withdraws the pending wait req and returns the server's answer:
// the keys still missing, or the outcome that crossed the withdrawal. When no
// answer comes within cancelGrace, it makes one that names every key.
func (c *Client) cancelWait(req *request, ch chan response) response {
	unknown := response{ID: req.ID, Status: statusCancelled, Keys: dedup(req.Keys)}
	if c.cc.send(&request{ID: req.ID, Op: opCancel, NS: c.ns}) != nil {
		c.cc.forget(req.ID)
		return unknown
	}
	t := time.NewTimer(cancelGrace)
	defer t.Stop()
	select {
	case resp := <-ch:
		return resp
	case <-c.cc.done:
		if resp, err := c.cc.late(ch); err == nil {
			return resp
		}
	case <-t.C:
		c.cc.forget(req.ID)
	}
	return unknown
}

func dedup(keys []string) []string {
	seen := make(map[string]bool, len(keys))
	var out []string
	for _, k := range keys {
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out
}

// do sends req in c's namespace and waits for its answer, turning an
// unsuccessful status into an error.
func (c *Client) do(ctx context.Context, req *request) (response, error) {
	req.NS = c.ns
	if err := ctx.Err(); err != nil {
		return response{}, c.opError(req, err)
	}
	ch, err := c.cc.start(req)
	if err != nil {
		return response{}, c.opError(req, err)
	}
	var resp response
	select {
	case resp = <-ch:
	case <-c.cc.done:
		if resp, err = c.cc.late(ch); err != nil {
			return response{}, c.opError(req, err)
		}
	case <-ctx.Done():
		c.cc.forget(req.ID)
		return response{}, c.opError(req, ctx.Err())
	}
	return resp, c.check(req, resp)
}

// check turns resp's status into an error.
func (c *Client) check(req *request, resp response) error {
	switch resp.Status {
	case statusOK:
		return nil
	case statusNotFound:
		return ErrNotFound
	case statusAborted:
		return &AbortError{Reason: string(resp.Value)}
	case statusClosed:
		return c.opError(req, ErrClosed)
	case statusError:
		return c.opError(req, errors.New(resp.Msg))
	default:
		return c.opError(req, fmt.Errorf("unexpected status %d", resp.Status))
	}
}

// opError wraps err with req's operation, key and the store's address.
func (c *Client) opError(req *request, err error) error {
	switch len(req.Keys) {
	case 0:
		return fmt.Errorf("%v at %s: %w", req.Op, c.cc.addr, err)
	case 1:
		return fmt.Errorf("%v %q at %s: %w", req.Op, req.Keys[0], c.cc.addr, err)
	default:
		return fmt.Errorf("%v of %d keys at %s: %w", req.Op, len(req.Keys), c.cc.addr, err)
	}
}

func checkKey(key string) error {
	switch {
	case key == "":
		return errors.New("rendezvous: empty key")
	case len(key) > MaxKeySize:
		return fmt.Errorf("rendezvous: key of %d bytes, limit %d", len(key), MaxKeySize)
	}
	return nil
}

func checkKeys(keys []string) error {
	if len(keys) > MaxKeysPerRequest {
		return fmt.Errorf("rendezvous: %d keys in one request, limit %d", len(keys), MaxKeysPerRequest)
	}
	for _, k := range keys {
		if err := checkKey(k); err != nil {
			return err
		}
	}
	return nil
}

func checkKeyValue(key string, value []byte) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if len(value) > MaxValueSize {
		return fmt.Errorf("rendezvous: value of %d bytes for key %q, limit %d", len(value), key, MaxValueSize)
	}
	return nil
}

// start registers req under a fresh id and sends it. The answer will arrive
// on the returned channel unless the id is forgotten first.
func (cc *clientConn) start(req *request) (chan response, error) {
	// Buffered so that the reader never blocks delivering the one answer.
	if len(req.NS) > MaxKeySize {
		return nil, fmt.Errorf("rendezvous: namespace of %d bytes, limit %d", len(req.NS), MaxKeySize)
	}
	ch := make(chan response, 1)
	cc.mu.Lock()
	if cc.cause != nil {
		err := cc.cause
		cc.mu.Unlock()
		return nil, err
	}
	req.ID = cc.nextID.Add(1)
	cc.pending[req.ID] = ch
	cc.mu.Unlock()
	if err := cc.send(req); err != nil {
		cc.forget(req.ID)
		return nil, err
	}
	return ch, nil
}

// forget drops the pending id; an answer that comes later is discarded.
func (cc *clientConn) forget(id uint64) {
	cc.mu.Lock()
	delete(cc.pending, id)
	cc.mu.Unlock()
}

// late returns an answer that raced the connection's end, or why it ended.
func (cc *clientConn) late(ch chan response) (response, error) {
	select {
	case resp := <-ch:
		return resp, nil
	default:
		return response{}, cc.err()
	}
}

// err returns why the connection ended.
func (cc *clientConn) err() error {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	return cc.cause
}

// fail ends the connection for cause, unless it already ended.
func (cc *clientConn) fail(cause error) {
	cc.mu.Lock()
	if cc.cause == nil {
		cc.cause = cause
	}
	cc.mu.Unlock()
	cc.conn.Close()
}

// send writes req as one frame. A write error ends the connection, since part
// of the frame may have gone out.
func (cc *clientConn) send(req *request) error {
	cc.sendMu.Lock()
	defer cc.sendMu.Unlock()
	if err := encodeRequest(cc.fw.Begin(), req); err != nil {
		return err
	}
	b, err := cc.fw.Finish(MaxFrameSize)
	if err != nil {
		return err
	}
	if _, err := cc.conn.Write(b); err != nil {
		cc.fail(fmt.Errorf("rendezvous: connection lost: %w", err))
		return cc.err()
	}
	return nil
}

// readLoop delivers answers to their callers until the connection ends.
func (cc *clientConn) readLoop() {
	defer close(cc.done)
	fr := newFrameReader()
	dec := newDecoder()
	for {
		b, err := fr.Read(cc.conn, MaxFrameSize)
		if err == nil {
			var resp response
			if resp, err = dec.response(b); err == nil {
				cc.mu.Lock()
				ch := cc.pending[resp.ID]
				delete(cc.pending, resp.ID)
				cc.mu.Unlock()
				if ch != nil {
					ch <- resp
				}
				continue
			}
			err = fmt.Errorf("malformed response: %w", err)
		}
		cc.fail(fmt.Errorf("rendezvous: connection lost: %w", err))
		return
	}
}

// numPending returns the number of calls awaiting an answer (for tests).
func (cc *clientConn) numPending() int {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	return len(cc.pending)
}
