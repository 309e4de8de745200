package rendezvous

import (
	"bytes"
	"fmt"
	"strconv"
	"sync"
)

// AbortKey is the key Abort sets in a namespace, holding the reason. While it
// exists every Wait in the namespace fails with *AbortError, whichever
// operation created it; deleting it lifts the abort.
const AbortKey = "kizuna/abort"

// Bounds on what one connection may leave pending on the server.
const (
	maxWaitsPerConn     = 1 << 12
	maxWaitBytesPerConn = 64 << 20 // key bytes held by a connection's pending waits
	// waitKeyOverhead is charged per key on top of its length (string header).
	waitKeyOverhead = 16
)

// store is the server's key-value state and its pending waits. It does no
// I/O: answers to pending waits are posted to their connection's writer,
// which never blocks. All methods are safe for concurrent use.
type store struct {
	mu     sync.Mutex
	closed bool              // guarded by mu; set by closeAll
	spaces map[string]*space // guarded by mu; by namespace
}

// space is one namespace. A space with neither keys nor waiters is dropped.
type space struct {
	// kv holds the values. A stored value is never modified, only replaced,
	// so responses may share it.
	kv map[string][]byte
	// watch holds the pending waits, each under the one key it waits for
	// next (keys[next]).
	watch map[string]map[*waiter]struct{}
}

// waiter is a Wait the server holds until its keys exist.
type waiter struct {
	conn *serverConn
	id   uint64
	ns   string
	keys []string
	next int // keys[:next] have been seen to exist
	cost int // charged to conn.waitBytes
}

func newStore() *store {
	return &store{spaces: make(map[string]*space)}
}

// space returns namespace ns, creating it when create is set (nil otherwise).
func (s *store) space(ns string, create bool) *space {
	sp := s.spaces[ns]
	if sp == nil && create {
		sp = &space{kv: make(map[string][]byte), watch: make(map[string]map[*waiter]struct{})}
		s.spaces[ns] = sp
	}
	return sp
}

// gc drops namespace ns when it holds nothing.
func (s *store) gc(ns string, sp *space) {
	if sp != nil && len(sp.kv) == 0 && len(sp.watch) == 0 {
		delete(s.spaces, ns)
	}
}

// handle applies r, sent on c, and returns its response. reply is false when
// the answer comes later through c.post (a pending Wait) or never (a cancel).
func (s *store) handle(c *serverConn, r *request) (resp response, reply bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	resp = response{ID: r.ID}
	switch r.Op {
	case opSet:
		s.set(s.space(r.NS, true), r.Keys[0], r.Value)
	case opGet:
		v, ok := s.space(r.NS, false).get(r.Keys[0])
		if !ok {
			resp.Status = statusNotFound
		}
		resp.Value = v
	case opGetMany:
		sp := s.space(r.NS, false)
		resp.Values = make([][]byte, len(r.Keys))
		total := 0
		for i, k := range r.Keys {
			resp.Values[i], _ = sp.get(k)
			total += len(resp.Values[i]) + 8 // 8: the largest per-value overhead, rounded up
		}
		if total > MaxFrameSize-64<<10 {
			return errorResponse(r.ID, "values of %d keys total %d bytes, more than one response carries", len(r.Keys), total), true
		}
	case opAdd:
		return s.add(r), true
	case opCAS:
		sp := s.space(r.NS, true)
		cur, ok := sp.kv[r.Keys[0]]
		if ok == (r.Old != nil) && bytes.Equal(cur, r.Old) {
			s.set(sp, r.Keys[0], r.Value)
			resp.Swapped, resp.Value = true, r.Value
		} else {
			resp.Value = cur
			s.gc(r.NS, sp)
		}
	case opDelete:
		if sp := s.space(r.NS, false); sp != nil {
			delete(sp.kv, r.Keys[0])
			s.gc(r.NS, sp)
		}
	case opAbort:
		sp := s.space(r.NS, true)
		if _, ok := sp.kv[AbortKey]; !ok { // the first reason is the one to report
			s.set(sp, AbortKey, r.Value)
		}
	case opWait:
		return s.wait(c, r)
	case opCancel:
		s.cancel(c, r.ID)
		return response{}, false
	default:
		return errorResponse(r.ID, "unknown op %v", r.Op), true
	}
	return resp, true
}

func errorResponse(id uint64, format string, args ...any) response {
	return response{ID: id, Status: statusError, Msg: fmt.Sprintf(format, args...)}
}

func (sp *space) get(key string) ([]byte, bool) {
	if sp == nil {
		return nil, false
	}
	v, ok := sp.kv[key]
	return v, ok
}

// set stores v (nil stored as empty) under key and wakes what waits for it.
func (s *store) set(sp *space, key string, v []byte) {
	if v == nil {
		v = []byte{}
	}
	_, existed := sp.kv[key]
	sp.kv[key] = v
	if existed {
		return // nothing waits for a key that exists
	}
	if key == AbortKey {
		s.finishAll(sp, response{Status: statusAborted, Value: v})
		return
	}
	ws := sp.watch[key]
	delete(sp.watch, key)
	for w := range ws {
		if sp.scan(w) {
			s.finish(w, response{ID: w.id})
		} else {
			sp.watchNext(w)
		}
	}
}

func (s *store) add(r *request) response {
	key := r.Keys[0]
	sp := s.space(r.NS, true)
	var n int64
	if cur, ok := sp.kv[key]; ok {
		var err error
		if n, err = strconv.ParseInt(string(cur), 10, 64); err != nil {
			return errorResponse(r.ID, "add to key %q: its value is not a decimal integer", key)
		}
	}
	sum := n + r.Delta
	if (r.Delta > 0 && sum < n) || (r.Delta < 0 && sum > n) {
		s.gc(r.NS, sp)
		return errorResponse(r.ID, "add %d to key %q holding %d: overflow", r.Delta, key, n)
	}
	s.set(sp, key, strconv.AppendInt(nil, sum, 10))
	return response{ID: r.ID, Num: sum}
}

// wait answers r now when its keys exist, the namespace is aborted or the
// store is closed; otherwise it registers a waiter and the answer comes later.
func (s *store) wait(c *serverConn, r *request) (response, bool) {
	if s.closed {
		return response{ID: r.ID, Status: statusClosed}, true
	}
	sp := s.space(r.NS, true)
	if reason, ok := sp.kv[AbortKey]; ok {
		return response{ID: r.ID, Status: statusAborted, Value: reason}, true
	}
	w := &waiter{conn: c, id: r.ID, ns: r.NS, keys: r.Keys}
	if sp.scan(w) {
		s.gc(r.NS, sp)
		return response{ID: r.ID}, true
	}
	for _, k := range r.Keys {
		w.cost += len(k) + waitKeyOverhead
	}
	switch {
	case c.waits[r.ID] != nil:
		s.gc(r.NS, sp)
		return errorResponse(r.ID, "request id %d already names a pending wait", r.ID), true
	case len(c.waits) >= maxWaitsPerConn || c.waitBytes+w.cost > maxWaitBytesPerConn:
		s.gc(r.NS, sp)
		return errorResponse(r.ID, "too many pending waits on one connection (%d, %d key bytes)", len(c.waits), c.waitBytes), true
	}
	c.waits[r.ID] = w
	c.waitBytes += w.cost
	sp.watchNext(w)
	return response{}, false
}

// scan moves w past the keys that exist and reports whether none is left.
func (sp *space) scan(w *waiter) bool {
	for ; w.next < len(w.keys); w.next++ {
		if _, ok := sp.kv[w.keys[w.next]]; !ok {
			return false
		}
	}
	return true
}

// watchNext files w under the key it waits for next.
func (sp *space) watchNext(w *waiter) {
	k := w.keys[w.next]
	ws := sp.watch[k]
	if ws == nil {
		ws = make(map[*waiter]struct{})
		sp.watch[k] = ws
	}
	ws[w] = struct{}{}
}

// unwatch removes w from the key it waits for.
func (sp *space) unwatch(w *waiter) {
	k := w.keys[w.next]
	ws := sp.watch[k]
	delete(ws, w)
	if len(ws) == 0 {
		delete(sp.watch, k)
	}
}

// finish answers w, which is no longer filed under any key, with resp.
func (s *store) finish(w *waiter, resp response) {
	resp.ID = w.id
	delete(w.conn.waits, w.id)
	w.conn.waitBytes -= w.cost
	w.conn.post(resp)
}

// finishAll answers every waiter of sp with resp.
func (s *store) finishAll(sp *space, resp response) {
	for _, ws := range sp.watch {
		for w := range ws {
			s.finish(w, resp)
		}
	}
	clear(sp.watch)
}

// cancel answers c's pending wait id, if any, with the keys it still misses.
func (s *store) cancel(c *serverConn, id uint64) {
	w := c.waits[id]
	if w == nil {
		return // already answered
	}
	sp := s.spaces[w.ns]
	sp.unwatch(w)
	var missing []string
	seen := make(map[string]bool)
	for _, k := range w.keys[w.next:] {
		if _, ok := sp.kv[k]; !ok && !seen[k] {
			seen[k] = true
			missing = append(missing, k)
		}
	}
	s.finish(w, response{Status: statusCancelled, Keys: missing})
	s.gc(w.ns, sp)
}

// dropConn forgets c's pending waits, unanswered: c is going away.
func (s *store) dropConn(c *serverConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, w := range c.waits {
		sp := s.spaces[w.ns]
		sp.unwatch(w)
		s.gc(w.ns, sp)
	}
	clear(c.waits)
	c.waitBytes = 0
}

// closeAll answers every pending wait with statusClosed, and every later one.
func (s *store) closeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for ns, sp := range s.spaces {
		s.finishAll(sp, response{Status: statusClosed})
		s.gc(ns, sp)
	}
}

// numWaiters returns the number of pending waits (for tests).
func (s *store) numWaiters() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, sp := range s.spaces {
		for _, ws := range sp.watch {
			n += len(ws)
		}
	}
	return n
}
