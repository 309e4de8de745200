package test

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// markEnv marks every process of a test's job, so that leftovers can be
// found by their environment.
const markEnv = "KIZUNA_TEST_MARK"

func newMark(t *testing.T) string {
	t.Helper()
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// marked lists the live processes whose environment carries mark.
func marked(mark string) []string {
	want := []byte(markEnv + "=" + mark + "\x00")
	paths, _ := filepath.Glob("/proc/[0-9]*/environ")
	var pids []string
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil || !bytes.Contains(b, want) {
			continue
		}
		pid := filepath.Base(filepath.Dir(p))
		// A zombie keeps no environment, but check the state anyway.
		if st, err := os.ReadFile("/proc/" + pid + "/stat"); err == nil && bytes.Contains(st, []byte(") Z ")) {
			continue
		}
		pids = append(pids, pid)
	}
	return pids
}

// checkNoLeftovers fails the test if any process of the job (mark) is
// still alive shortly after the launcher exited.
func checkNoLeftovers(t *testing.T, mark string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		left := marked(mark)
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			for _, pid := range left {
				cmd, _ := os.ReadFile("/proc/" + pid + "/cmdline")
				t.Errorf("process %s (%q) outlived the launcher", pid, bytes.ReplaceAll(cmd, []byte{0}, []byte{' '}))
				var p int
				if _, err := fmt.Sscan(pid, &p); err == nil {
					syscall.Kill(p, syscall.SIGKILL)
				}
			}
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// startRun starts `kizuna run` with the test's marker exported to every
// rank.
func startRun(t *testing.T, mark, stdin string, args ...string) (*exec.Cmd, *syncWriter, *syncWriter) {
	t.Helper()
	args = append([]string{"run", "-x", markEnv + "=" + mark, "-x", "KIZUNA_TIMEOUT=60s"}, args...)
	cmd := exec.Command(bins.kizuna, args...)
	cmd.Stdin = strings.NewReader(stdin)
	stdout, stderr := &syncWriter{w: new(bytes.Buffer)}, &syncWriter{w: new(bytes.Buffer)}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	return cmd, stdout, stderr
}

// exitStatus is cmd's exit status after Wait, 128+signal when a signal
// ended it.
func exitStatus(err error) int {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		if err == nil {
			return 0
		}
		return -1
	}
	if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ee.ExitCode()
}

// TestRun: `kizuna run` with 4 ranks on this host, through the real
// command and the rankprog helper.
func TestRun(t *testing.T) {
	tests := []struct {
		name       string
		args       []string // after run's own -x flags
		stdin      string
		signal     syscall.Signal // sent to the launcher once every rank printed "ready"
		wantStatus int
		wantOut    []string // regexps, each must match the stdout
		wantErr    []string // regexps, each must match the stderr
		noOut      []string // regexps that must not match the stdout
	}{
		{
			name: "environment",
			args: []string{"-np", "4", "-x", "KIZUNA_TEST_EXTRA=hello", "--", bins.rankprog, "-mode", "env"},
			wantOut: []string{
				`(?m)^rank 0 of 4 local 0/4 node 0 sum 6 extra hello token [0-9a-f]{64}$`,
				`(?m)^rank 1 of 4 local 1/4 node 0 sum 6 extra hello token [0-9a-f]{64}$`,
				`(?m)^rank 2 of 4 local 2/4 node 0 sum 6 extra hello token [0-9a-f]{64}$`,
				`(?m)^rank 3 of 4 local 3/4 node 0 sum 6 extra hello token [0-9a-f]{64}$`,
			},
		},
		{
			name: "tagged output",
			args: []string{"-np", "4", "--tag-output", "--", bins.rankprog, "-mode", "env"},
			wantOut: []string{
				`(?m)^\[0\] rank 0 of 4 `, `(?m)^\[1\] rank 1 of 4 `, `(?m)^\[2\] rank 2 of 4 `, `(?m)^\[3\] rank 3 of 4 `,
			},
		},
		{
			name:  "stdin to rank 0",
			args:  []string{"-np", "4", "--", bins.rankprog, "-mode", "stdin"},
			stdin: "alpha\nbeta\n",
			wantOut: []string{
				`(?m)^rank 0 read 11 bytes: "alpha\\nbeta\\n"$`,
				`(?m)^rank 1 read 0 bytes: ""$`, `(?m)^rank 2 read 0 bytes: ""$`, `(?m)^rank 3 read 0 bytes: ""$`,
			},
		},
		{
			name:       "failing rank",
			args:       []string{"-np", "4", "--", bins.rankprog, "-mode", "exit", "-rank", "2", "-code", "3"},
			wantStatus: 3,
			wantErr: []string{
				`kizuna run: rank 2 exited with status 3; last lines of its stderr:\n  rank 2: first stderr line\n  rank 2 failing on purpose\n`,
			},
		},
		{
			name:       "killed rank",
			args:       []string{"-np", "4", "--grace", "1s", "--", bins.rankprog, "-mode", "kill", "-rank", "1"},
			wantStatus: 128 + 9,
			wantErr:    []string{`kizuna run: rank 1 was killed by signal 9 \(killed\)`},
		},
		{
			name:       "SIGTERM forwarded",
			args:       []string{"-np", "4", "--", bins.rankprog, "-mode", "sleep", "-child"},
			signal:     syscall.SIGTERM,
			wantStatus: 128 + 15,
			wantOut: []string{
				`rank 0 got signal terminated`, `rank 1 got signal terminated`,
				`rank 2 got signal terminated`, `rank 3 got signal terminated`,
			},
			wantErr: []string{`kizuna run: got signal 15 \(terminated\); forwarded it to every rank`},
		},
		{
			name:       "SIGINT forwarded",
			args:       []string{"-np", "4", "--", bins.rankprog, "-mode", "sleep"},
			signal:     syscall.SIGINT,
			wantStatus: 128 + 2,
			wantOut:    []string{`rank 0 got signal interrupt`, `rank 3 got signal interrupt`},
		},
		{
			name:       "timeout",
			args:       []string{"-np", "4", "--timeout", "1s", "--grace", "500ms", "--", bins.rankprog, "-mode", "sleep", "-ignore-term", "-child"},
			wantStatus: 124,
			wantOut:    []string{`rank 0 ignores SIGTERM`, `rank 3 ignores SIGTERM`},
			wantErr:    []string{`kizuna run: job still running after the 1s timeout; stopped every rank`},
			noOut:      []string{`got signal`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mark := newMark(t)
			cmd, stdout, stderr := startRun(t, mark, tt.stdin, tt.args...)
			var sent time.Time
			if tt.signal != 0 {
				deadline := time.Now().Add(30 * time.Second)
				for strings.Count(stdout.String(), "ready\n") < 4 {
					if time.Now().After(deadline) {
						t.Fatalf("ranks never got ready:\n%s\n%s", stdout, stderr)
					}
					time.Sleep(10 * time.Millisecond)
				}
				sent = time.Now()
				cmd.Process.Signal(tt.signal)
			}
			err, ended := waitExit(cmd, 60*time.Second)
			if !ended {
				t.Fatalf("kizuna run did not end in 60s:\n%s\n%s", stdout, stderr)
			}
			if tt.signal != 0 {
				t.Logf("%v to exit: %v", tt.signal, time.Since(sent))
			}
			if got := exitStatus(err); got != tt.wantStatus {
				t.Errorf("kizuna run %s: exit status %d; want %d\nstdout:\n%s\nstderr:\n%s", tt.name, got, tt.wantStatus, stdout, stderr)
			}
			for _, re := range tt.wantOut {
				if !regexp.MustCompile(re).MatchString(stdout.String()) {
					t.Errorf("stdout lacks %q:\n%s", re, stdout)
				}
			}
			for _, re := range tt.noOut {
				if regexp.MustCompile(re).MatchString(stdout.String()) {
					t.Errorf("stdout has %q:\n%s", re, stdout)
				}
			}
			for _, re := range tt.wantErr {
				if !regexp.MustCompile(re).MatchString(stderr.String()) {
					t.Errorf("stderr lacks %q:\n%s", re, stderr)
				}
			}
			checkNoLeftovers(t, mark)
		})
	}
}

// TestRunLauncherKilled: even a SIGKILLed launcher leaves no rank, nor
// anything a rank started, behind.
func TestRunLauncherKilled(t *testing.T) {
	mark := newMark(t)
	cmd, stdout, stderr := startRun(t, mark, "", "-np", "4", "--grace", "1s", "--", bins.rankprog, "-mode", "sleep", "-child")
	deadline := time.Now().Add(30 * time.Second)
	for strings.Count(stdout.String(), "ready\n") < 4 {
		if time.Now().After(deadline) {
			t.Fatalf("ranks never got ready:\n%s\n%s", stdout, stderr)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := len(marked(mark)); n < 8 {
		t.Fatalf("found %d marked processes; want at least 8 (4 ranks and their children): the check would prove nothing", n)
	}
	cmd.Process.Kill()
	cmd.Wait()
	checkNoLeftovers(t, mark)
}

// TestRunUsage: bad command lines exit 2 with a message.
func TestRunUsage(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"run", "-np", "2"}, "no program"},
		{[]string{"run", "--", "true"}, "-np"},
		{[]string{"run", "-np", "3", "-H", "a:1,b:1", "--", "true"}, "only 2 slots"},
		{[]string{"run", "-np", "1", "--timeout", "soon", "--", "true"}, "--timeout"},
		{[]string{"run", "-np", "1", "--", "/no/such/program"}, "/no/such/program"},
	}
	for _, tt := range tests {
		out, err := exec.Command(bins.kizuna, tt.args...).CombinedOutput()
		if exitStatus(err) != 2 || !strings.Contains(string(out), tt.want) {
			t.Errorf("kizuna %q: status %d, output %q; want status 2 and %q", tt.args, exitStatus(err), out, tt.want)
		}
	}
}
