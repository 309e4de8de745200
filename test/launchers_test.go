package test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kizuna-hpc/kizuna/bench"
)

// Tests of `kizuna bench` started by real launchers: Open MPI's mpirun and
// Slurm's srun on a single-node Slurm that the test starts. A missing
// launcher skips the test, or fails it in CI (CI=true), where .ci/run has
// installed them.

const installHint = "install it with: apt-get install -y openmpi-bin slurm-wlm munge (Debian/Ubuntu)"

// inCI reports whether a missing prerequisite must fail the test.
func inCI() bool {
	v := os.Getenv("CI")
	return v == "true" || v == "1"
}

// need returns the paths of the named programs, or skips (fails in CI) the
// test naming the missing ones.
func need(t *testing.T, progs ...string) map[string]string {
	t.Helper()
	paths := map[string]string{}
	var missing []string
	for _, p := range progs {
		path, err := exec.LookPath(p)
		if err != nil {
			// Debian puts daemons in /usr/sbin, which a user's PATH may lack.
			if _, serr := os.Stat(filepath.Join("/usr/sbin", p)); serr == nil {
				path, err = filepath.Join("/usr/sbin", p), nil
			}
		}
		if err != nil {
			missing = append(missing, p)
			continue
		}
		paths[p] = path
	}
	if len(missing) > 0 {
		prereq(t, "%s not found; %s", strings.Join(missing, ", "), installHint)
	}
	return paths
}

// prereq reports a missing prerequisite: a failure in CI, else a skip.
func prereq(t *testing.T, format string, args ...any) {
	t.Helper()
	if inCI() {
		t.Fatalf("CI=true: prerequisite missing: "+format, args...)
	}
	t.Skipf(format, args...)
}

// launcherEnv is this process's environment without any Kizuna or
// launcher variable (go test may itself run under a launcher), plus extra.
func launcherEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(name, "KIZUNA_"), strings.HasPrefix(name, "OMPI_"), strings.HasPrefix(name, "PMI"),
			strings.HasPrefix(name, "SLURM_"), strings.HasPrefix(name, "MPI_LOCAL"),
			name == "RANK", name == "WORLD_SIZE", name == "LOCAL_RANK", name == "JOB_COMPLETION_INDEX":
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}

// checkTable checks `kizuna bench` table output: np ranks, every result
// right.
func checkTable(t *testing.T, out string, np int) {
	t.Helper()
	if want := fmt.Sprintf("# kizuna bench: allreduce, %d ranks,", np); !strings.Contains(out, want) {
		t.Errorf("output lacks %q (one job of %d ranks, not %d separate jobs):\n%s", want, np, np, out)
	}
	if n := strings.Count(out, "# kizuna bench:"); n != 1 {
		t.Errorf("output has %d table headers; want 1 (rank 0 prints):\n%s", n, out)
	}
	if !strings.Contains(out, "# Out of bounds values : 0 OK") {
		t.Errorf("output lacks \"# Out of bounds values : 0 OK\":\n%s", out)
	}
	rows := 0
	for line := range strings.Lines(out) {
		if f := strings.Fields(line); len(f) > 2 && !strings.HasPrefix(f[0], "#") && f[2] == "float32" {
			rows++
		}
	}
	if rows == 0 {
		t.Errorf("output has no result rows:\n%s", out)
	}
}

// checkJSON checks `kizuna bench -json` rows: np ranks, nothing wrong.
func checkJSON(t *testing.T, out string, np int) {
	t.Helper()
	rows := 0
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		if !strings.HasPrefix(sc.Text(), "{") {
			continue
		}
		var r bench.Row
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("bad JSON row %q: %v", sc.Text(), err)
		}
		if r.NP != np || r.Wrong != 0 {
			t.Errorf("row %+v: np = %d, wrong = %d; want %d, 0", r, r.NP, r.Wrong, np)
		}
		rows++
	}
	if rows == 0 {
		t.Errorf("no JSON rows in:\n%s", out)
	}
}

// runCmd runs a launcher command and returns stdout and stderr; a failure
// or a timeout fails the test with both.
func runCmd(t *testing.T, timeout time.Duration, env []string, name string, args ...string) (string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = env
	cmd.Dir = t.TempDir()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	t.Logf("%s %s: %v in %v", filepath.Base(name), strings.Join(args, " "), err, time.Since(start).Round(time.Millisecond))
	if err != nil {
		t.Fatalf("%s %s: %v (ctx: %v)\nstdout:\n%s\nstderr:\n%s", name, strings.Join(args, " "), err, ctx.Err(), stdout.String(), stderr.String())
	}
	return stdout.String(), stderr.String()
}

// noAddrFiles checks that a job left no address file in dir.
func noAddrFiles(t *testing.T, dir string) {
	t.Helper()
	left, _ := filepath.Glob(filepath.Join(dir, "kizuna-*.addr*"))
	if len(left) > 0 {
		t.Errorf("address files left in %s: %v; want rank 0 to remove its file", dir, left)
	}
}

// TestOpenMPI: `mpirun -np 4 kizuna bench` with no Kizuna variable is one
// 4-rank job: the ranks find each other on this host by themselves.
func TestOpenMPI(t *testing.T) {
	mpirun := need(t, "mpirun")["mpirun"]
	tmp := t.TempDir()
	env := launcherEnv("OMPI_ALLOW_RUN_AS_ROOT=1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1", "TMPDIR="+tmp)
	// --allow-run-as-root: CI containers run as root; --oversubscribe: 4
	// ranks on fewer cores.
	mpi := []string{"--allow-run-as-root", "--oversubscribe", "-np", "4"}

	t.Run("no settings", func(t *testing.T) {
		out, _ := runCmd(t, time.Minute, env, mpirun, append(mpi, bins.kizuna, "bench", "-c", "1", "-e", "1M", "-n", "2", "-w", "1")...)
		checkTable(t, out, 4)
		noAddrFiles(t, tmp)
	})
	t.Run("start-up line", func(t *testing.T) {
		out, errOut := runCmd(t, time.Minute, env, mpirun, append(mpi, "-x", "KIZUNA_LOG=info", bins.kizuna, "bench", "-e", "64K", "-n", "1", "-w", "1", "-json")...)
		checkJSON(t, out, 4)
		var lines []string
		for line := range strings.Lines(errOut) {
			if strings.Contains(line, "msg=launched") {
				lines = append(lines, line)
			}
		}
		if len(lines) != 1 || !strings.Contains(lines[0], "launcher=openmpi") || !strings.Contains(lines[0], "rank=0") ||
			!strings.Contains(lines[0], "job=openmpi-") || !strings.Contains(lines[0], `rendezvous="one host`) {
			t.Errorf("start-up lines %q; want one from rank 0 naming openmpi, its job id and the one-host rendezvous\nstderr:\n%s", lines, errOut)
		}
		noAddrFiles(t, tmp)
	})
	t.Run("KIZUNA_MASTER_ADDR", func(t *testing.T) {
		addr := freeAddr(t)
		out, _ := runCmd(t, time.Minute, env, mpirun, append(mpi, "-x", "KIZUNA_MASTER_ADDR="+addr, bins.kizuna, "bench", "-e", "64K", "-n", "1", "-w", "1", "-json")...)
		checkJSON(t, out, 4)
	})
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestSlurm: `srun -n 4 kizuna bench` on a single-node Slurm started here
// is one 4-rank job; `srun -n 1` a 1-rank job.
func TestSlurm(t *testing.T) {
	env := startSlurm(t)
	srun := need(t, "srun")["srun"]
	t.Run("srun -n 4", func(t *testing.T) {
		out, _ := runCmd(t, 90*time.Second, env, srun, "-n", "4", "--overcommit", bins.kizuna, "bench", "-c", "1", "-e", "1M", "-n", "2", "-w", "1")
		checkTable(t, out, 4)
	})
	t.Run("srun -n 1", func(t *testing.T) {
		out, _ := runCmd(t, 90*time.Second, env, srun, "-n", "1", bins.kizuna, "bench", "-e", "1K", "-n", "1", "-w", "1", "-json")
		checkJSON(t, out, 1)
	})
}

// startSlurm starts munged, slurmctld and slurmd for one node (this host)
// in a temporary directory, waits until the node is idle, and returns the
// environment that points srun at it. Every daemon is stopped, and the
// directory removed, when the test ends, however it ends.
func startSlurm(t *testing.T) []string {
	t.Helper()
	bin := need(t, "munged", "mungekey", "slurmctld", "slurmd", "sinfo")
	if os.Getuid() != 0 {
		prereq(t, "a test Slurm needs root (slurmd runs as root)")
	}
	mungeUser, err := user.Lookup("munge")
	if err != nil {
		prereq(t, "no munge user: %v; %s", err, installHint)
	}
	// Not t.TempDir: munged needs every directory above its socket to be
	// searchable by the munge user.
	dir, err := os.MkdirTemp("", "kizuna-slurm-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"munge", "state", "spool", "log"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}

	// munge: a fresh key, munged as the munge user, socket in our dir.
	mdir := filepath.Join(dir, "munge")
	key := filepath.Join(mdir, "munge.key")
	sock := filepath.Join(mdir, "munge.sock")
	if out, err := exec.Command(bin["mungekey"], "--create", "--keyfile", key).CombinedOutput(); err != nil {
		t.Fatalf("mungekey: %v\n%s", err, out)
	}
	uid, _ := strconv.Atoi(mungeUser.Uid)
	gid, _ := strconv.Atoi(mungeUser.Gid)
	for _, p := range []string{mdir, key} {
		if err := os.Chown(p, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(mdir, 0o711); err != nil { // munged: socket dir searchable by all, not writable
		t.Fatal(err)
	}
	munged := startDaemon(t, dir, "munged", &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil, bin["munged"], "--foreground",
		"--key-file="+key, "--socket="+sock, "--pid-file="+filepath.Join(mdir, "munged.pid"),
		"--log-file="+filepath.Join(mdir, "munged.log"), "--seed-file="+filepath.Join(mdir, "munged.seed"))
	waitFor(t, 10*time.Second, "munged's socket", func() bool { _, err := os.Stat(sock); return err == nil }, munged)

	// slurm.conf: this host as the one node, as `slurmd -C` describes it.
	out, err := exec.Command(bin["slurmd"], "-C").Output()
	if err != nil {
		t.Fatalf("slurmd -C: %v", err)
	}
	node, _, _ := strings.Cut(string(out), "\n")
	if !strings.HasPrefix(node, "NodeName=") {
		t.Fatalf("slurmd -C printed %q; want a NodeName= line", out)
	}
	nodeName := strings.Fields(strings.TrimPrefix(node, "NodeName="))[0]
	conf := filepath.Join(dir, "slurm.conf")
	confText := fmt.Sprintf(`ClusterName=kizunatest
SlurmctldHost=%[1]s
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=%[2]s
SlurmctldPort=%[3]d
SlurmdPort=%[4]d
StateSaveLocation=%[5]s/state
SlurmdSpoolDir=%[5]s/spool
SlurmctldPidFile=%[5]s/slurmctld.pid
SlurmdPidFile=%[5]s/slurmd.pid
SlurmctldLogFile=%[5]s/log/slurmctld.log
SlurmdLogFile=%[5]s/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
ReturnToService=2
MailProg=/bin/true
%[6]s State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
`, nodeName, sock, freePort(t), freePort(t), dir, node)
	if err := os.WriteFile(conf, []byte(confText), 0o644); err != nil {
		t.Fatal(err)
	}
	env := launcherEnv("SLURM_CONF=" + conf)
	ctld := startDaemon(t, dir, "slurmctld", nil, env, bin["slurmctld"], "-D", "-c", "-i")
	slurmd := startDaemon(t, dir, "slurmd", nil, env, bin["slurmd"], "-D")
	waitFor(t, 60*time.Second, "the node to be idle in sinfo", func() bool {
		sinfo := exec.Command(bin["sinfo"], "-h", "-o", "%t")
		sinfo.Env = env
		out, err := sinfo.Output()
		return err == nil && strings.TrimSpace(string(out)) == "idle"
	}, ctld, slurmd)
	return env
}

// daemon is a process the test started and stops.
type daemon struct {
	name string
	cmd  *exec.Cmd
	out  *syncWriter   // read while the daemon still writes
	done chan struct{} // closed when cmd has been waited for
	err  error         // set before done is closed
	logs []string      // files worth showing when something fails
}

// startDaemon starts a daemon in its own process group; t.Cleanup stops the
// whole group (SIGTERM, then SIGKILL) and waits for it.
func startDaemon(t *testing.T, dir, name string, cred *syscall.Credential, env []string, path string, args ...string) *daemon {
	t.Helper()
	cmd := exec.Command(path, args...)
	cmd.Env = env
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: cred}
	d := &daemon{name: name, cmd: cmd, out: &syncWriter{w: new(bytes.Buffer)}, done: make(chan struct{})}
	d.logs = []string{filepath.Join(dir, "log", name+".log"), filepath.Join(dir, "munge", name+".log")}
	cmd.Stdout, cmd.Stderr = d.out, d.out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { d.err = cmd.Wait(); close(d.done) }() // owned by the cleanup below, which waits for done
	t.Cleanup(func() {
		pgid := cmd.Process.Pid
		syscall.Kill(-pgid, syscall.SIGTERM)
		select {
		case <-d.done:
		case <-time.After(10 * time.Second):
			syscall.Kill(-pgid, syscall.SIGKILL)
			<-d.done
		}
		// slurmd's step daemons live in their own sessions; none should
		// outlive a finished srun, but make sure.
		syscall.Kill(-pgid, syscall.SIGKILL)
		if t.Failed() {
			t.Logf("%s output:\n%s%s", name, d.out.String(), d.logTail())
		}
	})
	return d
}

func (d *daemon) logTail() string {
	var b strings.Builder
	for _, f := range d.logs {
		if data, err := os.ReadFile(f); err == nil {
			lines := strings.Split(strings.TrimSpace(string(data)), "\n")
			fmt.Fprintf(&b, "%s (last lines):\n%s\n", f, strings.Join(lines[max(0, len(lines)-20):], "\n"))
		}
	}
	return b.String()
}

// waitFor polls cond until it holds; it fails the test when timeout passes
// first or one of the daemons exits.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool, ds ...*daemon) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		for _, d := range ds {
			select {
			case <-d.done:
				t.Fatalf("waiting for %s: %s exited: %v\n%s%s", what, d.name, d.err, d.out.String(), d.logTail())
			default:
			}
		}
		if time.Now().After(deadline) {
			var b strings.Builder
			for _, d := range ds {
				fmt.Fprintf(&b, "%s output:\n%s%s", d.name, d.out.String(), d.logTail())
			}
			t.Fatalf("waiting for %s: not after %v\n%s", what, timeout, b.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
