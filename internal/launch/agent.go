package launch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/kizuna-hpc/kizuna/internal/cpus"
)

// batchSelf: an agent that binds its ranks and starts them under
// SCHED_BATCH puts its own process under it too, as does a launcher whose
// host's agent will (bind.go). Tests, which run both inside the test
// binary, turn it off.
var batchSelf = true

// agentLingerTimeout bounds how long an agent whose ranks have all exited
// waits for the launcher to close its standard input.
const agentLingerTimeout = 10 * time.Second

// ErrLauncherLost reports that an agent's standard input ended (the
// launcher died or the remote shell dropped) while its ranks were running;
// it stopped them.
var ErrLauncherLost = errors.New("launch: launcher lost; ranks stopped")

// Agent is the agent side of the launcher protocol (see the package
// documentation), run on each remote host by `kizuna agent` through the
// remote shell: it reads a spawn request from in, finds the launcher's
// store, starts the ranks here in their own process groups, and writes
// their output lines and exit statuses to out; it forwards the signals and
// standard input that the launcher sends.
//
// When in ends before every rank has exited, and when a signal arrives on
// sigs, it sends SIGTERM to every rank's process group and SIGKILL after
// the grace period, so that no rank outlives the launcher. It returns nil
// once every rank has exited and been reported and the launcher has closed
// in (or agentLingerTimeout passed); ErrLauncherLost when in ended first;
// another error when the job could not start (which it also reports to the
// launcher). Messages for a person go to logw.
//
// Agent reads in in a goroutine that ends when in does; when the launcher
// never closes in, that goroutine outlives Agent until the process exits.
func Agent(in io.Reader, out io.Writer, sigs <-chan os.Signal, logw io.Writer) error {
	var (
		wmu    sync.Mutex
		fw     = newFrameWriter(out)
		wbroke bool
	)
	send := func(m *message) bool {
		wmu.Lock()
		defer wmu.Unlock()
		if wbroke {
			return false
		}
		if err := fw.write(m); err != nil {
			wbroke = true // the launcher is gone; in will end too
		}
		return !wbroke
	}
	fail := func(err error) error {
		if !send(&message{Type: msgError, Text: err.Error()}) {
			fmt.Fprintln(logw, "kizuna agent:", err)
		}
		return err
	}

	fr := newFrameReader(in)
	m, err := fr.read()
	if err != nil {
		return fail(fmt.Errorf("launch: agent: read spawn request: %w", err))
	}
	if m.Type != msgSpawn {
		return fail(fmt.Errorf("launch: agent: first message has type %d, want spawn", m.Type))
	}
	sp := m.Spawn
	if sp.Version != protoVersion {
		return fail(fmt.Errorf("launch: agent speaks protocol version %d, launcher %d: use the same kizuna on every host", protoVersion, sp.Version))
	}
	if len(sp.Argv) == 0 || len(sp.Ranks) == 0 {
		return fail(errors.New("launch: agent: spawn request without a program or ranks"))
	}

	master, bind, err := probeMaster(context.Background(), sp.Master)
	if err != nil {
		return fail(err)
	}
	host, _ := os.Hostname()
	env := append(os.Environ(), sp.Env...)
	env = append(env, "KIZUNA_MASTER_ADDR="+master)
	if !hasVar(sp.Env, "KIZUNA_BIND_ADDR") && !hasVar(sp.Env, "KIZUNA_IFNAME") &&
		os.Getenv("KIZUNA_BIND_ADDR") == "" && os.Getenv("KIZUNA_IFNAME") == "" {
		env = append(env, "KIZUNA_BIND_ADDR="+bind)
	}
	if v := procsVar(env, hostProcs(), len(sp.Ranks)); v != "" {
		env = append(env, v) // gomaxprocs.go
	}
	if !hasVar(env, cpus.EnvHost) {
		// A bound rank's affinity mask shows only its share: tell it
		// how many processors the host's ranks share (internal/cpus).
		env = append(env, cpus.EnvHost+"="+strconv.Itoa(hostProcs()))
	}
	sets, batch, err := bindPlan(env, len(sp.Ranks)) // bind.go
	if err != nil {
		return fail(err)
	}
	if batch && batchSelf {
		// The agent shares the ranks' processors: its own runtime
		// threads must not preempt them either (bind.go).
		if err := batchProcess(); err != nil {
			fmt.Fprintln(logw, "kizuna agent: SCHED_BATCH:", err)
		}
	}
	specs := make([]rankSpec, len(sp.Ranks))
	for i, r := range sp.Ranks {
		specs[i] = rankSpec{Rank: r.Rank, Env: append(env[:len(env):len(env)], r.Env...)}
		if sets != nil {
			specs[i].cpus = sets[i]
			specs[i].batch = batch
		}
	}
	dir := sp.Dir
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		if dir, err = os.UserHomeDir(); err != nil {
			dir = "/"
		}
	}

	exits := make(chan int, len(specs)) // one per rank
	report := func(rank int, st exitStatus) {
		send(&message{Type: msgExit, Rank: rank, Code: st.Code, Signal: st.Signal})
		exits <- rank
	}
	// Exits are held back until every rank has started: when one cannot
	// start, the others are killed, and the launcher should hear why, not
	// that they were killed.
	var (
		gateMu sync.Mutex
		gated  = true
		held   []func()
	)
	ps, err := startProcs(sp.Argv, dir, specs, sp.StdinRank,
		func(rank, stream int, line []byte) {
			send(&message{Type: msgOutput, Rank: rank, Stream: stream, Data: line})
		},
		func(rank int, st exitStatus) {
			gateMu.Lock()
			if gated {
				held = append(held, func() { report(rank, st) })
				gateMu.Unlock()
				return
			}
			gateMu.Unlock()
			report(rank, st)
		})
	if err != nil {
		return fail(err)
	}
	send(&message{Type: msgReady, Host: host, Master: master, Bind: bind})
	gateMu.Lock()
	gated = false
	early := held
	gateMu.Unlock()
	for _, f := range early {
		f()
	}

	// The reader forwards signals itself and hands stdin to the writer
	// goroutine, so that a rank that does not read its stdin never stalls
	// signals. At most one chunk is unacknowledged, so stdinq never fills.
	stdinq := make(chan []byte, 1) // nil: end of input
	lost := make(chan struct{})
	readerDone := make(chan struct{})
	protoErr := make(chan error, 1)
	go func() {
		defer close(readerDone)
		defer close(lost)
		defer close(stdinq)
		for {
			m, err := fr.read()
			if err != nil {
				if !errors.Is(err, io.EOF) {
					protoErr <- err
				}
				return
			}
			switch m.Type {
			case msgSignal:
				ps.signal(syscall.Signal(m.Signal))
			case msgStdin, msgStdinEOF:
				data := m.Data
				if m.Type == msgStdin && data == nil {
					data = []byte{}
				}
				select {
				case stdinq <- data:
				default:
					protoErr <- errors.New("launch: agent: stdin sent before the last chunk was acknowledged")
					return
				}
			default:
				protoErr <- fmt.Errorf("launch: agent: unexpected message type %d", m.Type)
				return
			}
		}
	}()
	stdinDone := make(chan struct{})
	go func() {
		defer close(stdinDone)
		for data := range stdinq {
			if data == nil {
				ps.closeStdin()
				continue
			}
			err := ps.writeStdin(data)
			send(&message{Type: msgStdinAck, Open: err == nil})
		}
	}()

	var (
		left     = len(specs)
		stopping bool
		kill     <-chan time.Time
		gone     = lost
		result   error
	)
	stop := func() {
		if !stopping {
			stopping = true
			ps.signal(syscall.SIGTERM)
			kill = time.After(sp.Grace)
		}
	}
	for left > 0 {
		select {
		case <-exits:
			left--
		case <-gone:
			gone = nil
			result = ErrLauncherLost
			select {
			case err := <-protoErr:
				fmt.Fprintln(logw, "kizuna agent:", err)
			default:
			}
			stop()
		case s := <-sigs:
			fmt.Fprintf(logw, "kizuna agent: got %v; stopping the ranks\n", s)
			stop()
		case <-kill:
			kill = nil
			ps.signal(syscall.SIGKILL)
		}
	}
	ps.stop()
	send(&message{Type: msgDone})
	t := time.NewTimer(agentLingerTimeout)
	defer t.Stop()
	select {
	case <-readerDone:
		<-stdinDone
	case <-t.C:
	}
	return result
}

// hasVar reports whether env sets name to something non-empty.
func hasVar(env []string, name string) bool {
	for _, kv := range env {
		if k, v, _ := strings.Cut(kv, "="); k == name && v != "" {
			return true
		}
	}
	return false
}
