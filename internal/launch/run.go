package launch

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/kizuna-hpc/kizuna/rendezvous"
)

// DefaultGrace is how long ranks have between SIGTERM and SIGKILL when a
// job is stopped, unless Job.Grace says otherwise.
const DefaultGrace = 3 * time.Second

// Job describes a job: NP ranks of one program placed on hosts.
type Job struct {
	NP   int      // number of ranks
	Argv []string // program and arguments, the same for every rank
	// Env is extra KEY=VALUE for every rank, after the environment of the
	// launcher (ranks on this host) or of the agent (other hosts).
	Env []string
	// Hosts are filled in order, each up to its slots. Nil: every rank on
	// this host. A host that is this machine (localhost, its name) starts
	// its ranks directly; others through an agent started with Rsh.
	Hosts []Host
	// Rsh is the remote shell command template; {host} is replaced by the
	// host name, and without {host} the name is added as a last word.
	// Default DefaultRsh.
	Rsh string
	// AgentPath is the kizuna binary that remote shells run as
	// "AgentPath agent"; default os.Executable(). It must be at the same
	// path on every host.
	AgentPath string
	// MasterAddr is where the rendezvous store listens, host or host:port
	// (port 0 or none: any free port); ranks connect to it there. Default:
	// 127.0.0.1 for a job on this host only, otherwise every interface,
	// with each agent using the first of this host's addresses it reaches.
	MasterAddr string
	// Dir is the ranks' working directory; default the launcher's. An agent
	// whose host lacks it uses the home directory.
	Dir string
	// Stdin, if not nil, is copied to rank 0's standard input; the other
	// ranks read /dev/null. If it has SetReadDeadline (a pipe or terminal
	// opened as a pollable *os.File, a net.Conn), Run interrupts a pending
	// Read when the job ends; otherwise the copying goroutine stays blocked
	// in Read until that returns.
	Stdin          io.Reader
	Stdout, Stderr io.Writer // ranks' output, whole lines at a time; nil discards
	TagOutput      bool      // prefix every line with "[rank] "
	// Signals are forwarded to every rank's process group. The first one
	// stops the job (ranks get Grace to exit, then SIGKILL) and makes Run
	// return a *SignalError; a second one sends SIGKILL at once.
	Signals <-chan os.Signal
	// Timeout, if positive, stops a job that runs longer (SIGTERM, then
	// SIGKILL after Grace); Run then returns a *TimeoutError. Ranks with a
	// Kizuna communicator open are first asked for their flight records
	// (SIGUSR1), and a summary of who waits for whom is written to Log.
	Timeout time.Duration
	// Dump: each value received asks the ranks for their flight records and
	// writes the summary to Log, like a timeout, but the job goes on
	// (kizuna run does it on SIGUSR1). Only when every rank has a
	// communicator open, as the signal stops a rank that does not handle it.
	Dump <-chan os.Signal
	// Grace is how long ranks have between SIGTERM and SIGKILL. Default
	// DefaultGrace.
	Grace time.Duration
	// Log receives the launcher's own notes (remote shells' stderr, and
	// with Verbose the placement and addresses); nil means Stderr.
	Log     io.Writer
	Verbose bool
}

// Run starts the job, serves its rendezvous store, passes its output
// through, and waits for every rank. It returns nil when every rank exits
// 0. Otherwise it stops the ranks still running and returns the first
// cause: an *ExitError for a rank that failed, a *HostError for a lost
// host, a *SignalError, a *TimeoutError, ctx's error, or an error that
// kept the job from starting. No rank is left running when Run returns.
//
// Each rank gets KIZUNA_RANK, KIZUNA_WORLD_SIZE, KIZUNA_LOCAL_RANK,
// KIZUNA_LOCAL_WORLD_SIZE, KIZUNA_NODE_RANK, KIZUNA_MASTER_ADDR,
// KIZUNA_EXTERNAL_STORE=1, KIZUNA_JOB_ID and KIZUNA_TOKEN (32 random bytes
// in hex, fresh for each job), and KIZUNA_BIND_ADDR on a multi-host job
// unless Env sets it or KIZUNA_IFNAME.
func Run(ctx context.Context, job Job) error {
	if job.NP < 1 {
		return fmt.Errorf("launch: %d ranks, want at least 1", job.NP)
	}
	if len(job.Argv) == 0 {
		return errors.New("launch: no program")
	}
	if job.Grace <= 0 {
		job.Grace = DefaultGrace
	}
	if job.Rsh == "" {
		job.Rsh = DefaultRsh
	}
	if job.Stdout == nil {
		job.Stdout = io.Discard
	}
	if job.Stderr == nil {
		job.Stderr = io.Discard
	}
	if job.Log == nil {
		job.Log = job.Stderr
	}
	nodes, err := place(job.NP, job.Hosts)
	if err != nil {
		return err
	}
	for _, nd := range nodes {
		if nd.local {
			batchLauncher(job.Env, len(nd.ranks))
		}
	}
	s := &supervisor{
		job:    job,
		nodes:  nodes,
		jobID:  randomHex(8),
		token:  randomHex(32),
		exited: make([]bool, job.NP),
		host:   make([]string, job.NP),
		left:   job.NP,
		out:    &output{stdout: job.Stdout, stderr: job.Stderr, tag: job.TagOutput, tails: make([]tail, job.NP)},
		// Every rank reports one exit, every remote at most one ready and
		// one down; more from a misbehaving agent are refused by its reader.
		events:    make(chan event, job.NP+2*len(nodes)),
		stdinQuit: make(chan struct{}),
	}
	for i, nd := range nodes {
		for _, r := range nd.ranks {
			if !nd.local {
				s.host[r] = nd.host
			}
		}
		if nd.local {
			s.localNode = &s.nodes[i]
		} else {
			s.multi = true
		}
	}
	if err := s.listen(); err != nil {
		return err
	}
	defer s.store.Close()
	return s.run(ctx)
}

type evKind uint8

const (
	evExit evKind = iota + 1
	evReady
	evDown
)

type event struct {
	kind   evKind
	rank   int
	st     exitStatus
	remote *remote
	host   string // evReady: the agent's host name
	master string // evReady: the store address it reached
	bind   string // evReady: its ranks' bind address
	lost   []int  // evDown
	err    error  // evDown
}

// supervisor runs one job. Its fields are owned by the goroutine in run,
// except out, events and stdinQuit, which the goroutines it starts use.
type supervisor struct {
	job    Job
	nodes  []node
	jobID  string
	token  string
	multi  bool // some ranks run on other hosts
	store  *rendezvous.Server
	master []string // store addresses for agents, best first
	local  string   // store address for ranks on this host

	out    *output
	events chan event

	localNode    *node
	localPending bool      // waiting for an agent's address before starting local ranks
	remotes      []*remote // the agents, this host's included

	exited   []bool
	host     []string // each rank's host, "" for this one
	left     int
	cause    error
	stopping bool
	kill     <-chan time.Time
	hard     <-chan time.Time

	stdinQuit chan struct{}    // closed when the job ends
	flight    *flightCollector // the ranks' flight records on a timeout (flight.go); nil if none
	stdinDone chan struct{}    // closed when the stdin copier ends; nil if none
}

// listen starts the rendezvous store and works out the addresses ranks
// will reach it at.
func (s *supervisor) listen() error {
	addr := "127.0.0.1:0"
	if s.multi {
		addr = ":0"
	}
	if m := s.job.MasterAddr; m != "" {
		addr = m
		if _, _, err := net.SplitHostPort(m); err != nil {
			addr = net.JoinHostPort(m, "0")
		}
	}
	store, err := listenStore(addr, s.token)
	if err != nil {
		return fmt.Errorf("launch: rendezvous store: %w", err)
	}
	s.store = store
	host, _, _ := net.SplitHostPort(addr)
	_, port, _ := net.SplitHostPort(store.Addr())
	switch {
	case host != "" && !net.ParseIP(host).Equal(net.IPv4zero) && !net.ParseIP(host).Equal(net.IPv6unspecified):
		s.local = net.JoinHostPort(host, port)
		s.master = []string{s.local}
	default:
		s.local = net.JoinHostPort("127.0.0.1", port)
		toward := ""
		for _, nd := range s.nodes {
			if !nd.local {
				toward = nd.host
				break
			}
		}
		s.master = masterCandidates(port, toward)
	}
	return nil
}

// listenStore serves the job's rendezvous store, open only to clients that
// prove they hold token (every rank's KIZUNA_TOKEN).
func listenStore(addr, token string) (*rendezvous.Server, error) {
	return rendezvous.Listen(addr, rendezvous.WithToken(token))
}

func (s *supervisor) run(ctx context.Context) error {
	dir := s.job.Dir
	if dir == "" {
		dir, _ = os.Getwd()
	}
	argv := append([]string(nil), s.job.Argv...)
	p, err := resolveProgram(argv[0], dir)
	switch {
	case err == nil:
		argv[0] = p
	case s.localNode != nil:
		return fmt.Errorf("launch: program %q: %w", argv[0], err)
	}
	common := append(s.job.Env[:len(s.job.Env):len(s.job.Env)],
		"KIZUNA_WORLD_SIZE="+strconv.Itoa(s.job.NP),
		"KIZUNA_JOB_ID="+s.jobID,
		"KIZUNA_TOKEN="+s.token,
		"KIZUNA_EXTERNAL_STORE=1",
	)
	if fc, err := newFlightCollector(s.job.Env, s.jobID); err == nil {
		s.flight = fc
		defer s.flightClose()
		if fc.own {
			common = append(common, "KIZUNA_FLIGHT_DIR="+fc.dir)
		}
	}
	if s.job.Verbose {
		fmt.Fprintf(s.job.Log, "kizuna run: job %s, %d ranks on %d hosts, store at %s\n", s.jobID, s.job.NP, len(s.nodes), s.store.Addr())
	}

	var startErr error
	for i := range s.nodes {
		nd := &s.nodes[i]
		switch {
		case nd.local:
		case startErr == nil:
			startErr = s.startNode(nd, argv, dir, common, "") // on error it gives up nd's ranks
		default:
			s.markExited(nd.ranks) // never started
		}
	}
	switch {
	case s.localNode == nil:
	case startErr != nil:
		s.markExited(s.localNode.ranks)
	case s.multi:
		// Started on the first agent's ready, with the address at which
		// that host reached this one.
		s.localPending = true
	default:
		startErr = s.startNode(s.localNode, argv, dir, common, "")
	}
	if startErr != nil {
		s.fail(startErr)
	}

	var timeout <-chan time.Time
	if s.job.Timeout > 0 {
		t := time.NewTimer(s.job.Timeout)
		defer t.Stop()
		timeout = t.C
	}
	done := ctx.Done()
	sigs := s.job.Signals
	for s.left > 0 {
		select {
		case ev := <-s.events:
			s.handle(ev, argv, dir, common)
		case sig := <-sigs:
			ss, _ := sig.(syscall.Signal)
			if ss == 0 {
				ss = syscall.SIGTERM
			}
			if s.stopping {
				s.escalate()
				continue
			}
			if s.cause == nil {
				s.cause = &SignalError{Signal: ss}
			}
			s.stop(ss)
		case <-timeout:
			timeout = nil
			s.timedOut() // asks the ranks for their flight records first
		case <-s.job.Dump:
			s.flightAsk(false)
		case <-s.flight.tickC():
			if s.flightAnswered() {
				s.flightDone()
			}
		case <-s.flight.dueC():
			s.flightDone()
		case <-done:
			done = nil
			s.fail(ctx.Err())
		case <-s.kill:
			s.escalate()
		case <-s.hard:
			s.hard = nil
			for _, r := range s.remotes {
				r.kill()
			}
		}
	}
	if s.flight.pending() {
		s.flightReport()
	}
	s.finish()
	return s.cause
}

// handle takes one event from a rank or an agent.
func (s *supervisor) handle(ev event, argv []string, dir string, common []string) {
	switch ev.kind {
	case evExit:
		if s.exited[ev.rank] {
			return
		}
		s.exited[ev.rank] = true
		s.left--
		if !ev.st.ok() {
			s.fail(&ExitError{Rank: ev.rank, Host: s.host[ev.rank], Status: ev.st.status(), How: ev.st.String(),
				Tail: s.out.tails[ev.rank].String()})
		}
	case evReady:
		if s.job.Verbose {
			fmt.Fprintf(s.job.Log, "kizuna run: host %s (%s): ranks %s started; store reached at %s, ranks listen on %s\n",
				ev.remote.nd.host, ev.host, rankList(ev.remote.nd.ranks), ev.master, ev.bind)
		}
		if s.localPending {
			s.localPending = false
			bind, _, _ := net.SplitHostPort(ev.master)
			if s.stopping {
				s.markExited(s.localNode.ranks)
				return
			}
			if err := s.startNode(s.localNode, argv, dir, common, bind); err != nil {
				s.fail(err)
			}
		}
	case evDown:
		s.markExited(ev.lost)
		s.fail(&HostError{Host: ev.remote.nd.host, Ranks: ev.lost, Err: ev.err, Tail: ev.remote.tail.String()})
		if s.localPending && s.allRemotesDown() {
			s.localPending = false
			s.markExited(s.localNode.ranks)
		}
	}
}

func (s *supervisor) allRemotesDown() bool {
	for _, r := range s.remotes {
		select {
		case <-r.done:
		default:
			return false
		}
	}
	return true
}

// fail records the job's first cause and stops the job.
func (s *supervisor) fail(err error) {
	if s.cause == nil {
		s.cause = err
	}
	s.stop(syscall.SIGTERM)
	if s.localPending {
		s.localPending = false
		s.markExited(s.localNode.ranks)
	}
}

func (s *supervisor) markExited(ranks []int) {
	for _, r := range ranks {
		if !s.exited[r] {
			s.exited[r] = true
			s.left--
		}
	}
}

// stop forwards sig to every rank; the first call starts the grace period.
func (s *supervisor) stop(sig syscall.Signal) {
	s.forward(sig)
	if !s.stopping {
		s.stopping = true
		s.kill = time.After(s.job.Grace)
	}
}

// escalate sends SIGKILL to every rank, and gives agents a grace period to
// report before they are killed too.
func (s *supervisor) escalate() {
	s.stopping = true
	s.kill = nil
	s.forward(syscall.SIGKILL)
	if s.hard == nil {
		s.hard = time.After(s.job.Grace)
	}
}

func (s *supervisor) forward(sig syscall.Signal) {
	for _, r := range s.remotes {
		r.signal(sig)
	}
}

// startNode starts the agent for nd: through the remote shell on another
// host, directly on this one (so that ranks here are cleaned up the same
// way, even if the launcher is killed). bind, when not empty, is the
// address ranks on this host listen on.
func (s *supervisor) startNode(nd *node, argv []string, dir string, common []string, bind string) error {
	agent := s.job.AgentPath
	if agent == "" {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("launch: cannot find this program to run as the agent: %w", err)
		}
		agent = exe
	}
	sp := &spawnMsg{
		Version: protoVersion,
		Argv:    argv,
		Dir:     dir,
		Env: append(common[:len(common):len(common)],
			"KIZUNA_LOCAL_WORLD_SIZE="+strconv.Itoa(len(nd.ranks)),
			"KIZUNA_NODE_RANK="+strconv.Itoa(nd.index)),
		StdinRank: -1,
		Grace:     s.job.Grace,
		Master:    s.master,
	}
	cmd := []string{agent, "agent"}
	if nd.local {
		sp.Master = []string{s.local}
		if bind != "" && !hasVar(s.job.Env, "KIZUNA_BIND_ADDR") && !hasVar(s.job.Env, "KIZUNA_IFNAME") {
			sp.Env = append(sp.Env, "KIZUNA_BIND_ADDR="+bind)
		}
	} else {
		var err error
		if cmd, err = rshArgv(s.job.Rsh, nd.host, cmd); err != nil {
			return err
		}
	}
	for i, r := range nd.ranks {
		sp.Ranks = append(sp.Ranks, rankSpec{Rank: r, Env: rankEnv(r, i)})
	}
	if s.job.Stdin != nil && nd.ranks[0] == 0 {
		sp.StdinRank = 0
	}
	if s.job.Verbose {
		fmt.Fprintf(s.job.Log, "kizuna run: host %s: ranks %s through %q\n", nd.host, rankList(nd.ranks), cmd)
	}
	r, err := startRemote(*nd, cmd, sp, (*remoteSink)(s))
	if err != nil {
		s.markExited(nd.ranks)
		return err
	}
	s.remotes = append(s.remotes, r)
	if sp.StdinRank == 0 {
		s.copyStdin(func(p []byte) error {
			if !r.writeStdin(p, s.stdinQuit) {
				return os.ErrClosed
			}
			return nil
		}, r.closeStdin)
	}
	return nil
}

// remoteSink passes a remote's reports to the supervisor. Its methods run
// on the remote's goroutines and touch only out and events.
type remoteSink supervisor

func (k *remoteSink) line(rank, stream int, line []byte) { k.out.line(rank, stream, line) }
func (k *remoteSink) exit(rank int, st exitStatus) {
	k.events <- event{kind: evExit, rank: rank, st: st}
}
func (k *remoteSink) ready(r *remote, host, master, bind string) {
	k.events <- event{kind: evReady, remote: r, host: host, master: master, bind: bind}
}
func (k *remoteSink) down(r *remote, lost []int, err error) {
	k.events <- event{kind: evDown, remote: r, lost: lost, err: err}
}
func (k *remoteSink) agentLog(r *remote, line []byte) {
	k.out.log(k.job.Log, "kizuna run: host "+r.nd.host+": ", line)
}

// copyStdin copies the job's standard input with write until EOF (then
// calls closeFn) or until write fails.
func (s *supervisor) copyStdin(write func([]byte) error, closeFn func()) {
	s.stdinDone = make(chan struct{})
	go func() {
		defer close(s.stdinDone)
		buf := make([]byte, maxStdinChunk)
		for {
			n, err := s.job.Stdin.Read(buf)
			if n > 0 {
				if write(buf[:n]) != nil {
					return
				}
			}
			if err != nil {
				if errors.Is(err, io.EOF) {
					closeFn()
				}
				return
			}
		}
	}()
}

// finish stops the stdin copier, cleans up every host, and waits for every
// goroutine of the job.
func (s *supervisor) finish() {
	close(s.stdinQuit)
	waitStdin := false
	if s.stdinDone != nil {
		if d, ok := s.job.Stdin.(interface{ SetReadDeadline(time.Time) error }); ok {
			waitStdin = d.SetReadDeadline(time.Now()) == nil
		}
	}
	var wg sync.WaitGroup
	for _, r := range s.remotes {
		wg.Go(func() { r.finish(s.job.Grace) })
	}
	wg.Wait()
	if waitStdin {
		<-s.stdinDone
	}
}

// output writes ranks' lines to the job's outputs, one whole line per
// Write, and keeps each rank's last stderr lines. Safe for concurrent use.
type output struct {
	stdout, stderr io.Writer
	tag            bool
	tails          []tail

	mu  sync.Mutex
	buf []byte // guarded by mu
}

func (o *output) line(rank, stream int, line []byte) {
	w := o.stdout
	if stream == streamStderr {
		w = o.stderr
		o.tails[rank].add(line)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.tag {
		w.Write(line)
		return
	}
	o.buf = append(o.buf[:0], '[')
	o.buf = strconv.AppendInt(o.buf, int64(rank), 10)
	o.buf = append(o.buf, "] "...)
	o.buf = append(o.buf, line...)
	w.Write(o.buf)
	if cap(o.buf) > 64<<10 {
		o.buf = nil
	}
}

// log writes prefix and line to w as one line.
func (o *output) log(w io.Writer, prefix string, line []byte) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.buf = append(append(o.buf[:0], prefix...), line...)
	w.Write(o.buf)
}

// resolveProgram makes a program name absolute, as it must be found at
// the same path on every host: a name with a slash relative to dir, one
// without through PATH.
func resolveProgram(name, dir string) (string, error) {
	if !filepath.IsAbs(name) && filepath.Base(name) != name {
		name = filepath.Join(dir, name)
	}
	return execLookPath(name)
}

// rankEnv is what differs between the environments of the ranks of one host.
func rankEnv(rank, localRank int) []string {
	return []string{
		"KIZUNA_RANK=" + strconv.Itoa(rank),
		"KIZUNA_LOCAL_RANK=" + strconv.Itoa(localRank),
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func execLookPath(name string) (string, error) {
	p, err := exec.LookPath(name)
	if err != nil {
		return "", err
	}
	return filepath.Abs(p)
}
