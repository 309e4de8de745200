package test

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// needNetns checks the netns test's prerequisites: root and iproute2's ip.
// In CI (CI=true) a missing one fails the test; elsewhere it skips.
func needNetns(t *testing.T) {
	t.Helper()
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, "root (to create network namespaces)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		missing = append(missing, "the ip command (iproute2)")
	}
	if len(missing) == 0 {
		return
	}
	msg := "network namespace test needs " + strings.Join(missing, " and ")
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg + "; skipped outside CI")
}

// ip runs the ip command and fails the test on error.
func ip(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// netnsHosts builds n network namespaces, each with one address in a
// private /24, joined by a bridge that lives in a namespace of its own (so
// that the host's firewall never sees traffic between them), and linked to
// this namespace, which gets the .1 address. It returns the namespaces'
// names and the subnet's first three octets; t.Cleanup removes everything,
// whatever happens.
func netnsHosts(t *testing.T, n int) ([]string, string) {
	t.Helper()
	var id [3]byte
	rand.Read(id[:])
	tag := hex.EncodeToString(id[:])
	// A subnet nothing here uses yet.
	addrs, err := exec.Command("ip", "-o", "-4", "addr", "show").Output()
	if err != nil {
		t.Fatalf("ip addr show: %v", err)
	}
	net3 := ""
	for range 50 {
		x, _ := rand.Int(rand.Reader, big.NewInt(200))
		cand := fmt.Sprintf("10.231.%d", 20+x.Int64())
		if !strings.Contains(string(addrs), cand+".") {
			net3 = cand
			break
		}
	}
	if net3 == "" {
		t.Fatal("no free 10.231.x.0/24 subnet")
	}

	hub := "kzhub-" + tag
	ip(t, "netns", "add", hub)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", hub).Run() })
	ip(t, "-n", hub, "link", "add", "br0", "type", "bridge")
	ip(t, "-n", hub, "link", "set", "br0", "up")
	ip(t, "-n", hub, "link", "set", "lo", "up")

	// This namespace's leg: kzr<tag> here, its peer on the bridge.
	here := "kzr" + tag
	ip(t, "link", "add", here, "type", "veth", "peer", "name", "up0", "netns", hub)
	t.Cleanup(func() { exec.Command("ip", "link", "del", here).Run() })
	ip(t, "addr", "add", net3+".1/24", "dev", here)
	ip(t, "link", "set", here, "up")
	ip(t, "-n", hub, "link", "set", "up0", "master", "br0", "up")

	names := make([]string, n)
	for i := range n {
		ns := fmt.Sprintf("kzns-%s-%d", tag, i)
		names[i] = ns
		ip(t, "netns", "add", ns)
		t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
		leg := fmt.Sprintf("leg%d", i)
		ip(t, "-n", ns, "link", "add", "eth0", "type", "veth", "peer", "name", leg, "netns", hub)
		ip(t, "-n", ns, "addr", "add", fmt.Sprintf("%s.%d/24", net3, i+2), "dev", "eth0")
		ip(t, "-n", ns, "link", "set", "eth0", "up")
		ip(t, "-n", ns, "link", "set", "lo", "up")
		ip(t, "-n", hub, "link", "set", leg, "master", "br0", "up")
	}
	return names, net3
}

// TestRunNetns: `kizuna run` across 4 network namespaces joined by a
// bridge, started through --rsh "ip netns exec {host}": a checked
// all-reduce, a failing rank named with its host, and SIGTERM reaching
// every namespace, each leaving no process behind.
func TestRunNetns(t *testing.T) {
	needNetns(t)
	names, net3 := netnsHosts(t, 4)
	hostfile := filepath.Join(t.TempDir(), "hosts")
	var hf strings.Builder
	fmt.Fprintln(&hf, "# one rank per network namespace")
	for _, ns := range names {
		fmt.Fprintf(&hf, "%s slots=1\n", ns)
	}
	if err := os.WriteFile(hostfile, []byte(hf.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	common := []string{"-v", "-np", "4", "-hostfile", hostfile, "--rsh", "ip netns exec {host}", "--grace", "2s", "--"}

	tests := []struct {
		name       string
		prog       []string
		signal     syscall.Signal
		wantStatus int
		wantOut    []string
		wantErr    []string
	}{
		{
			name:    "all-reduce",
			prog:    []string{bins.kizuna, "bench", "-op", "allreduce", "-b", "8", "-e", "1M", "-c", "1", "-n", "2", "-w", "1"},
			wantOut: []string{`(?m)^\s+1048576\s+262144\s+float32\s+sum\s`, `# Out of bounds values : 0 OK`},
		},
		{
			name:       "failing rank",
			prog:       []string{bins.rankprog, "-mode", "exit", "-rank", "2", "-code", "5"},
			wantStatus: 5,
			wantErr:    []string{regexp.QuoteMeta("kizuna run: rank 2 on " + names[2] + " exited with status 5")},
		},
		{
			name:       "SIGTERM",
			prog:       []string{bins.rankprog, "-mode", "sleep", "-child"},
			signal:     syscall.SIGTERM,
			wantStatus: 128 + 15,
			wantOut:    []string{`rank 0 got signal terminated`, `rank 3 got signal terminated`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mark := newMark(t)
			cmd, stdout, stderr := startRun(t, mark, "", append(common, tt.prog...)...)
			if tt.signal != 0 {
				deadline := time.Now().Add(30 * time.Second)
				for strings.Count(stdout.String(), "ready\n") < 4 {
					if time.Now().After(deadline) {
						t.Fatalf("ranks never got ready:\n%s\n%s", stdout, stderr)
					}
					time.Sleep(10 * time.Millisecond)
				}
				cmd.Process.Signal(tt.signal)
			}
			err, ended := waitExit(cmd, 60*time.Second)
			if !ended {
				t.Fatalf("kizuna run did not end in 60s:\n%s\n%s", stdout, stderr)
			}
			if got := exitStatus(err); got != tt.wantStatus {
				t.Fatalf("exit status %d; want %d\nstdout:\n%s\nstderr:\n%s", got, tt.wantStatus, stdout, stderr)
			}
			// Every agent reached the store through the bridge and had its
			// ranks listen on its own namespace's address.
			for i, ns := range names {
				want := fmt.Sprintf("host %s (", ns)
				re := regexp.QuoteMeta(want) + `[^)]*\): ranks ` + fmt.Sprint(i) +
					regexp.QuoteMeta(fmt.Sprintf(" started; store reached at %s.1:", net3)) + `\d+` +
					regexp.QuoteMeta(fmt.Sprintf(", ranks listen on %s.%d", net3, i+2))
				if (tt.wantStatus == 0 || tt.signal != 0) && !regexp.MustCompile(re).MatchString(stderr.String()) {
					t.Errorf("stderr lacks %q:\n%s", re, stderr)
				}
			}
			for _, re := range tt.wantOut {
				if !regexp.MustCompile(re).MatchString(stdout.String()) {
					t.Errorf("stdout lacks %q:\n%s", re, stdout)
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
