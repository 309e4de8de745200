package shm

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kizuna-hpc/kizuna/internal/auth"
	"github.com/kizuna-hpc/kizuna/internal/cpus"
	"github.com/kizuna-hpc/kizuna/transport"
)

// Environment variables read when the corresponding Config field is zero.
const (
	EnvRingBytes = "KIZUNA_SHM_RING_BYTES" // ring size per direction, bytes (power of two)
	EnvDir       = "KIZUNA_SHM_DIR"        // directory of the segment files
	EnvHeartbeat = "KIZUNA_HEARTBEAT"      // failure detection interval (as the TCP transport's)
	EnvInline    = "KIZUNA_SHM_INLINE"     // inline reads (poll.go): "on" (default) or "off"
	EnvCopy      = "KIZUNA_SHM_COPY"       // copies into rings (copy.go): "auto" (default), "cached" or "nt"
)

// DefaultRingBytes is the ring size per direction when neither
// Config.RingBytes nor KIZUNA_SHM_RING_BYTES sets it, chosen by measurement
// (docs/performance.md, "Shared memory transport").
const DefaultRingBytes = 1 << 20

// DefaultDir is where segment files are created: a tmpfs on Linux.
const DefaultDir = "/dev/shm"

// Bounds on Config.RingBytes.
const (
	minRingBytes = 4 << 10
	maxRingBytes = 1 << 30
)

// Sentinel errors.
var (
	// ErrUnsupported reports a system without shared memory segments.
	ErrUnsupported = errors.New("shm: shared memory is not supported on this system")
	// ErrAuthFailed reports a segment whose other side does not hold this
	// rank's token.
	ErrAuthFailed = errors.New("shm: authentication failed: token mismatch — is KIZUNA_TOKEN the same on every rank?")
	// errPeerClosed is the failure of a peer that closed its end cleanly
	// (at a frame boundary).
	errPeerClosed = fmt.Errorf("shm: link closed: %w", transport.ErrPeerClosed)
)

// Config configures one rank's shared-memory links.
type Config struct {
	Rank, Size int
	// Peers are the ranks to link with, all on this host; every rank listed
	// must list this rank too. Rank itself must not be listed.
	Peers []int
	// IDs[i] is a string unique to rank i among the ranks running on this
	// host at the time (the collective package passes each rank's TCP listen
	// address); segment names derive from it. len(IDs) == Size.
	IDs []string
	// JobID and Token: segment names are an HMAC of the job id and the
	// receiver's id keyed with the token, and both sides of a segment prove
	// they hold the token. Every rank must use the same values.
	JobID, Token string
	// RingBytes is the ring size per direction, a power of two. Default
	// KIZUNA_SHM_RING_BYTES, else DefaultRingBytes. Every rank must use the
	// same value.
	RingBytes int
	// Dir is where segment files are created. Default KIZUNA_SHM_DIR, else
	// DefaultDir.
	Dir string
	// Heartbeat is the failure detection interval: a peer process seen
	// stopped (SIGSTOP, a tracer) for two intervals while this rank waits
	// on it is declared lost with transport.ErrSilent (an exited one is
	// lost at once). Shared memory needs no heartbeat frames: the waiting
	// side looks at the peer's process every WakeInterval. Default
	// KIZUNA_HEARTBEAT, else DefaultHeartbeat; negative (or
	// KIZUNA_HEARTBEAT=off) turns the check off.
	Heartbeat time.Duration
	// Inline says whether a receiver about to block reads its frame from
	// the ring itself (poll.go): "on", "off", or "" for KIZUNA_SHM_INLINE,
	// else on. Only an endpoint that links every other rank reads inline.
	Inline string
	// Copy says how the producer copies large pieces into a ring
	// (copy.go): CopyAuto (measure, per link), CopyCached (ordinary
	// stores) or CopyNT (non-temporal stores); "" for KIZUNA_SHM_COPY,
	// else CopyAuto. Each rank decides for its own outgoing rings.
	// Non-temporal stores exist on amd64 only: elsewhere every mode
	// copies with ordinary stores.
	Copy string
	// Logger receives warnings about lost links. Default slog.Default().
	Logger *slog.Logger
}

// DefaultHeartbeat is the failure detection interval when neither
// Config.Heartbeat nor KIZUNA_HEARTBEAT sets it, as over TCP.
const DefaultHeartbeat = 2 * time.Second

func resolve(cfg Config) (Config, error) {
	if cfg.Size < 1 || cfg.Rank < 0 || cfg.Rank >= cfg.Size {
		return cfg, fmt.Errorf("shm: rank %d out of range for size %d", cfg.Rank, cfg.Size)
	}
	if len(cfg.IDs) != cfg.Size {
		return cfg, fmt.Errorf("shm: %d ids for %d ranks", len(cfg.IDs), cfg.Size)
	}
	seen := make(map[int]bool, len(cfg.Peers))
	for _, p := range cfg.Peers {
		if p < 0 || p >= cfg.Size || p == cfg.Rank || seen[p] {
			return cfg, fmt.Errorf("shm: rank %d: invalid or repeated peer %d", cfg.Rank, p)
		}
		seen[p] = true
	}
	if cfg.RingBytes == 0 {
		cfg.RingBytes = DefaultRingBytes
		if v := os.Getenv(EnvRingBytes); v != "" {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				return cfg, fmt.Errorf("shm: %s=%q: %w", EnvRingBytes, v, err)
			}
			cfg.RingBytes = n
		}
	}
	if n := cfg.RingBytes; n < minRingBytes || n > maxRingBytes || n&(n-1) != 0 {
		return cfg, fmt.Errorf("shm: ring of %d bytes: want a power of two in [%d, %d]", n, minRingBytes, maxRingBytes)
	}
	if cfg.Dir == "" {
		cfg.Dir = os.Getenv(EnvDir)
	}
	if cfg.Dir == "" {
		cfg.Dir = DefaultDir
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Inline == "" {
		cfg.Inline = os.Getenv(EnvInline)
	}
	if cfg.Copy == "" {
		if v := os.Getenv(EnvCopy); v != "" {
			if checkCopy(v) != nil {
				return cfg, fmt.Errorf("shm: %s=%q: want auto, cached or nt", EnvCopy, v)
			}
			cfg.Copy = v
		}
	}
	if err := checkCopy(cfg.Copy); err != nil {
		return cfg, err
	}
	switch cfg.Inline {
	case "", "on", "off":
	default:
		return cfg, fmt.Errorf("shm: inline reads %q: want on, off, or empty (auto)", cfg.Inline)
	}
	if cfg.Heartbeat == 0 {
		cfg.Heartbeat = DefaultHeartbeat
		switch v := os.Getenv(EnvHeartbeat); v {
		case "":
		case "off", "0":
			cfg.Heartbeat = -1
		default:
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				return cfg, fmt.Errorf("shm: %s=%q: want a positive duration such as 2s, or off", EnvHeartbeat, v)
			}
			cfg.Heartbeat = d
		}
	}
	return cfg, nil
}

// authContext opens every proof's transcript and names.
const authContext = "kizuna shm v1"

// segPath is the file of the ring from src to dst, created by dst.
func segPath(cfg *Config, src, dst int) string {
	t := auth.NewTranscript(authContext, "name")
	t.FieldString(cfg.JobID)
	t.FieldString(cfg.IDs[dst])
	nonce := hex.EncodeToString(t.Proof(cfg.Token)[:12])
	return filepath.Join(cfg.Dir, fmt.Sprintf("kizuna-%s-%s-%d-%d", safeJob(cfg.JobID), nonce, src, dst))
}

// safeJob keeps the job id readable in segment names: letters, digits, '.',
// '_' and '-', at most 32 bytes.
func safeJob(job string) string {
	b := []byte(job)
	if len(b) > 32 {
		b = b[:32]
	}
	for i, c := range b {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			b[i] = '_'
		}
	}
	return string(b)
}

// segProof is the proof written by one side (role) of the segment at path
// about its process (pid and start time).
func segProof(cfg *Config, role, path string, src, dst int, pid int, born uint64) []byte {
	t := auth.NewTranscript(authContext, role)
	t.FieldString(cfg.JobID)
	t.FieldString(filepath.Base(path))
	t.Uint64(uint64(src))
	t.Uint64(uint64(dst))
	t.Uint64(uint64(pid))
	t.Uint64(born)
	return t.Proof(cfg.Token)
}

// Prepared holds the incoming rings a rank created, between Prepare and
// Connect.
type Prepared struct {
	cfg Config
	in  []*segment // [peer]; created by this rank
	// dedicated: every rank of this host (Peers and this one) has a
	// processor of its own (cpus.Host), so waits do not sched_yield.
	dedicated bool

	mu   sync.Mutex
	used bool // Connect was called or Close
}

// Prepare creates this rank's incoming rings, one per peer, so that the
// peers can open them in Connect. The caller must call Connect or Close.
func Prepare(cfg Config) (*Prepared, error) {
	rc, err := resolve(cfg)
	if err != nil {
		return nil, err
	}
	host, err := cpus.Host()
	if err != nil {
		return nil, fmt.Errorf("shm: %w", err)
	}
	p := &Prepared{cfg: rc, in: make([]*segment, rc.Size), dedicated: cpus.Dedicated(len(rc.Peers)+1, host)}
	pid, born := os.Getpid(), selfStart()
	for _, peer := range rc.Peers {
		path := segPath(&rc, peer, rc.Rank)
		s, err := createSegment(path, rc.RingBytes)
		if err != nil {
			p.release()
			return nil, fmt.Errorf("shm: rank %d: ring from rank %d: %w", rc.Rank, peer, err)
		}
		u64(s.mem, offRingSize).Store(uint64(rc.RingBytes))
		s.creatorPid.Store(uint64(pid))
		s.creatorBorn.Store(born)
		copy(s.creatorMAC, segProof(&rc, "creator", path, peer, rc.Rank, pid, born))
		s.magic.Store(segMagic) // last: the page is ready
		p.in[peer] = s
	}
	return p, nil
}

// Close releases what Prepare created if Connect was not called. It is safe
// to call more than once, and after Connect (then it does nothing).
func (p *Prepared) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.used {
		p.used = true
		p.release()
	}
	return nil
}

func (p *Prepared) release() {
	for _, s := range p.in {
		if s != nil {
			s.unlink()
			s.unmap()
		}
	}
}

// Connect opens the rings this rank writes to (created by its peers' Prepare),
// checks that every peer holds the token, removes the segment files, and
// returns the endpoint, which delivers every frame into mux (shared with
// other transports, if any). It returns when every link is up, or with an error naming the ranks
// still missing when ctx ends. Either way, no segment file this rank
// created or opened is left named.
func (p *Prepared) Connect(ctx context.Context, mux *transport.Mux) (*Endpoint, error) {
	p.mu.Lock()
	if p.used {
		p.mu.Unlock()
		return nil, errors.New("shm: connect: already connected or closed")
	}
	p.used = true
	p.mu.Unlock()
	cfg := &p.cfg
	if mux.Rank() != cfg.Rank || mux.Size() != cfg.Size {
		p.release()
		return nil, fmt.Errorf("shm: connect: mux of rank %d of %d for rank %d of %d", mux.Rank(), mux.Size(), cfg.Rank, cfg.Size)
	}
	e := &Endpoint{rank: cfg.Rank, size: cfg.Size, mux: mux, peers: make([]*link, cfg.Size), log: cfg.Logger, heartbeat: cfg.Heartbeat,
		yield: !p.dedicated, oneP: runtime.GOMAXPROCS(0) == 1}
	out := make([]*segment, cfg.Size)
	fail := func(err error) (*Endpoint, error) {
		for _, s := range out {
			if s != nil {
				s.unmap()
			}
		}
		p.release()
		return nil, err
	}
	pid, born := os.Getpid(), selfStart()
	// Open the rings to every peer, then wait for every peer to open ours.
	for _, peer := range cfg.Peers {
		s, err := openRing(ctx, cfg, peer, pid, born)
		if err != nil {
			return fail(p.connectError(out, err))
		}
		out[peer] = s
	}
	for _, peer := range cfg.Peers {
		if err := awaitAttach(ctx, cfg, p.in[peer], peer); err != nil {
			return fail(p.connectError(out, err))
		}
	}
	for _, peer := range cfg.Peers {
		in := p.in[peer]
		in.unlink() // the opener did; make sure
		l := &link{
			e:    e,
			rank: peer,
			pid:  int(in.openerPid.Load()),
			born: in.openerBorn.Load(),
			out:  out[peer],
			in:   in,
		}
		l.proc = newProcPath(l.pid)
		l.prod = producer{seg: l.out, head: l.out.head.Load(), tail: l.out.tail.Load(), w: waiter{b: l.out.prodBell, yield: e.yield}, c: newCopier(cfg.Copy)}
		l.cons = consumer{seg: in, tail: in.tail.Load(), head: in.tail.Load(), w: waiter{b: in.consBell, yield: e.yield}}
		l.loopW = waiter{b: in.consBell, yield: e.yield}
		if e.oneP {
			l.loopW.quiet = &e.polling
		}
		l.prd = payloadReader{l: l, check: l.recvCheck}
		e.peers[peer] = l
	}
	for _, l := range e.peers {
		if l != nil {
			e.readers.Add(1)
			go e.readLoop(l)
		}
	}
	if len(cfg.Peers) == cfg.Size-1 && inlineReads(cfg.Inline) {
		mux.SetPoller(e.poll) // the Mux is this endpoint's alone
	}
	return e, nil
}

// connectError names the ranks whose links are not up. A peer with another
// token or job id looks for other segment names, so it looks absent.
func (p *Prepared) connectError(out []*segment, err error) error {
	var missing []int
	for _, q := range p.cfg.Peers {
		if out[q] == nil || p.in[q].attached.Load() == 0 {
			missing = append(missing, q)
		}
	}
	hint := ""
	if !errors.Is(err, ErrAuthFailed) {
		hint = " (not started, or another job id, token or ring size)"
	}
	return fmt.Errorf("shm: rank %d: connect: no link with ranks %v%s: %w", p.cfg.Rank, missing, hint, err)
}

// openRing opens the ring from this rank to peer, retrying until the peer
// has created it or ctx ends, checks the peer's proof, writes this rank's
// proof and removes the file's name.
func openRing(ctx context.Context, cfg *Config, peer, pid int, born uint64) (*segment, error) {
	path := segPath(cfg, cfg.Rank, peer)
	backoff := 100 * time.Microsecond
	for {
		s, err := openSegment(path, cfg.RingBytes)
		if err == nil {
			cpid, cborn := int(s.creatorPid.Load()), s.creatorBorn.Load()
			if !auth.Equal(s.creatorMAC, segProof(cfg, "creator", path, cfg.Rank, peer, cpid, cborn)) {
				s.unmap()
				return nil, ErrAuthFailed
			}
			copy(s.openerMAC, segProof(cfg, "opener", path, cfg.Rank, peer, pid, born))
			s.openerPid.Store(uint64(pid))
			s.openerBorn.Store(born)
			s.attached.Store(1)
			s.unlink() // both sides have it mapped now
			return s, nil
		}
		if !errors.Is(err, errNotReady) {
			return nil, err
		}
		if err := sleepCtx(ctx, backoff); err != nil {
			return nil, err
		}
		backoff = min(2*backoff, 10*time.Millisecond)
	}
}

// awaitAttach waits until peer has opened the ring s and checks its proof.
func awaitAttach(ctx context.Context, cfg *Config, s *segment, peer int) error {
	backoff := 100 * time.Microsecond
	for s.attached.Load() == 0 {
		if err := sleepCtx(ctx, backoff); err != nil {
			return err
		}
		backoff = min(2*backoff, 10*time.Millisecond)
	}
	opid, oborn := int(s.openerPid.Load()), s.openerBorn.Load()
	if !auth.Equal(s.openerMAC, segProof(cfg, "opener", s.path, peer, cfg.Rank, opid, oborn)) {
		return ErrAuthFailed
	}
	return nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-t.C:
		return nil
	}
}

// Endpoint is one rank's set of shared-memory links. It implements
// transport.Endpoint for the peers it links with; Send to any other rank is
// an error. Its methods are safe for concurrent use.
type Endpoint struct {
	rank, size int
	mux        *transport.Mux
	peers      []*link // nil where there is no link
	log        *slog.Logger
	heartbeat  time.Duration // Config.Heartbeat; <= 0: no stopped-peer check
	// yield: waits give the processor to other threads (sched_yield)
	// between looks, for ranks that share processors; with one each, a
	// yield only hands the core to this process's own runtime threads
	// (sysmon wakes every 20-90 us for milliseconds after a start or an
	// idle spell), so a rank that has one to itself spins (ring.go).
	yield bool

	inlined atomic.Uint64 // frames delivered by inline readers (poll.go)
	polling atomic.Int32  // receivers reading inline now, on any link (poll.go)
	// oneP: GOMAXPROCS was 1 at Connect, as the launcher sets it for
	// ranks that share processors: a receiver reading inline and this
	// process's reader goroutines then take turns on one thread, and the
	// readers leave the yielding to other processes to the receiver
	// (waiter.quiet).
	oneP      bool
	closed    atomic.Bool // Close was called: sends fail, frames read are dropped
	stop      atomic.Bool // Close's linger is over: readers stop
	closeOnce sync.Once
	readers   sync.WaitGroup // one reader goroutine per incoming ring
}

var _ transport.Endpoint = (*Endpoint)(nil)

// link is the pair of rings between this rank and one peer.
type link struct {
	e    *Endpoint
	rank int
	pid  int      // the peer's process
	born uint64   // and its start time (0: unknown)
	proc procPath // how procStatus finds it, built once
	out  *segment
	in   *segment

	mu       sync.Mutex // serialises frames written to out
	prod     producer   // guarded by mu
	hdr      [transport.HeaderSize]byte
	released bool // out is unmapped; guarded by mu

	// rmu is held by whoever reads frames from in: the reader goroutine,
	// or a receiver reading inline (poll.go). It guards the fields below.
	rmu    sync.Mutex
	cons   consumer
	rhb    [transport.HeaderSize]byte
	rh     transport.Header
	prd    payloadReader
	inGone bool // in is unmapped

	inline atomic.Int32 // receivers polling in now (poll.go)
	loopW  waiter       // the reader goroutine's sleeper while it waits for a frame (no rmu)

	failOnce sync.Once
	err      atomic.Pointer[error] // set once the link failed

	stoppedSince atomic.Int64 // unix nanoseconds when the peer was first seen stopped; 0: running
}

func (e *Endpoint) Rank() int           { return e.rank }
func (e *Endpoint) Size() int           { return e.size }
func (e *Endpoint) Name() string        { return "shm" }
func (e *Endpoint) Mux() *transport.Mux { return e.mux }

// Linked reports whether e has a link to peer.
func (e *Endpoint) Linked(peer int) bool {
	return peer >= 0 && peer < e.size && e.peers[peer] != nil
}

// Send writes the frame into the ring to peer: header and payload, copied in
// pieces of at most PublishBytes, waiting for room while the ring is full.
// Concurrent Sends to one peer are serialised, one lock per frame. It returns
// once the whole frame is in the ring and does not retain payload.
//
// ctx is checked before the frame and every WakeInterval while Send waits
// for room: when ctx has ended before any byte of the frame was written,
// Send returns its error in a *transport.PeerError and the link stays up;
// after, the frame is left partly written, so the link is failed too. A peer
// that closed its end or whose process exited fails the link.
func (e *Endpoint) Send(ctx context.Context, peer int, h *transport.Header, payload []byte) error {
	if peer < 0 || peer >= e.size || peer == e.rank {
		return fmt.Errorf("shm: send from rank %d: invalid peer %d", e.rank, peer)
	}
	l := e.peers[peer]
	if l == nil {
		return fmt.Errorf("shm: send from rank %d: no shared-memory link to rank %d", e.rank, peer)
	}
	if len(payload) > transport.MaxPayload {
		return fmt.Errorf("shm: send to rank %d: payload of %d bytes exceeds %d", peer, len(payload), transport.MaxPayload)
	}
	if e.closed.Load() {
		return &transport.PeerError{Peer: peer, Op: "send", Err: transport.ErrClosed}
	}
	if err := l.failure(); err != nil {
		return &transport.PeerError{Peer: peer, Op: "send", Err: err}
	}
	if ctx.Done() != nil {
		if err := ctx.Err(); err != nil {
			return &transport.PeerError{Peer: peer, Op: "send", Err: context.Cause(ctx)}
		}
	}
	h.Src = int32(e.rank)
	h.Len = uint32(len(payload))
	check := func(slow bool) error { return l.sendCheck(ctx, slow) }
	l.mu.Lock()
	if l.released {
		l.mu.Unlock()
		return &transport.PeerError{Peer: peer, Op: "send", Err: transport.ErrClosed}
	}
	h.MarshalTo(l.hdr[:])
	n, err := l.prod.write(l.hdr[:], len(payload) == 0, check)
	if err == nil && len(payload) > 0 {
		var k int
		k, err = l.prod.write(payload, true, check)
		n += k
	}
	if err != nil {
		if e.closed.Load() {
			err = transport.ErrClosed
		}
		// Nothing written: the link is intact. Otherwise the frame is cut
		// short and the link fails (under mu, while the rings are mapped).
		if n > 0 || ctx.Err() == nil || l.failure() != nil {
			e.fail(l, err)
			err = l.failure()
		}
	}
	l.mu.Unlock()
	if err != nil {
		return &transport.PeerError{Peer: peer, Op: "send", Err: err}
	}
	return nil
}

// sendCheck ends a wait for room in the ring to l's peer.
func (l *link) sendCheck(ctx context.Context, slow bool) error {
	if l.e.closed.Load() {
		return transport.ErrClosed
	}
	if err := l.failure(); err != nil {
		return err
	}
	if l.out.consClosed.Load() != 0 {
		return errPeerClosed
	}
	if slow {
		if err := l.peerGone(); err != nil {
			return err
		}
	}
	if ctx.Done() != nil {
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
	}
	return nil
}

// recvCheck ends a wait for data from l's peer: io.EOF once the peer has
// closed its end and everything it wrote has been read.
func (l *link) recvCheck(slow bool) error {
	if l.e.stop.Load() {
		return transport.ErrClosed
	}
	if err := l.failure(); err != nil {
		return err
	}
	if l.in.prodClosed.Load() != 0 && l.in.head.Load() == l.in.tail.Load() {
		return io.EOF // the producer stores its last head before closing
	}
	if slow {
		return l.peerGone()
	}
	return nil
}

// peerGone reports the peer's process having exited.
func (l *link) peerGone() error {
	if l.pid <= 0 {
		return nil
	}
	start, alive, stopped := procStatus(l.proc)
	if !alive || l.born != 0 && start != l.born {
		return fmt.Errorf("shm: process %d of rank %d exited", l.pid, l.rank)
	}
	if hb := l.e.heartbeat; hb > 0 {
		if !stopped {
			l.stoppedSince.Store(0)
			return nil
		}
		now := time.Now().UnixNano()
		if l.stoppedSince.CompareAndSwap(0, now) {
			return nil
		}
		if d := time.Duration(now - l.stoppedSince.Load()); d >= 2*hb {
			return fmt.Errorf("shm: process %d of rank %d stopped for %v (heartbeat interval %v): %w", l.pid, l.rank, d.Round(time.Millisecond), hb, transport.ErrSilent)
		}
	}
	return nil
}

func (l *link) failure() error {
	if ep := l.err.Load(); ep != nil {
		return *ep
	}
	return nil
}

// fail marks the link failed (first error wins), fails the receives from its
// peer, marks both rings closed from this side and wakes whoever sleeps on
// them. The first failure of a live link is logged. It touches the rings, so
// it is called by the reader goroutine (Close unmaps after it ends) or with
// l.mu held and the link not released.
func (e *Endpoint) fail(l *link, err error) {
	l.failOnce.Do(func() {
		l.err.Store(&err)
		if !e.closed.Load() && err != errPeerClosed {
			e.log.Warn("shm: lost link", "rank", e.rank, "peer", l.rank, "err", err)
		}
		e.mux.FailPeer(l.rank, err)
		l.out.prodClosed.Store(1)
		l.in.consClosed.Store(1)
		wake(l.out)
		wake(l.in)
	})
}

// wake wakes every sleeper on s, in either process.
func wake(s *segment) {
	s.consBell.ring(wakeAll)
	s.prodBell.ring(wakeAll)
}

// wakeAll is more than the sleepers one side of a ring can have (two on the
// consumer's: the reader goroutine and an inline reader).
const wakeAll = 4

// payloadReader is the stream DeliverFrom reads a payload from: the ring.
// A failed read fails the link before DeliverFrom can complete a receive
// with the error, so that once a receive has seen the failure, Send to the
// peer fails too.
type payloadReader struct {
	l     *link
	check checkFunc
}

func (r *payloadReader) Read(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	n, err := r.l.cons.read(b, r.check)
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF // within a frame
		}
		r.l.e.fail(r.l, err)
		return 0, err
	}
	return n, nil
}

// readLoop reads frames from l's incoming ring and delivers them to the Mux
// until the link fails or the endpoint is closed. It waits for data without
// l.rmu, so that a receiver may read inline meanwhile, and reads each frame
// holding it.
func (e *Endpoint) readLoop(l *link) {
	defer e.readers.Done()
	check := l.recvCheck
	for {
		err := awaitData(l, check)
		if err == nil && l.inline.Load() > 0 {
			// A receiver is polling this ring for its frame: leave
			// the frame to it (it gives up at once on another's).
			// With one P the receiver runs at this Gosched and gives
			// the processor to other processes itself; with more, it
			// may be a thread the kernel is not running, so yield.
			runtime.Gosched()
			if !e.oneP {
				e.yieldProc()
			}
			continue
		}
		if err == nil {
			l.rmu.Lock()
			if l.cons.peek(l.rhb[:1]) { // an inline reader may have taken it
				err = e.readFrame(l, &l.prd, l.rhb[:], &l.rh, check)
			}
			l.rmu.Unlock()
		}
		if err == nil {
			continue
		}
		if e.closed.Load() {
			return
		}
		if err == io.EOF {
			err = errPeerClosed
		}
		e.fail(l, err)
		return
	}
}

// awaitData waits until l's incoming ring holds data.
func awaitData(l *link, check checkFunc) error {
	s := l.in
	t := s.tail.Load()
	if s.head.Load() != t {
		return nil
	}
	_, err := await(s.head, t, s.consWait, &l.loopW, idleYield, check)
	return err
}

// readFrame reads and delivers one frame. It returns io.EOF only for a peer
// that closed at a frame boundary.
func (e *Endpoint) readFrame(l *link, prd *payloadReader, hb []byte, h *transport.Header, check checkFunc) error {
	start := l.cons.tail
	if err := l.cons.readFull(hb, check); err != nil {
		if err == io.EOF && l.cons.tail != start {
			err = io.ErrUnexpectedEOF
		}
		return err
	}
	if err := h.UnmarshalFrom(hb); err != nil {
		return err
	}
	if int(h.Src) != l.rank {
		return fmt.Errorf("%w: frame from rank %d names source rank %d", transport.ErrProtocol, l.rank, h.Src)
	}
	if h.Kind == transport.KindColl && h.Len > 0 {
		e.awaitPost(h.Key())
	}
	return e.mux.DeliverFrom(h, prd)
}

// postWait bounds how long a reader holds a collective frame in the ring
// waiting for its receive to be posted. A peer one step ahead sends the next
// step's frame while this rank still reduces the last one; waiting a little
// lets the payload go straight from the ring into the receive buffer (one
// copy) instead of through an unexpected buffer (two). Frames behind it in
// the ring wait too, so the bound is short.
const postWait = 200 * time.Microsecond

// yieldProc gives the processor away (osYield) if e.yield.
func (e *Endpoint) yieldProc() {
	if e.yield {
		osYield()
	}
}

// awaitPost waits, yielding, up to postWait for a receive for k to be
// posted, if this rank has started k's operation (otherwise the receive may
// be far off: the frame goes to the unexpected queue at once).
func (e *Endpoint) awaitPost(k transport.Key) {
	if posted, started := e.mux.Posted(k); posted || !started {
		return
	}
	for start := time.Now(); time.Since(start) < postWait; {
		runtime.Gosched()
		if posted, started := e.mux.Posted(k); posted || !started || e.closed.Load() {
			return
		}
		e.yieldProc()
	}
}

// closeLinger bounds how long Close keeps reading (and dropping) what peers
// still write, waiting for them to close their side, as a TCP endpoint
// lingers after half-closing its sockets: a peer that is blocked writing a
// frame to this rank, or about to, then finishes it and goes on to read the
// frames this rank sent before closing (such as a failure notice) instead of
// failing on the closed ring first.
const closeLinger = 2 * time.Second

// Close fails pending receives with transport.ErrClosed (it fails the Mux,
// which other transports sharing it see too) and marks every outgoing ring
// closed, so that peers read every frame already written and then fail this
// rank's link. It keeps draining the incoming rings until each peer has
// closed its side too, for at most closeLinger, then marks them closed,
// waits for the reader goroutines and unmaps the rings. It is safe to call
// more than once; later calls return at once.
func (e *Endpoint) Close() error {
	e.closeOnce.Do(func() {
		e.closed.Store(true)
		e.mux.Fail(transport.ErrClosed)
		for _, l := range e.peers {
			if l == nil {
				continue
			}
			l.out.prodClosed.Store(1)
			wake(l.out)
		}
		done := make(chan struct{})
		go func() {
			e.readers.Wait()
			close(done)
		}()
		t := time.NewTimer(closeLinger)
		select {
		case <-done:
		case <-t.C:
		}
		t.Stop()
		e.stop.Store(true)
		for _, l := range e.peers {
			if l == nil {
				continue
			}
			l.in.consClosed.Store(1)
			wake(l.in)
		}
		<-done
		for _, l := range e.peers {
			if l == nil {
				continue
			}
			l.rmu.Lock() // no inline read in progress, and none after
			l.inGone = true
			l.mu.Lock() // no write in progress, and none after
			l.released = true
			l.out.unmap()
			l.in.unmap()
			l.mu.Unlock()
			l.rmu.Unlock()
		}
	})
	return nil
}
