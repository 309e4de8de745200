package launch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
)

// fakeRsh starts the "remote" agents on this machine; the host name only
// travels in an environment variable.
const fakeRsh = "env KIZUNA_TEST_HOST={host}"

// waitFor polls until out contains n lines matching re, or fails the test.
func waitFor(t *testing.T, out *lockedBuf, re string, n int) {
	t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(30 * time.Second)
	for len(rx.FindAllString(out.String(), -1)) < n {
		if time.Now().After(deadline) {
			t.Fatalf("never saw %d lines matching %q; output:\n%s", n, re, out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// envLine prints the variables a rank gets, one line per rank.
const envLine = `echo "env rank=$KIZUNA_RANK size=$KIZUNA_WORLD_SIZE local=$KIZUNA_LOCAL_RANK/$KIZUNA_LOCAL_WORLD_SIZE node=$KIZUNA_NODE_RANK master=$KIZUNA_MASTER_ADDR ext=$KIZUNA_EXTERNAL_STORE job=$KIZUNA_JOB_ID token=$KIZUNA_TOKEN bind=$KIZUNA_BIND_ADDR extra=$EXTRA"`

// TestRunEnvironment: every rank gets its identity, the store's address,
// one job id and one token, on this host and through agents.
func TestRunEnvironment(t *testing.T) {
	tests := []struct {
		name  string
		hosts []Host
		// want per rank: local rank / local size / node rank
		want      []string
		multiHost bool
	}{
		{"this host", nil, []string{"0/4 node=0", "1/4 node=0", "2/4 node=0", "3/4 node=0"}, false},
		{"two hosts", []Host{{"h1", 2}, {"h2", 3}}, []string{"0/2 node=0", "1/2 node=0", "0/2 node=1", "1/2 node=1"}, true},
		{"this host and another", []Host{{"localhost", 1}, {"h2", 3}}, []string{"0/1 node=0", "0/3 node=1", "1/3 node=1", "2/3 node=1"}, true},
	}
	line := regexp.MustCompile(`env rank=(\d+) size=4 local=(\S+ node=\d+) master=(\S+) ext=1 job=([0-9a-f]{16}) token=([0-9a-f]{64}) bind=(\S*) extra=xyz`)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out lockedBuf
			err := Run(context.Background(), Job{NP: 4, Argv: sh(envLine), Env: []string{"EXTRA=xyz"}, Hosts: tt.hosts,
				Rsh: fakeRsh, Stdout: &out, Stderr: &out})
			if err != nil {
				t.Fatalf("Run() = %v; output:\n%s", err, out.String())
			}
			ms := line.FindAllStringSubmatch(out.String(), -1)
			if len(ms) != 4 {
				t.Fatalf("got %d env lines; want 4:\n%s", len(ms), out.String())
			}
			sort.Slice(ms, func(i, j int) bool { return ms[i][1] < ms[j][1] })
			for r, m := range ms {
				if m[1] != fmt.Sprint(r) || m[2] != tt.want[r] {
					t.Errorf("rank line %q: rank %s %s; want rank %d %s", m[0], m[1], m[2], r, tt.want[r])
				}
				if m[4] != ms[0][4] || m[5] != ms[0][5] {
					t.Errorf("rank %d: job %s token %s; want rank 0's %s %s", r, m[4], m[5], ms[0][4], ms[0][5])
				}
				host, _, err := net.SplitHostPort(m[3])
				if err != nil {
					t.Errorf("rank %d: master %q is not host:port", r, m[3])
				}
				if tt.multiHost && m[6] == "" {
					t.Errorf("rank %d: no KIZUNA_BIND_ADDR on a multi-host job", r)
				}
				if !tt.multiHost && host != "127.0.0.1" {
					t.Errorf("rank %d: master %s; want 127.0.0.1 on a single-host job", r, m[3])
				}
			}
		})
	}
	// Each job gets a fresh token.
	var a, b lockedBuf
	for _, out := range []*lockedBuf{&a, &b} {
		if err := Run(context.Background(), Job{NP: 1, Argv: sh(`echo $KIZUNA_TOKEN`), Stdout: out}); err != nil {
			t.Fatal(err)
		}
	}
	if a.String() == b.String() || len(strings.TrimSpace(a.String())) != 64 {
		t.Errorf("tokens of two jobs = %q, %q; want two different 64-digit hex strings", a.String(), b.String())
	}
}

// TestRunFailures: the first rank that fails is named with how it ended
// and its last stderr lines, the others are stopped, and a lost host is
// reported as such.
func TestRunFailures(t *testing.T) {
	tests := []struct {
		name       string
		hosts      []Host
		rsh        string
		script     string
		wantRank   int // -1: a HostError
		wantStatus int
		wantHost   string
		wantMsg    string
	}{
		{"exit status here", nil, "", `if [ "$KIZUNA_RANK" = 2 ]; then echo first >&2; echo boom >&2; exit 3; fi; sleep 30`,
			2, 3, "", "rank 2 exited with status 3; last lines of its stderr:\n  first\n  boom"},
		{"signal here", nil, "", `if [ "$KIZUNA_RANK" = 0 ]; then kill -9 $$; fi; sleep 30`,
			0, 128 + 9, "", "rank 0 was killed by signal 9 (killed)"},
		{"exit status on a host", []Host{{"h1", 2}, {"h2", 2}}, fakeRsh, `if [ "$KIZUNA_RANK" = 3 ]; then echo bad >&2; exit 42; fi; sleep 30`,
			3, 42, "h2", "rank 3 on h2 exited with status 42; last lines of its stderr:\n  bad"},
		{"signal on a host", []Host{{"h1", 2}, {"h2", 2}}, fakeRsh, `if [ "$KIZUNA_RANK" = 1 ]; then kill -TERM $$; fi; sleep 30`,
			1, 128 + 15, "h1", "rank 1 on h1 was killed by signal 15 (terminated)"},
		{"remote shell fails", []Host{{"h1", 2}, {"h2", 2}}, `sh -c 'echo no route to {host} >&2; exit 255'`, `sleep 30`,
			-1, HostStatus, "", "no route to h"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out lockedBuf
			start := time.Now()
			err := Run(context.Background(), Job{NP: 4, Argv: sh(tt.script), Hosts: tt.hosts, Rsh: tt.rsh,
				Stdout: &out, Stderr: &out, Grace: 500 * time.Millisecond})
			if d := time.Since(start); d > 25*time.Second {
				t.Errorf("Run took %v; the other ranks were not stopped", d)
			}
			if tt.wantRank < 0 {
				var he *HostError
				if !errors.As(err, &he) || he.ExitStatus() != tt.wantStatus || !strings.Contains(he.Error(), tt.wantMsg) {
					t.Fatalf("Run() = %v; want a *HostError mentioning %q", err, tt.wantMsg)
				}
				return
			}
			var ee *ExitError
			if !errors.As(err, &ee) {
				t.Fatalf("Run() = %v; want *ExitError", err)
			}
			if ee.Rank != tt.wantRank || ee.Status != tt.wantStatus || ee.Host != tt.wantHost || !strings.Contains(ee.Error(), tt.wantMsg) {
				t.Errorf("Run() = rank %d status %d host %q %q; want rank %d status %d host %q, mentioning %q",
					ee.Rank, ee.Status, ee.Host, ee.Error(), tt.wantRank, tt.wantStatus, tt.wantHost, tt.wantMsg)
			}
		})
	}
}

// TestRunStdin: standard input reaches rank 0 only, here or on a host.
func TestRunStdin(t *testing.T) {
	tests := []struct {
		name  string
		hosts []Host
	}{
		{"this host", nil},
		{"rank 0 on another host", []Host{{"h1", 1}, {"h2", 2}}},
	}
	// More than one stdin chunk, so the acknowledgements are exercised.
	var in strings.Builder
	for i := range 5000 {
		fmt.Fprintf(&in, "input line %d\n", i)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out lockedBuf
			err := Run(context.Background(), Job{NP: 3, Argv: sh(`n=$(wc -l); echo "rank $KIZUNA_RANK read $n lines"`),
				Hosts: tt.hosts, Rsh: fakeRsh, Stdin: strings.NewReader(in.String()), Stdout: &out, Stderr: &out, TagOutput: true})
			if err != nil {
				t.Fatalf("Run() = %v\n%s", err, out.String())
			}
			for r, want := range []string{"[0] rank 0 read 5000 lines", "[1] rank 1 read 0 lines", "[2] rank 2 read 0 lines"} {
				if !strings.Contains(out.String(), want+"\n") {
					t.Errorf("rank %d: output %q lacks %q", r, out.String(), want)
				}
			}
		})
	}
}

// TestRunStops: a signal to the launcher, a second signal, a timeout and
// a cancelled context each stop every rank, here and on hosts.
func TestRunStops(t *testing.T) {
	const trapTerm = `trap 'echo "rank $KIZUNA_RANK got TERM"; exit 0' TERM; echo ready; sleep 30 & wait`
	const ignoreTerm = `trap 'echo "rank $KIZUNA_RANK ignores TERM"' TERM; echo ready; while :; do sleep 30 & wait; done`
	tests := []struct {
		name    string
		hosts   []Host
		script  string
		signals []os.Signal
		timeout time.Duration
		cancel  bool
		check   func(error) bool
		wantOut []string
	}{
		{"SIGTERM forwarded", nil, trapTerm, []os.Signal{syscall.SIGTERM}, 0, false,
			func(err error) bool { var se *SignalError; return errors.As(err, &se) && se.ExitStatus() == 143 },
			[]string{"rank 0 got TERM", "rank 3 got TERM"}},
		{"SIGINT forwarded to hosts", []Host{{"h1", 2}, {"h2", 2}}, `trap 'echo "rank $KIZUNA_RANK got INT"; exit 0' INT; echo ready; sleep 30 & wait`,
			[]os.Signal{syscall.SIGINT}, 0, false,
			func(err error) bool { var se *SignalError; return errors.As(err, &se) && se.ExitStatus() == 130 },
			[]string{"rank 0 got INT", "rank 3 got INT"}},
		{"second signal kills", []Host{{"h1", 2}, {"localhost", 2}}, ignoreTerm, []os.Signal{syscall.SIGTERM, syscall.SIGTERM}, 0, false,
			func(err error) bool { var se *SignalError; return errors.As(err, &se) },
			[]string{"rank 1 ignores TERM"}},
		{"timeout", nil, trapTerm, nil, 300 * time.Millisecond, false,
			func(err error) bool {
				var te *TimeoutError
				return errors.As(err, &te) && te.ExitStatus() == TimeoutStatus
			},
			[]string{"rank 2 got TERM"}},
		{"timeout kills after grace", []Host{{"h1", 4}}, ignoreTerm, nil, 300 * time.Millisecond, false,
			func(err error) bool { var te *TimeoutError; return errors.As(err, &te) },
			[]string{"rank 3 ignores TERM"}},
		{"context", nil, trapTerm, nil, 0, true,
			func(err error) bool { return errors.Is(err, context.Canceled) },
			[]string{"rank 1 got TERM"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out lockedBuf
			sigs := make(chan os.Signal, 2)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			res := make(chan error, 1)
			start := time.Now()
			go func() {
				res <- Run(ctx, Job{NP: 4, Argv: sh(tt.script), Hosts: tt.hosts, Rsh: fakeRsh, Stdout: &out, Stderr: &out,
					Signals: sigs, Timeout: tt.timeout, Grace: 10*time.Second*time.Duration(len(tt.signals)/2) + 400*time.Millisecond})
			}()
			waitFor(t, &out, "ready", 4)
			for _, s := range tt.signals {
				sigs <- s
				time.Sleep(50 * time.Millisecond)
			}
			if tt.cancel {
				cancel()
			}
			err := <-res
			if !tt.check(err) {
				t.Errorf("Run() = %v (%T); not what %s wants", err, err, tt.name)
			}
			for _, w := range tt.wantOut {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
			if d := time.Since(start); d > 9*time.Second {
				t.Errorf("Run took %v to stop; the escalation did not happen", d)
			}
		})
	}
}

// TestAgentLauncherLost: an agent whose input ends stops its ranks and
// reports ErrLauncherLost.
func TestAgentLauncherLost(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	pidFile := t.TempDir() + "/pid"
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	res := make(chan error, 1)
	go func() { res <- Agent(inR, outW, nil, io.Discard); outW.Close() }()
	fw := newFrameWriter(inW)
	err = fw.write(&message{Type: msgSpawn, Spawn: &spawnMsg{Version: protoVersion, Argv: sh(`echo $$ > ` + pidFile + `; echo up; exec sleep 30`),
		Ranks: []rankSpec{{Rank: 0}}, StdinRank: -1, Grace: time.Second, Master: []string{ln.Addr().String()}}})
	if err != nil {
		t.Fatal(err)
	}
	fr := newFrameReader(outR)
	var got []msgType
	for {
		m, err := fr.read()
		if err != nil {
			t.Fatalf("read: %v (got %v)", err, got)
		}
		got = append(got, m.Type)
		if m.Type == msgReady && m.Master != ln.Addr().String() {
			t.Errorf("ready: master %s; want %s", m.Master, ln.Addr())
		}
		if m.Type == msgOutput && string(m.Data) == "up\n" {
			break
		}
	}
	inW.Close()
	var exit message
	for {
		m, err := fr.read()
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		if m.Type == msgExit {
			exit = m
			break
		}
	}
	if exit.Signal != int(syscall.SIGTERM) {
		t.Errorf("rank exit = %+v; want killed by SIGTERM", exit)
	}
	go io.Copy(io.Discard, outR)
	if err := <-res; !errors.Is(err, ErrLauncherLost) {
		t.Errorf("Agent() = %v; want ErrLauncherLost", err)
	}
	pid, _ := os.ReadFile(pidFile)
	var p int
	fmt.Sscan(string(pid), &p)
	if p <= 0 || syscall.Kill(p, 0) == nil {
		t.Errorf("rank process %q still exists", pid)
	}
}

// TestAgentRejects: an agent told nonsense says why and starts nothing.
func TestAgentRejects(t *testing.T) {
	tests := []struct {
		name string
		m    message
		want string
	}{
		{"not a spawn", message{Type: msgSignal, Signal: 15}, "want spawn"},
		{"other version", message{Type: msgSpawn, Spawn: &spawnMsg{Version: protoVersion + 1}}, "protocol version"},
		{"no ranks", message{Type: msgSpawn, Spawn: &spawnMsg{Version: protoVersion, Argv: []string{"true"}}}, "without a program or ranks"},
		{"unreachable store", message{Type: msgSpawn, Spawn: &spawnMsg{Version: protoVersion, Argv: []string{"true"},
			Ranks: []rankSpec{{Rank: 0}}, Master: []string{"127.0.0.1:1"}}}, "cannot reach"},
	}
	for _, tt := range tests {
		var in, out lockedBuf
		newFrameWriter(&in).write(&tt.m)
		err := Agent(strings.NewReader(in.String()), &out, nil, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Agent() = %v; want an error mentioning %q", tt.name, err, tt.want)
		}
		m, rerr := newFrameReader(strings.NewReader(out.String())).read()
		if rerr != nil || m.Type != msgError || !strings.Contains(m.Text, tt.want) {
			t.Errorf("%s: agent sent %+v, %v; want an error message mentioning %q", tt.name, m, rerr, tt.want)
		}
	}
}

// TestRunBadProgram: a program that cannot be found is an error before
// anything starts.
func TestRunBadProgram(t *testing.T) {
	err := Run(context.Background(), Job{NP: 2, Argv: []string{"no-such-program-kizuna"}})
	if err == nil || !strings.Contains(err.Error(), "no-such-program-kizuna") {
		t.Errorf("Run(no-such-program) = %v; want an error naming it", err)
	}
}

// TestRunRshMissing: a remote shell that cannot start is an error naming
// it, and nothing waits for the ranks that never started.
func TestRunRshMissing(t *testing.T) {
	tests := []struct {
		name  string
		hosts []Host
	}{
		{"remote hosts only", []Host{{"h1", 1}, {"h2", 1}, {"h3", 1}}},
		{"this host first", []Host{{"localhost", 1}, {"h2", 2}}},
	}
	for _, tt := range tests {
		err := Run(context.Background(), Job{NP: 3, Argv: sh("sleep 30"), Hosts: tt.hosts, Rsh: "/no/such/rsh {host}"})
		if err == nil || !strings.Contains(err.Error(), "/no/such/rsh") {
			t.Errorf("%s: Run() = %v; want an error naming /no/such/rsh", tt.name, err)
		}
	}
}
