package collective

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kizuna-hpc/kizuna/collective/schedule"
	"github.com/kizuna-hpc/kizuna/collective/topo"
	"github.com/kizuna-hpc/kizuna/internal/cpus"
	"github.com/kizuna-hpc/kizuna/rendezvous"
	"github.com/kizuna-hpc/kizuna/transport"
	"github.com/kizuna-hpc/kizuna/transport/tcp"
)

// Comm is a communicator: size ranks, of which this one is Rank.
//
// Collective operations on one Comm must be called in the same order on
// every rank (as with MPI and NCCL). Calls from several goroutines are
// serialised, but their order is then unspecified, so a program that wants
// several streams of collectives should use one Comm per stream. Send and
// Recv may be called concurrently with each other and with collectives.
//
// An operation that fails part-way (peer lost, mismatch, timeout, context
// cancelled) breaks the communicator: every later operation fails at once
// with ErrBroken wrapping the first error, and every other rank is told, so
// that no rank waits for an answer that will never come. Local misuse
// (ErrInvalid) is reported before any communication and breaks nothing.
type Comm struct {
	rank, size int
	id         uint32 // communicator id in frame headers (0 = world)
	ep         transport.Endpoint
	mux        *transport.Mux
	peers      []int // communicator rank -> endpoint rank
	log        *slog.Logger
	timeout    time.Duration
	chunkBytes int
	checksum   bool // payload CRC-32C on every data frame (checksum.go)
	algoSpec   *schedule.AlgoSpec
	costs      schedule.Costs
	oversub    bool // the host runs more ranks than it has processors (measured.go)

	store  *rendezvous.Server // served by rank 0 unless external
	client *rendezvous.Client

	mu      sync.Mutex // serialises collective calls; guards the executor state below
	seq     uint64
	cur     call // the call being executed
	exec    executor
	scheds  map[schedule.Params]*plan
	choices map[choiceKey]schedule.Algo
	// lastPlan and lastChoice hold the latest entries of scheds and
	// choices: a program mostly repeats one operation, and a comparison
	// costs less than a map lookup (docs/performance.md).
	lastPlan   last[schedule.Params, *plan]
	lastChoice last[choiceKey, schedule.Algo]
	layout     *schedule.Layout // where ranks sit on the topology; nil for none
	netCost    *topo.Chooser    // prices algorithms under the topology's routing (layout.go); nil for none

	// The operation timeout is one reusable timer (a context per call
	// would allocate): when it fires while operation armed has run for
	// the timeout, it fails the communicator's pending receives with a
	// timeoutError. An operation does not set the timer: it records when
	// it started (armedAt), and a timer that fires early for it (it was
	// set for an earlier operation) is set again for the rest of the
	// time, so that back-to-back operations do not each pay to set and
	// stop a timer (docs/performance.md). The timer stops itself once
	// it fires with no operation running.
	timer   *time.Timer
	timerMu sync.Mutex // guards armed, armedAt, ticking, stopped
	armed   uint64
	armedAt int64 // nowNano when operation armed started
	ticking bool  // the timer is set
	stopped bool  // Close stopped the timer for good

	// life ends (with its cause) when the communicator times out, is
	// aborted or closed; blocked sends watch it through opctx, which
	// combines it with the caller's context without allocating.
	life  context.Context
	kill  context.CancelCauseFunc
	opctx opContext // guarded by mu

	p2pMu   sync.Mutex // guards sendSeq/recvSeq
	sendSeq map[p2pKey]uint64
	recvSeq map[p2pKey]uint64

	errMu   sync.Mutex    // guards broken, failure, noticed
	broken  error         // first failure, nil while healthy
	failure *RemoteError  // the failure announced to, or by, the other ranks
	noticed chan struct{} // closed when failure is set; made by awaitNotice

	bg sync.WaitGroup // announcements started from transport goroutines

	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error

	obs *observer // flight recorder, metrics, timeline (flight.go)

	grp group      // split tree and notice routing (group.go)
	aq  asyncQueue // asynchronous operations (async.go)
	vc  vcache     // per-rank-count schedules (vcoll.go); guarded by mu
}

type choiceKey struct {
	coll  schedule.Coll
	bytes int64
}

type p2pKey struct {
	peer int
	tag  uint32
}

// Rank returns this process's rank in the communicator.
func (c *Comm) Rank() int { return c.rank }

// Size returns the number of ranks.
func (c *Comm) Size() int { return c.size }

// Transport names the transport in use: "inproc", "tcp", "shm", or "shm+tcp"
// when some peers are reached over shared memory and others over TCP.
func (c *Comm) Transport() string { return c.ep.Name() }

// New creates this rank's communicator from an explicit config: it serves or
// joins the rendezvous store at cfg.MasterAddr, publishes its listen address,
// learns everyone else's and connects to every peer. It returns when all
// links are up, or with an error naming the ranks still missing when ctx or
// cfg.Timeout ends. Every rank of the job must call it.
func New(ctx context.Context, cfg Config) (*Comm, error) {
	if err := validateConfig(&cfg); err != nil {
		return nil, err
	}
	if cfg.Transport == TransportInproc {
		return nil, fmt.Errorf("%w: transport %q needs goroutine ranks: use NewLocal or RunLocal", ErrInvalid, cfg.Transport)
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()

	var (
		store  *rendezvous.Server
		client *rendezvous.Client
		addrs  = make([]string, cfg.Size)
		hosts  = make([]string, cfg.Size)
		err    error
	)
	cleanup := func() {
		if client != nil {
			client.Close()
		}
		if store != nil {
			store.Close()
		}
	}
	l, err := tcp.Listen(tcp.Config{
		Rank: cfg.Rank, Size: cfg.Size, BindAddr: cfg.BindAddr,
		SocketsPerPeer: cfg.SocketsPerPeer, JobID: cfg.JobID, Token: cfg.Token, Logger: cfg.Logger,
		Heartbeat: cfg.Heartbeat, LocalRanks: max(0, cfg.LocalSize),
	})
	if err != nil {
		return nil, fmt.Errorf("collective: rank %d: listen: %w", cfg.Rank, err)
	}
	if cfg.Token == "" && cfg.Size > 1 && cfg.Rank == 0 { // one line per job
		cfg.Logger.Warn("no " + EnvToken + ": connections are not authenticated, so the job is open to anyone who can reach its ports; set " +
			EnvToken + " to the same secret on every rank (kizuna run does)")
	}
	logLaunch(&cfg)
	if cfg.Size > 1 {
		var joined func()
		store, client, joined, err = openRendezvous(ctx, &cfg) // launchers.go
		if err != nil {
			l.Close()
			return nil, fmt.Errorf("collective: rank %d: %w", cfg.Rank, err)
		}
		defer joined()
		members, err := rendezvous.Join(ctx, client, "comm/world/", cfg.Rank, cfg.Size,
			rendezvous.Member{Rank: cfg.Rank, Addr: l.Addr(), Host: publishedHost(&cfg)})
		if err != nil {
			l.Close()
			cleanup()
			return nil, fmt.Errorf("collective: rank %d: rendezvous: %w", cfg.Rank, err)
		}
		for i, m := range members {
			addrs[i], hosts[i] = m.Addr, m.Host
		}
	} else {
		addrs[0] = l.Addr()
	}
	ep, err := connectEndpoint(ctx, &cfg, l, addrs, hosts) // transport_select.go
	if err != nil {
		l.Close()
		cleanup()
		return nil, fmt.Errorf("collective: rank %d: connect: %w", cfg.Rank, err)
	}
	if ep, err = emulated(cfg.emulate, ep); err != nil { // emulate.go
		l.Close()
		cleanup()
		return nil, err
	}
	c, err := newComm(ep, cfg)
	if err != nil {
		ep.Close()
		cleanup()
		return nil, err
	}
	c.store, c.client = store, client
	if err := c.start(ctx, &cfg); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// measureCosts calibrates the cost model and logs the result.
func (c *Comm) measureCosts(ctx context.Context) error {
	k, err := c.Calibrate(ctx)
	if err != nil {
		return fmt.Errorf("collective: rank %d: measure costs: %w", c.rank, err)
	}
	c.SetCosts(k)
	c.log.Info("measured cost model", EnvCosts, FormatCosts(k))
	return nil
}

// NewFromEnv creates the communicator described by the environment (see
// ConfigFromEnv).
func NewFromEnv(ctx context.Context) (*Comm, error) {
	cfg, err := ConfigFromEnv()
	if err != nil {
		return nil, err
	}
	return New(ctx, cfg)
}

func validateConfig(cfg *Config) error {
	if cfg.Size < 1 {
		return fmt.Errorf("%w: world size %d, want at least 1", ErrInvalid, cfg.Size)
	}
	if cfg.Rank < 0 || cfg.Rank >= cfg.Size {
		return fmt.Errorf("%w: rank %d out of range for world size %d", ErrInvalid, cfg.Rank, cfg.Size)
	}
	switch cfg.Transport {
	case "":
		cfg.Transport = TransportAuto
	case TransportAuto, TransportTCP, TransportShm, TransportInproc:
	default:
		return fmt.Errorf("%w: unknown transport %q (want auto, tcp, shm or inproc)", ErrInvalid, cfg.Transport)
	}
	if cfg.Size > 1 && cfg.MasterAddr == "" && cfg.Transport != TransportInproc {
		return fmt.Errorf("%w: no rendezvous address: set %s=host:port (or Config.MasterAddr)", ErrInvalid, EnvMasterAddr)
	}
	if cfg.JobID == "" {
		cfg.JobID = "default"
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.ChunkBytes <= 0 {
		cfg.ChunkBytes = DefaultChunkBytes
	}
	if cfg.Logger == nil {
		cfg.Logger = loggerFromEnv()
	}
	if _, err := cpus.Host(); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if _, err := schedule.ParseAlgoSpec(cfg.Algo); err != nil {
		return fmt.Errorf("%w: algorithm spec %q: %v", ErrInvalid, cfg.Algo, err)
	}
	if _, err := parseChecksum(cfg.Checksum); err != nil {
		return err
	}
	return nil
}

// Built-in cost model parameters per transport: rounded medians of three
// runs of `KIZUNA_COSTS=measure kizuna bench -np 2 -e 8` (and with
// -transport inproc) on a 2-core x86-64 machine over loopback, which print
// what Calibrate measured. KIZUNA_COSTS overrides them; KIZUNA_COSTS=measure
// measures them on the machine at hand.
var defaultCosts = map[string]schedule.Costs{
	TransportTCP:    tcpCosts,
	TransportInproc: {Alpha: 1.5e-6, Beta: 0.07e-9, Gamma: 0.08e-9},
	TransportShm:    {Alpha: 6.5e-6, Beta: 0.09e-9, Gamma: 0.025e-9}, // KIZUNA_TRANSPORT=shm, after the SIMD kernels
	"shm+tcp":       tcpCosts,                                        // the slower medium bounds a ring
}

var tcpCosts = schedule.Costs{Alpha: 25e-6, Beta: 0.3e-9, Gamma: 0.1e-9}

// newComm wraps a connected endpoint. cfg must be validated.
func newComm(ep transport.Endpoint, cfg Config) (*Comm, error) {
	hostCPUs, err := cpus.Host()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	spec, _ := schedule.ParseAlgoSpec(cfg.Algo)
	costs := defaultCosts[ep.Name()]
	if cfg.Costs.Alpha > 0 {
		costs.Alpha = cfg.Costs.Alpha
	}
	if cfg.Costs.Beta > 0 {
		costs.Beta = cfg.Costs.Beta
	}
	if cfg.Costs.Gamma > 0 {
		costs.Gamma = cfg.Costs.Gamma
	}
	c := &Comm{
		rank:       ep.Rank(),
		size:       ep.Size(),
		ep:         ep,
		mux:        ep.Mux(),
		log:        cfg.Logger.With("rank", ep.Rank()),
		timeout:    cfg.Timeout,
		chunkBytes: cfg.ChunkBytes,
		algoSpec:   spec,
		costs:      costs,
		oversub:    oversubscribed(cfg.LocalSize, hostCPUs), // measured.go
		scheds:     make(map[schedule.Params]*plan),
		choices:    make(map[choiceKey]schedule.Algo),
		sendSeq:    make(map[p2pKey]uint64),
		recvSeq:    make(map[p2pKey]uint64),
	}
	if _, err := readTopoConfig(&cfg); err != nil { // fail early; start builds the layout
		return nil, err
	}
	if c.checksum, err = parseChecksum(cfg.Checksum); err != nil {
		return nil, err
	}
	c.peers = make([]int, c.size)
	for i := range c.peers {
		c.peers[i] = i
	}
	c.life, c.kill = context.WithCancelCause(context.Background())
	c.timer = time.AfterFunc(time.Hour, c.onTimeout)
	c.timer.Stop()
	c.register()
	if err := c.observe(&cfg); err != nil { // flight.go
		return nil, err
	}
	return c, nil
}

// commRank maps an endpoint rank to this communicator's numbering (-1 if
// not a member).
func (c *Comm) commRank(epRank int) int {
	if epRank >= 0 && epRank < len(c.peers) && c.peers[epRank] == epRank {
		return epRank
	}
	for i, p := range c.peers {
		if p == epRank {
			return i
		}
	}
	return -1
}

// Close releases the communicator: pending operations (asynchronous ones
// included) fail with ErrClosed, communicators split from it are closed,
// every link is closed and every goroutine the communicator started has
// stopped when Close returns. Closing a split communicator leaves its
// parent and the links open. Close is safe to call more than once and from
// any goroutine.
func (c *Comm) Close() error {
	c.closeOnce.Do(func() {
		c.closeChildren()
		c.errMu.Lock()
		c.closed.Store(true)
		c.errMu.Unlock()
		c.stopTimer()
		c.kill(ErrClosed)
		c.setBroken(ErrClosed)
		// A communicator broken by a failure tells every peer once more
		// before its links close: a peer then reads the cause before this
		// rank's end of stream, and blames the right rank.
		if re := c.failureNotice(); re != nil {
			c.announce(re)
		}
		obsErr := c.obs.close() // signal watcher, metrics server, timeline file
		if c.grp.parent != nil {
			c.closeSub()
			return
		}
		c.mux.Fail(ErrClosed)
		c.closeQueue()
		var errs []error
		if err := c.ep.Close(); err != nil {
			errs = append(errs, err)
		}
		c.bg.Wait()
		if c.client != nil {
			c.client.Close()
		}
		if c.store != nil {
			if err := c.store.Close(); err != nil {
				errs = append(errs, err)
			}
		}
		c.closeErr = errors.Join(append(errs, obsErr)...)
	})
	return c.closeErr
}

// Abort fails every pending and later operation of the communicator at once,
// on this rank and (best effort) on every other rank, with ErrAborted, and
// aborts the communicators split from it. It may be called from any
// goroutine. Close must still be called.
func (c *Comm) Abort() {
	c.abortChildren()
	err := &RemoteError{Origin: c.rank, Lost: -1, Reason: "aborted", cause: ErrAborted}
	if c.setBroken(ErrAborted) {
		c.mux.FailComm(c.id, ErrAborted)
		c.kill(ErrAborted)
		c.announce(err)
	}
}

// noteFailure records the failure the ranks were told about (first wins).
func (c *Comm) noteFailure(re *RemoteError) {
	c.errMu.Lock()
	defer c.errMu.Unlock()
	if c.failure == nil {
		c.failure = re
		if c.noticed != nil {
			close(c.noticed)
		}
	}
}

func (c *Comm) failureNotice() *RemoteError {
	c.errMu.Lock()
	defer c.errMu.Unlock()
	return c.failure
}

// Err returns the failure that broke the communicator, or nil.
func (c *Comm) Err() error {
	c.errMu.Lock()
	defer c.errMu.Unlock()
	return c.broken
}

// setBroken records the first failure; it reports whether err was the first.
func (c *Comm) setBroken(err error) bool {
	c.errMu.Lock()
	defer c.errMu.Unlock()
	if c.broken != nil {
		return false
	}
	c.broken = err
	return true
}

// announce tells every other rank that this communicator failed, so that
// ranks waiting on a third rank fail promptly instead of at the timeout.
func (c *Comm) announce(re *RemoteError) {
	kind := "other"
	switch {
	case errors.Is(re.cause, ErrMismatch):
		kind = "mismatch"
	case errors.Is(re.cause, ErrAborted):
		kind = "abort"
	case re.Lost >= 0:
		kind = "peer"
	}
	body, err := encodeControl(&controlMsg{Type: "abort", Comm: c.id, Origin: re.Origin, Lost: re.Lost, Kind: kind, Reason: re.Reason})
	if err != nil || len(body) > maxControl {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for i, p := range c.peers {
		if i == c.rank {
			continue
		}
		h := transport.Header{Kind: transport.KindControl, Comm: c.id}
		// A peer that is gone cannot be told; the others still are.
		_ = c.ep.Send(ctx, p, &h, body)
	}
}

// onControl runs on a transport goroutine for every control frame; it must
// not block.
func (c *Comm) onControl(h *transport.Header, payload []byte) {
	if len(payload) > maxControl {
		c.log.Warn("oversized control frame dropped", "from", h.Src, "bytes", len(payload))
		return
	}
	m, err := decodeControl(payload)
	if err != nil || m.Type != "abort" {
		c.log.Warn("malformed control frame dropped", "from", h.Src)
		return
	}
	if m.Comm != c.id {
		return
	}
	re := remoteError(&m)
	c.noteFailure(re)
	if c.setBroken(re) {
		c.mux.FailComm(c.id, re)
		// Pass the notice on once: the origin may have lost its link to
		// some members (a dropped connection, a failed agreement in
		// Shrink), and they must not wait for it either.
		c.errMu.Lock()
		defer c.errMu.Unlock()
		if !c.closed.Load() {
			c.bg.Add(1)
			go func() {
				defer c.bg.Done()
				c.announce(re)
			}()
		}
	}
}

// onMismatch runs on a transport goroutine when a frame's descriptor differs
// from the operation this rank is running.
func (c *Comm) onMismatch(me *transport.MismatchError) {
	err := c.mismatchError(me)
	if c.setBroken(err) {
		c.mux.FailComm(c.id, err)
		re := &RemoteError{Origin: c.rank, Lost: -1, Reason: err.Error(), cause: ErrMismatch}
		c.noteFailure(re) // Close tells the peers again before its links close
		c.errMu.Lock()
		defer c.errMu.Unlock()
		if !c.closed.Load() {
			c.bg.Add(1)
			go func() {
				defer c.bg.Done()
				c.announce(re)
			}()
		}
	}
}

func (c *Comm) mismatchError(me *transport.MismatchError) *MismatchError {
	return &MismatchError{
		Seq:       me.Local.Seq,
		Rank:      c.rank,
		Call:      describe(&me.Local),
		Other:     c.commRank(int(me.Remote.Src)),
		OtherCall: describe(&me.Remote),
	}
}

// timeoutError is what an operation that outlived Config.Timeout fails
// with; errors.Is(err, context.DeadlineExceeded) is true.
type timeoutError struct{ d time.Duration }

func (e *timeoutError) Error() string {
	return fmt.Sprintf("timed out after %v (%s)", e.d, EnvTimeout)
}

func (e *timeoutError) Is(target error) bool { return target == context.DeadlineExceeded }

// armTimer records that operation seq started at now (nowNano).
func (c *Comm) armTimer(seq uint64, now int64) {
	c.timerMu.Lock()
	c.armed, c.armedAt = seq, now
	if !c.ticking && !c.stopped {
		c.ticking = true
		c.timer.Reset(c.timeout)
	}
	c.timerMu.Unlock()
}

func (c *Comm) disarmTimer() {
	c.timerMu.Lock()
	c.armed = 0
	c.timerMu.Unlock()
}

// stopTimer stops the timer for good (Close).
func (c *Comm) stopTimer() {
	c.timerMu.Lock()
	c.stopped, c.ticking = true, false
	c.timer.Stop()
	c.timerMu.Unlock()
}

// onTimeout runs on the timer's goroutine.
func (c *Comm) onTimeout() {
	c.timerMu.Lock()
	defer c.timerMu.Unlock()
	if c.armed == 0 || c.stopped {
		c.ticking = false
		return
	}
	if left := c.timeout - time.Duration(nowNano()-c.armedAt); left > 0 {
		c.timer.Reset(left) // set for an earlier operation
		return
	}
	c.ticking = false
	c.obs.timedOut() // flight record, while the operation still shows whom it waits for
	err := &timeoutError{c.timeout}
	c.mux.FailComm(c.id, err)
	c.kill(err)
}

// opContext is the context an operation's sends and receives run under:
// the caller's, and also ended when the communicator's life ends (timeout,
// Abort, Close). One lives in the Comm and is reused, so an operation
// allocates no context of its own.
type opContext struct {
	context.Context                 // the caller's
	life            context.Context // Comm.life
}

func (o *opContext) Done() <-chan struct{} {
	if d := o.Context.Done(); d != nil {
		return d // the communicator's end reaches receives through Mux.FailComm
	}
	return o.life.Done()
}

func (o *opContext) Err() error {
	if err := o.Context.Err(); err != nil {
		return err
	}
	if o.life.Err() != nil {
		return context.Cause(o.life)
	}
	return nil
}
