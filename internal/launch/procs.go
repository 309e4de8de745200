package launch

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// drainTimeout bounds how long a rank's exit waits for the rest of its
// output: a process it started in the background may hold its pipes open.
const drainTimeout = time.Second

// exitStatus is how a process ended.
type exitStatus struct {
	Code   int // exit code, when Signal is 0
	Signal int // the signal that killed it, or 0
}

func (s exitStatus) ok() bool { return s.Code == 0 && s.Signal == 0 }

// status is the shell's view of s: the code, or 128+signal.
func (s exitStatus) status() int {
	if s.Signal != 0 {
		return 128 + s.Signal
	}
	return s.Code
}

func (s exitStatus) String() string {
	if s.Signal != 0 {
		return fmt.Sprintf("was killed by signal %d (%v)", s.Signal, syscall.Signal(s.Signal))
	}
	return fmt.Sprintf("exited with status %d", s.Code)
}

func statusOf(cmd *exec.Cmd, err error) exitStatus {
	if cmd.ProcessState == nil {
		return exitStatus{Code: 1}
	}
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return exitStatus{Signal: int(ws.Signal())}
	}
	if c := cmd.ProcessState.ExitCode(); c >= 0 {
		return exitStatus{Code: c}
	}
	return exitStatus{Code: 1}
}

// procSet is the ranks of one host, started as child processes each in its
// own process group. The launcher uses one for the ranks on its own host,
// an agent for the ranks on its host.
//
// Its goroutines (two line readers and a waiter per rank) call onLine and
// onExit; stop ends them all.
type procSet struct {
	onLine func(rank, stream int, line []byte) // concurrent; must not retain line
	onExit func(rank int, st exitStatus)       // once per rank, after its output

	procs []*proc
	wg    sync.WaitGroup

	stdinMu sync.Mutex
	stdin   *os.File // write end of the stdin rank's standard input; nil when closed or none
}

type proc struct {
	rank   int
	cmd    *exec.Cmd
	reaped atomic.Bool
	outR   *os.File // read ends, closed by stop if a reader is stuck
	errR   *os.File
}

// startProcs starts one process per spec running argv in dir with the
// spec's environment. The process for stdinRank (if any) reads its standard
// input from writeStdin; the others read /dev/null. On error the processes
// already started are killed and reaped, and nothing is left running.
func startProcs(argv []string, dir string, specs []rankSpec, stdinRank int,
	onLine func(rank, stream int, line []byte), onExit func(rank int, st exitStatus)) (*procSet, error) {
	ps := &procSet{onLine: onLine, onExit: onExit}
	for _, sp := range specs {
		if err := ps.start(argv, dir, sp, sp.Rank == stdinRank); err != nil {
			ps.signal(syscall.SIGKILL)
			ps.stop()
			return nil, err
		}
	}
	return ps, nil
}

func (ps *procSet) start(argv []string, dir string, sp rankSpec, withStdin bool) error {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = sp.Env
	cmd.Dir = dir
	setProcAttr(cmd)
	// Our own pipes, not StdoutPipe: cmd.Wait would close those while the
	// last lines are still being read.
	var files []*os.File
	closeAll := func() {
		for _, f := range files {
			f.Close()
		}
	}
	pipe := func() (r, w *os.File, err error) {
		r, w, err = os.Pipe()
		if err == nil {
			files = append(files, r, w)
		}
		return r, w, err
	}
	outR, outW, err := pipe()
	if err != nil {
		return fmt.Errorf("launch: pipe: %w", err)
	}
	errR, errW, err := pipe()
	if err != nil {
		closeAll()
		return fmt.Errorf("launch: pipe: %w", err)
	}
	var inR, inW *os.File
	if withStdin {
		if inR, inW, err = pipe(); err != nil {
			closeAll()
			return fmt.Errorf("launch: pipe: %w", err)
		}
		cmd.Stdin = inR
	}
	cmd.Stdout, cmd.Stderr = outW, errW
	if err := startBound(cmd, sp.cpus, sp.batch); err != nil { // bind.go
		closeAll()
		return fmt.Errorf("launch: start rank %d: %w", sp.Rank, err)
	}
	outW.Close()
	errW.Close()
	if inR != nil {
		inR.Close()
		ps.stdinMu.Lock()
		ps.stdin = inW
		ps.stdinMu.Unlock()
	}
	p := &proc{rank: sp.Rank, cmd: cmd, outR: outR, errR: errR}
	ps.procs = append(ps.procs, p)

	var pipes sync.WaitGroup
	pipes.Add(2)
	ps.wg.Add(3)
	go func() {
		defer ps.wg.Done()
		defer pipes.Done()
		defer outR.Close()
		readLines(outR, func(l []byte) { ps.onLine(p.rank, streamStdout, l) })
	}()
	go func() {
		defer ps.wg.Done()
		defer pipes.Done()
		defer errR.Close()
		readLines(errR, func(l []byte) { ps.onLine(p.rank, streamStderr, l) })
	}()
	go func() {
		defer ps.wg.Done()
		err := cmd.Wait()
		p.reaped.Store(true)
		st := statusOf(cmd, err)
		drained := make(chan struct{})
		ps.wg.Go(func() { pipes.Wait(); close(drained) }) // ends with the readers, which stop ends
		t := time.NewTimer(drainTimeout)
		select {
		case <-drained:
		case <-t.C:
		}
		t.Stop()
		ps.onExit(p.rank, st)
	}()
	return nil
}

// signal sends sig to the process group of every rank not yet reaped.
func (ps *procSet) signal(sig syscall.Signal) {
	for _, p := range ps.procs {
		if !p.reaped.Load() {
			signalGroup(p.cmd, sig)
		}
	}
}

// writeStdin writes p to the stdin rank's standard input. It does not
// retain p.
func (ps *procSet) writeStdin(p []byte) error {
	ps.stdinMu.Lock()
	f := ps.stdin
	ps.stdinMu.Unlock()
	if f == nil {
		return os.ErrClosed
	}
	_, err := f.Write(p) // a concurrent closeStdin unblocks it
	return err
}

// closeStdin closes the stdin rank's standard input (EOF for it).
func (ps *procSet) closeStdin() {
	ps.stdinMu.Lock()
	f := ps.stdin
	ps.stdin = nil
	ps.stdinMu.Unlock()
	if f != nil {
		f.Close()
	}
}

// stop kills whatever is left in every rank's process group (processes a
// rank left behind), then waits for every goroutine of the set. Call it
// once, after every rank's exit was reported or after killing them.
func (ps *procSet) stop() {
	ps.closeStdin()
	for _, p := range ps.procs {
		signalGroup(p.cmd, syscall.SIGKILL)
	}
	done := make(chan struct{})
	go func() { ps.wg.Wait(); close(done) }()
	t := time.NewTimer(drainTimeout)
	defer t.Stop()
	select {
	case <-done:
		return
	case <-t.C:
	}
	// A process outside the groups (it called setsid) still holds a pipe:
	// stop reading it.
	for _, p := range ps.procs {
		p.outR.Close()
		p.errR.Close()
	}
	<-done
}

// readLines calls fn with each line of r, newline included; a last line
// without one gets one, and a line longer than maxLine is passed on in
// pieces of maxLine bytes. fn must not retain the line.
func readLines(r io.Reader, fn func([]byte)) {
	br := bufio.NewReaderSize(r, 64<<10)
	var long []byte
	for {
		frag, err := br.ReadSlice('\n')
		switch {
		case err == nil:
			if long != nil {
				fn(append(long, frag...))
				long = long[:0]
			} else {
				fn(frag)
			}
		case errors.Is(err, bufio.ErrBufferFull):
			long = append(long, frag...)
			for len(long) >= maxLine {
				fn(append(long[:maxLine:maxLine], '\n'))
				long = append(long[:0], long[maxLine:]...)
			}
		default:
			line := append(long, frag...)
			if len(line) > 0 {
				fn(append(line, '\n'))
			}
			return
		}
	}
}

// tail keeps the last lines written to it, each cut to maxTailLine bytes.
type tail struct {
	mu    sync.Mutex
	lines []string
}

const (
	tailLines   = 10
	maxTailLine = 1 << 10
)

func (t *tail) add(line []byte) {
	s := strings.TrimRight(string(line[:min(len(line), maxTailLine)]), "\n")
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lines = append(t.lines, s)
	if len(t.lines) > tailLines {
		t.lines = t.lines[1:]
	}
}

// String returns the lines, each indented two spaces and ended with a newline.
func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var b strings.Builder
	for _, l := range t.lines {
		b.WriteString("  ")
		b.WriteString(l)
		b.WriteByte('\n')
	}
	return b.String()
}
