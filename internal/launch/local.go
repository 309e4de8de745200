package launch

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/kizuna-hpc/kizuna/rendezvous"
)

// Job describes ranks to start on this host.
type Job struct {
	NP     int      // number of ranks
	Argv   []string // program and arguments, the same for every rank
	Env    []string // extra KEY=VALUE for every rank (after os.Environ())
	Stdout io.Writer
	Stderr io.Writer
	// Grace is how long a rank has between SIGTERM and SIGKILL when the
	// job is stopped. Default 3s.
	Grace time.Duration
}

// ExitError reports the first rank that failed.
type ExitError struct {
	Rank   int
	Status int    // exit status, or 128+signal
	How    string // "exited with status 3", "killed by signal 9 (killed)"
	Tail   string // last lines of the rank's stderr
}

func (e *ExitError) Error() string {
	s := fmt.Sprintf("rank %d %s", e.Rank, e.How)
	if e.Tail != "" {
		s += "; last stderr lines:\n" + e.Tail
	}
	return s
}

// RunLocal starts the job and waits for every rank. It returns nil when all
// ranks exit 0, an *ExitError for the first rank that failed (the others are
// stopped), or ctx's error after stopping every rank.
func RunLocal(ctx context.Context, job Job) error {
	if job.NP < 1 {
		return fmt.Errorf("launch: %d ranks, want at least 1", job.NP)
	}
	if len(job.Argv) == 0 {
		return errors.New("launch: no program")
	}
	if job.Grace == 0 {
		job.Grace = 3 * time.Second
	}
	store, err := rendezvous.Listen("127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("launch: rendezvous store: %w", err)
	}
	defer store.Close()
	jobID := randomID()

	var outMu sync.Mutex // one whole line at a time on the shared outputs
	procs := make([]*exec.Cmd, job.NP)
	tails := make([]*tail, job.NP)
	var pipes sync.WaitGroup
	for r := range job.NP {
		cmd := exec.Command(job.Argv[0], job.Argv[1:]...)
		cmd.Env = append(os.Environ(), job.Env...)
		cmd.Env = append(cmd.Env,
			"KIZUNA_RANK="+strconv.Itoa(r),
			"KIZUNA_WORLD_SIZE="+strconv.Itoa(job.NP),
			"KIZUNA_LOCAL_RANK="+strconv.Itoa(r),
			"KIZUNA_LOCAL_WORLD_SIZE="+strconv.Itoa(job.NP),
			"KIZUNA_NODE_RANK=0",
			"KIZUNA_MASTER_ADDR="+store.Addr(),
			"KIZUNA_EXTERNAL_STORE=1",
			"KIZUNA_JOB_ID="+jobID,
		)
		setProcAttr(cmd)
		// Our own pipes, not StdoutPipe: cmd.Wait would close those while
		// the last lines are still being read.
		outR, outW, err := os.Pipe()
		if err != nil {
			killAll(procs)
			pipes.Wait()
			return fmt.Errorf("launch: pipe: %w", err)
		}
		errR, errW, err := os.Pipe()
		if err != nil {
			outR.Close()
			outW.Close()
			killAll(procs)
			pipes.Wait()
			return fmt.Errorf("launch: pipe: %w", err)
		}
		cmd.Stdout, cmd.Stderr = outW, errW
		err = cmd.Start()
		outW.Close()
		errW.Close()
		if err != nil {
			outR.Close()
			errR.Close()
			killAll(procs)
			pipes.Wait()
			return fmt.Errorf("launch: start rank %d: %w", r, err)
		}
		procs[r] = cmd
		tails[r] = &tail{max: 10}
		pipes.Add(2)
		go func() { defer pipes.Done(); defer outR.Close(); copyLines(outR, job.Stdout, &outMu, nil) }()
		go func() { defer pipes.Done(); defer errR.Close(); copyLines(errR, job.Stderr, &outMu, tails[r]) }()
	}

	type exit struct {
		rank int
		err  error
	}
	exits := make(chan exit, job.NP) // every rank reports exactly once
	for r, cmd := range procs {
		go func() {
			err := cmd.Wait()
			exits <- exit{r, err}
		}()
	}
	var (
		first    *ExitError
		ctxErr   error
		exited   = make([]bool, job.NP)
		stopping bool
		kill     <-chan time.Time
		done     = ctx.Done()
	)
	stop := func() {
		if stopping {
			return
		}
		stopping = true
		for r, p := range procs {
			if !exited[r] {
				signalGroup(p, syscall.SIGTERM)
			}
		}
		kill = time.After(job.Grace)
	}
	for left := job.NP; left > 0; {
		select {
		case e := <-exits:
			left--
			exited[e.rank] = true
			if e.err != nil && first == nil && ctxErr == nil {
				first = describeExit(e.rank, procs[e.rank], e.err)
				stop()
			}
		case <-done:
			done = nil
			ctxErr = ctx.Err()
			stop()
		case <-kill:
			kill = nil
			for r, p := range procs {
				if !exited[r] {
					signalGroup(p, syscall.SIGKILL)
				}
			}
		}
	}
	pipes.Wait()
	if first != nil {
		first.Tail = tails[first.Rank].String()
		return first
	}
	return ctxErr
}

func describeExit(rank int, cmd *exec.Cmd, err error) *ExitError {
	e := &ExitError{Rank: rank, Status: 1, How: err.Error()}
	if cmd.ProcessState != nil {
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			e.Status = 128 + int(ws.Signal())
			e.How = fmt.Sprintf("was killed by signal %d (%v)", int(ws.Signal()), ws.Signal())
			return e
		}
		e.Status = cmd.ProcessState.ExitCode()
		e.How = fmt.Sprintf("exited with status %d", e.Status)
	}
	return e
}

// killAll kills every started rank's process group and reaps it.
func killAll(procs []*exec.Cmd) {
	for _, p := range procs {
		if p != nil && p.Process != nil {
			signalGroup(p, syscall.SIGKILL)
			p.Wait()
		}
	}
}

// copyLines copies r to w a whole line at a time under mu.
func copyLines(r io.Reader, w io.Writer, mu *sync.Mutex, t *tail) {
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 {
			if line[len(line)-1] != '\n' {
				line = append(line, '\n')
			}
			if t != nil {
				t.add(string(line))
			}
			mu.Lock()
			w.Write(line)
			mu.Unlock()
		}
		if err != nil {
			return
		}
	}
}

// tail keeps the last max lines written to it.
type tail struct {
	mu    sync.Mutex
	max   int
	lines []string
}

func (t *tail) add(s string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lines = append(t.lines, s)
	if len(t.lines) > t.max {
		t.lines = t.lines[1:]
	}
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := ""
	for _, l := range t.lines {
		s += "  " + l
	}
	return s
}

func randomID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
