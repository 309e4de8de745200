package launch

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// DefaultRsh is the remote shell used when Job.Rsh is empty.
const DefaultRsh = "ssh -o BatchMode=yes"

// writeTimeout bounds one frame written to an agent; an agent that reads
// nothing for this long is taken as lost.
const writeTimeout = 10 * time.Second

// rshArgv builds the command that starts an agent on host: the template's
// words with {host} replaced, or with host appended when no word has
// {host} (as ssh takes it), then agent.
func rshArgv(template, host string, agent []string) ([]string, error) {
	words, err := splitCommand(template)
	if err != nil {
		return nil, fmt.Errorf("launch: remote shell %q: %w", template, err)
	}
	if len(words) == 0 {
		return nil, fmt.Errorf("launch: empty remote shell command")
	}
	found := false
	for i, w := range words {
		if strings.Contains(w, "{host}") {
			words[i] = strings.ReplaceAll(w, "{host}", host)
			found = true
		}
	}
	if !found {
		words = append(words, host)
	}
	return append(words, agent...), nil
}

// splitCommand splits s into words at unquoted white space; single quotes
// keep everything literally, double quotes and backslashes work as in sh
// (without expansions).
func splitCommand(s string) ([]string, error) {
	var (
		words []string
		cur   strings.Builder
		in    bool // inside a word
		quote rune
	)
	rs := []rune(s)
	for i := 0; i < len(rs); i++ {
		c := rs[i]
		switch {
		case quote == '\'':
			if c == '\'' {
				quote = 0
			} else {
				cur.WriteRune(c)
			}
		case quote == '"':
			switch {
			case c == '"':
				quote = 0
			case c == '\\' && i+1 < len(rs) && strings.ContainsRune(`"\$`+"`", rs[i+1]):
				i++
				cur.WriteRune(rs[i])
			default:
				cur.WriteRune(c)
			}
		case c == '\'' || c == '"':
			quote, in = c, true
		case c == '\\':
			if i+1 >= len(rs) {
				return nil, errors.New("trailing backslash")
			}
			i++
			cur.WriteRune(rs[i])
			in = true
		case c == ' ' || c == '\t' || c == '\n':
			if in {
				words = append(words, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteRune(c)
			in = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unterminated %c quote", quote)
	}
	if in {
		words = append(words, cur.String())
	}
	return words, nil
}

// remote is the launcher's side of one agent: the remote shell process
// that runs it, and the protocol over its standard input and output.
type remote struct {
	nd   node
	argv []string
	cmd  *exec.Cmd

	wmu    sync.Mutex
	in     *os.File // the agent's standard input; nil once closed
	fw     *frameWriter
	acks   chan bool     // cap 1: at most one stdin chunk is unacknowledged
	done   chan struct{} // closed when the reader has ended
	exited chan struct{} // closed when the remote shell was reaped
	errs   chan struct{} // closed when its stderr has ended
	status exitStatus    // the remote shell's; valid after exited
	tail   tail          // the remote shell's stderr
	outR   *os.File
	errR   *os.File
	wg     sync.WaitGroup
}

// remoteEvents is what a remote reports to the supervisor.
type remoteEvents interface {
	line(rank, stream int, line []byte)
	exit(rank int, st exitStatus)
	ready(r *remote, host, master, bind string)
	down(r *remote, lost []int, err error)
	// agentLog receives the remote shell's stderr lines.
	agentLog(r *remote, line []byte)
}

// startRemote starts the remote shell for nd and sends it sp. The remote
// reports through ev from its own goroutines until finish.
func startRemote(nd node, argv []string, sp *spawnMsg, ev remoteEvents) (*remote, error) {
	r := &remote{
		nd: nd, argv: argv,
		acks:   make(chan bool, 1),
		done:   make(chan struct{}),
		exited: make(chan struct{}),
		errs:   make(chan struct{}),
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	// Its own process group, but no death signal: when the launcher dies
	// the agent sees its input end and stops its ranks, groups and all.
	setGroupAttr(cmd)
	var files []*os.File
	closeAll := func() {
		for _, f := range files {
			f.Close()
		}
	}
	for range 3 {
		pr, pw, err := os.Pipe()
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("launch: pipe: %w", err)
		}
		files = append(files, pr, pw)
	}
	inR, inW, outR, outW, errR, errW := files[0], files[1], files[2], files[3], files[4], files[5]
	cmd.Stdin, cmd.Stdout, cmd.Stderr = inR, outW, errW
	if err := cmd.Start(); err != nil {
		closeAll()
		return nil, fmt.Errorf("launch: host %s: start %q: %w", nd.host, strings.Join(argv, " "), err)
	}
	inR.Close()
	outW.Close()
	errW.Close()
	r.cmd, r.in, r.outR, r.errR = cmd, inW, outR, errR
	r.fw = newFrameWriter(inW)

	r.wg.Add(3)
	go func() {
		defer r.wg.Done()
		err := cmd.Wait()
		r.status = statusOf(cmd, err)
		close(r.exited)
	}()
	go func() {
		defer r.wg.Done()
		defer close(r.errs)
		defer errR.Close()
		readLines(errR, func(l []byte) {
			r.tail.add(l)
			ev.agentLog(r, l)
		})
	}()
	go func() {
		defer r.wg.Done()
		defer close(r.done)
		defer outR.Close()
		r.read(ev)
	}()
	if err := r.send(&message{Type: msgSpawn, Spawn: sp}); err != nil {
		// The reader reports the agent as down when its output ends.
		r.kill()
	}
	return r, nil
}

// read handles the agent's messages until its output ends, then reports
// the ranks that never reported an exit as lost.
func (r *remote) read(ev remoteEvents) {
	fr := newFrameReader(r.outR)
	exited := make(map[int]bool, len(r.nd.ranks))
	mine := func(rank int) bool { _, ok := slices.BinarySearch(r.nd.ranks, rank); return ok }
	var (
		cause     error
		agentErr  string
		readySeen bool
	)
	for cause == nil {
		m, err := fr.read()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				cause = err
			}
			break
		}
		switch m.Type {
		case msgReady:
			if !readySeen {
				readySeen = true
				ev.ready(r, m.Host, m.Master, m.Bind)
			}
		case msgOutput:
			if !mine(m.Rank) {
				cause = fmt.Errorf("output for rank %d, not on this host", m.Rank)
				break
			}
			ev.line(m.Rank, m.Stream, m.Data)
		case msgExit:
			if !mine(m.Rank) || exited[m.Rank] {
				cause = fmt.Errorf("unexpected exit of rank %d", m.Rank)
				break
			}
			exited[m.Rank] = true
			ev.exit(m.Rank, exitStatus{Code: m.Code, Signal: m.Signal})
		case msgStdinAck:
			select {
			case r.acks <- m.Open:
			default:
				cause = errors.New("stdin acknowledged twice")
			}
		case msgError:
			agentErr = m.Text
		case msgDone:
		default:
			cause = fmt.Errorf("unexpected message type %d", m.Type)
		}
	}
	var lost []int
	for _, rank := range r.nd.ranks {
		if !exited[rank] {
			lost = append(lost, rank)
		}
	}
	if cause != nil {
		// A broken protocol: stop listening to this agent at all.
		r.kill()
	}
	if len(lost) == 0 {
		return
	}
	// Give the remote shell a moment to exit and finish its stderr, so that
	// the report says how it ended.
	t := time.NewTimer(2 * time.Second)
	defer t.Stop()
	what := "the remote shell"
	if r.nd.local {
		what = "the agent"
	}
	var how string
	select {
	case <-r.exited:
		how = what + " " + r.status.String()
		select {
		case <-r.errs:
		case <-t.C:
		}
	case <-t.C:
		how = what + " is still running"
	}
	var err error
	switch {
	case agentErr != "":
		err = fmt.Errorf("%s; %s", agentErr, how)
	case cause != nil:
		err = fmt.Errorf("agent protocol: %w; %s", cause, how)
	default:
		err = fmt.Errorf("agent ended before its ranks; %s", how)
	}
	ev.down(r, lost, err)
}

// send writes m to the agent. It does not retain m.
func (r *remote) send(m *message) error {
	r.wmu.Lock()
	defer r.wmu.Unlock()
	if r.in == nil {
		return os.ErrClosed
	}
	r.in.SetWriteDeadline(time.Now().Add(writeTimeout))
	return r.fw.write(m)
}

// signal forwards sig to every rank on the host; when the agent cannot be
// told, it is killed, which makes it stop its ranks.
func (r *remote) signal(sig syscall.Signal) {
	select {
	case <-r.done:
		return
	default:
	}
	if err := r.send(&message{Type: msgSignal, Signal: int(sig)}); err != nil {
		r.kill()
	}
}

// writeStdin sends p to the stdin rank, a chunk at a time, each after the
// last was acknowledged. It returns false when the rank's standard input is
// gone, the agent is, or quit is closed. It does not retain p.
func (r *remote) writeStdin(p []byte, quit <-chan struct{}) bool {
	for len(p) > 0 {
		n := min(len(p), maxStdinChunk)
		if err := r.send(&message{Type: msgStdin, Data: p[:n]}); err != nil {
			return false
		}
		select {
		case open := <-r.acks:
			if !open {
				return false
			}
		case <-r.done:
			return false
		case <-quit:
			return false
		}
		p = p[n:]
	}
	return true
}

func (r *remote) closeStdin() { r.send(&message{Type: msgStdinEOF}) }

// closeIn closes the agent's standard input: the agent stops its ranks if
// it still has any, and exits.
func (r *remote) closeIn() {
	r.wmu.Lock()
	defer r.wmu.Unlock()
	if r.in != nil {
		r.in.Close()
		r.in = nil
	}
}

// kill closes the agent's standard input and kills the remote shell's
// process group. An agent on another machine sees its input end and stops
// its ranks.
func (r *remote) kill() {
	r.closeIn()
	select {
	case <-r.exited:
	default:
		signalGroup(r.cmd, syscall.SIGKILL)
	}
}

// finish closes the agent's input, waits up to grace for the remote shell
// to exit (killing it after that), and waits for the remote's goroutines.
func (r *remote) finish(grace time.Duration) {
	r.closeIn()
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-r.exited:
	case <-t.C:
		signalGroup(r.cmd, syscall.SIGKILL)
	}
	done := make(chan struct{})
	go func() { r.wg.Wait(); close(done) }()
	t2 := time.NewTimer(drainTimeout + 2*time.Second)
	defer t2.Stop()
	select {
	case <-done:
		return
	case <-t2.C:
	}
	// Something outside the process group holds the pipes: stop reading.
	r.outR.Close()
	r.errR.Close()
	<-done
}
