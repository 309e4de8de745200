package test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kizuna-hpc/kizuna/collective"
	"github.com/kizuna-hpc/kizuna/internal/diag"
)

// TestRunTimeoutFlightSummary: in a 4-rank job where rank 3 never calls the
// last all-reduce, `kizuna run --timeout` asks the ranks for their flight
// records and prints one summary naming rank 3 as the one behind and who
// waits for whom, and still exits 124.
func TestRunTimeoutFlightSummary(t *testing.T) {
	prog := buildProg(t, "./diagprog")
	mark := newMark(t)
	cmd, stdout, stderr := startRun(t, mark, "", "-np", "4", "--timeout", "4s", "-x", "KIZUNA_ALGO=ring",
		"--", prog, "-mode", "hang", "-rank", "3", "-ops", "2")
	err, ended := waitExit(cmd, 60*time.Second)
	if !ended {
		t.Fatalf("kizuna run did not end in 60s:\n%s\n%s", stdout, stderr)
	}
	if got := exitStatus(err); got != 124 {
		t.Errorf("kizuna run --timeout: exit status %d; want 124\nstderr:\n%s", got, stderr)
	}
	if n := strings.Count(stdout.String(), "ready\n"); n != 4 {
		t.Fatalf("%d ranks got ready; want 4\nstdout:\n%s\nstderr:\n%s", n, stdout, stderr)
	}
	// Ranks 0-2 wait in the all-reduce after the ones all ranks did; in a
	// ring, rank 0 waits for rank 3 and ranks 1 and 2 for their left
	// neighbour. The communicator's start may run collectives of its own,
	// so the sequence numbers are read from the summary.
	m := regexp.MustCompile(`behind: rank 3 is idle after allreduce #(\d+) \(done\); rank 0, 1, 2 ahead of it`).FindStringSubmatch(stderr.String())
	if m == nil {
		t.Fatalf("stderr lacks the summary naming rank 3 as behind:\n%s", stderr)
	}
	last, _ := strconv.Atoi(m[1])
	for r, peer := range []int{3, 0, 1} {
		want := fmt.Sprintf(`kizuna run:   rank %d waits in allreduce #%d \(ring, 4096 B, step \d+/6, recv\) for rank %d`, r, last+1, peer)
		if !regexp.MustCompile(want).MatchString(stderr.String()) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if !strings.Contains(stderr.String(), "; rank 3 is idle after allreduce #"+m[1]) {
		t.Errorf("stderr does not say where rank 3 is:\n%s", stderr)
	}
	// The records stay where the summary says they are.
	dm := regexp.MustCompile(`flight records of the ranks \(in (\S+)\):`).FindStringSubmatch(stderr.String())
	if dm == nil {
		t.Fatalf("stderr does not name the flight directory:\n%s", stderr)
	}
	defer os.RemoveAll(dm[1])
	recs, err := diag.ReadFlights(dm[1])
	if err != nil || len(recs[0]) != 4 {
		t.Errorf("ReadFlights(%s) = %d records, %v; want 4", dm[1], len(recs[0]), err)
	}
	for r, rec := range recs[0] {
		if rec.Reason != diag.ReasonSignal && rec.Reason != diag.ReasonClose {
			t.Errorf("rank %d's record: reason %q; want %q (SIGUSR1)", r, rec.Reason, diag.ReasonSignal)
		}
	}
	checkNoLeftovers(t, mark)
}

// TestRunTimeline: `kizuna run --timeline DIR` gives every rank
// KIZUNA_TIMELINE and merges their traces into DIR/timeline.json, with
// every rank's operations in it; `kizuna timeline merge` does the same.
func TestRunTimeline(t *testing.T) {
	prog := buildProg(t, "./diagprog")
	dir := t.TempDir()
	mark := newMark(t)
	cmd, stdout, stderr := startRun(t, mark, "", "-np", "3", "--timeline", dir, "--", prog, "-mode", "ops", "-ops", "2")
	err, ended := waitExit(cmd, 60*time.Second)
	if !ended || err != nil {
		t.Fatalf("kizuna run --timeline = %v (ended %v)\n%s\n%s", err, ended, stdout, stderr)
	}
	if !strings.Contains(stderr.String(), "3 files merged") {
		t.Errorf("stderr lacks the merge note:\n%s", stderr)
	}
	check := func(what string, b []byte) {
		var tr diag.Trace
		if err := json.Unmarshal(b, &tr); err != nil {
			t.Fatalf("%s: not a trace: %v", what, err)
		}
		count := map[string]int{}
		for _, e := range tr.TraceEvents {
			if e.Ph == "X" && e.Cat == "op" {
				count[fmt.Sprintf("%d/%s", e.Pid, e.Name)]++
			}
		}
		for r := range 3 {
			for _, op := range []string{"allreduce", "broadcast", "allgather"} {
				if n := count[fmt.Sprintf("%d/%s", r, op)]; n < 2 {
					t.Errorf("%s: rank %d has %d %s events; want at least 2", what, r, n, op)
				}
			}
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, "timeline.json"))
	if err != nil {
		t.Fatal(err)
	}
	check("kizuna run --timeline", b)
	out, err := exec.Command(bins.kizuna, "timeline", "merge", dir, "-o", "-").Output()
	if err != nil {
		t.Fatalf("kizuna timeline merge: %v", err)
	}
	check("kizuna timeline merge", out)
	checkNoLeftovers(t, mark)
}

// TestPrometheusScrapes: a real Prometheus server (Debian's prometheus
// package), configured by the test to scrape both ranks of a 2-rank job
// every second, stores Kizuna's metrics: its query API returns the number
// of all-reduces each rank ran.
func TestPrometheusScrapes(t *testing.T) {
	prom, err := exec.LookPath("prometheus")
	if err != nil {
		prereq(t, "prometheus not found (%v); install it with: apt-get install -y prometheus (Debian/Ubuntu)", err)
	}
	const ops = 5
	comms, err := collective.NewLocal(context.Background(), 2, collective.WithTransport(collective.TransportTCP),
		collective.WithConfig(func(cfg *collective.Config) { cfg.MetricsAddr = "127.0.0.1:0" }))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		comms[1].Close()
		comms[0].Close()
	}()
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for r, c := range comms {
		wg.Go(func() {
			buf := make([]float32, 1000)
			for range ops {
				if err := collective.AllReduce(context.Background(), c, buf, buf, collective.Sum, collective.WithAlgo(collective.Ring)); err != nil {
					errs[r] = err
					return
				}
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	config := fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: kizuna
    static_configs:
      - targets: [%q, %q]
`, comms[0].MetricsAddr(), comms[1].MetricsAddr())
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	web := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	var log syncWriter
	log.w = new(bytes.Buffer)
	cmd := exec.Command(prom, "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+web)
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	query := `kizuna_operation_duration_seconds_count{op="allreduce",algo="ring"}`
	client := &http.Client{Timeout: 5 * time.Second}
	deadline := time.Now().Add(60 * time.Second)
	for {
		got, err := promQuery(client, web, query)
		if err == nil && len(got) == 2 && got["0"] == ops && got["1"] == ops {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Prometheus query %s = %v, %v; want %d all-reduces on ranks 0 and 1\nprometheus log:\n%s", query, got, err, ops, log.String())
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// promQuery runs an instant query and returns each series' value by its
// rank label.
func promQuery(client *http.Client, addr, q string) (map[string]float64, error) {
	resp, err := client.Get("http://" + addr + "/api/v1/query?query=" + url.QueryEscape(q))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	var r struct {
		Status string `json:"status"`
		Data   struct {
			Result []struct {
				Metric map[string]string `json:"metric"`
				Value  [2]any            `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("query response %q: %w", b, err)
	}
	if r.Status != "success" {
		return nil, fmt.Errorf("query status %q: %s", r.Status, b)
	}
	out := map[string]float64{}
	for _, s := range r.Data.Result {
		v, _ := s.Value[1].(string)
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return nil, fmt.Errorf("value %v: %w", s.Value, err)
		}
		out[s.Metric["rank"]] = f
	}
	return out, nil
}

// TestRunSIGUSR1Summary: SIGUSR1 to kizuna run prints the summary of a
// hung job and the job goes on, until it is stopped.
func TestRunSIGUSR1Summary(t *testing.T) {
	prog := buildProg(t, "./diagprog")
	mark := newMark(t)
	cmd, stdout, stderr := startRun(t, mark, "", "-np", "3", "-x", "KIZUNA_ALGO=ring",
		"--", prog, "-mode", "hang", "-rank", "1", "-ops", "1")
	deadline := time.Now().Add(30 * time.Second)
	for strings.Count(stdout.String(), "ready\n") < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("ranks never got ready:\n%s\n%s", stdout, stderr)
		}
		time.Sleep(10 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGUSR1)
	re := regexp.MustCompile(`behind: rank 1 is idle after allreduce #\d+ \(done\); rank 0, 2 ahead of it`)
	for !re.MatchString(stderr.String()) {
		if time.Now().After(deadline) {
			t.Fatalf("no summary after SIGUSR1:\n%s", stderr)
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	if n := len(marked(mark)); n < 3 {
		t.Fatalf("%d ranks alive after SIGUSR1; want the job to go on with 3\n%s", n, stderr)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	err, ended := waitExit(cmd, 30*time.Second)
	if !ended {
		t.Fatalf("kizuna run did not end after SIGTERM:\n%s", stderr)
	}
	if got := exitStatus(err); got != 128+15 {
		t.Errorf("kizuna run after SIGTERM: exit status %d; want %d\n%s", got, 128+15, stderr)
	}
	if m := regexp.MustCompile(`flight records of the ranks \(in (\S+)\):`).FindStringSubmatch(stderr.String()); m != nil {
		os.RemoveAll(m[1])
	}
	checkNoLeftovers(t, mark)
}

// TestMismatchExitBlame: in a 4-rank job over TCP where rank 3 all-reduces
// a different count and every rank exits the moment its operation fails
// (no Close), every rank reports the mismatch: none blames a rank whose
// link broke because it exited after announcing it.
func TestMismatchExitBlame(t *testing.T) {
	prog := buildProg(t, "./diagprog")
	for i := range 3 {
		mark := newMark(t)
		cmd, stdout, stderr := startRun(t, mark, "", "-np", "4", "-x", "KIZUNA_TRANSPORT=tcp",
			"--", prog, "-mode", "mismatch", "-rank", "3")
		if _, ended := waitExit(cmd, 60*time.Second); !ended {
			t.Fatalf("kizuna run did not end in 60s:\n%s\n%s", stdout, stderr)
		}
		out := stdout.String()
		if n := strings.Count(out, "mismatch=true"); n != 4 {
			t.Fatalf("run %d: %d of 4 ranks reported the mismatch; want 4\nstdout:\n%s\nstderr:\n%s", i, n, out, stderr)
		}
		if n := strings.Count(out, "rank 3 called allreduce(count=1025"); n != 4 {
			t.Fatalf("run %d: %d of 4 ranks named rank 3's call; want 4\nstdout:\n%s", i, n, out)
		}
	}
}
