package collective

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kizuna-hpc/kizuna/internal/diag"
)

// scrape GETs url and returns the body.
func scrape(t *testing.T, url string) []byte {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: status %d, %v", url, resp.StatusCode, err)
	}
	return b
}

// sample finds the value of the sample with name whose labels include
// every one of want (`peer="1"`), in the text exposition format.
func sample(t *testing.T, text []byte, name string, want ...string) (float64, bool) {
	t.Helper()
	sc := bufio.NewScanner(bytes.NewReader(text))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") || !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		labels, value, ok := strings.Cut(line, "} ")
		if !ok {
			continue
		}
		all := true
		for _, w := range want {
			if !strings.Contains(labels, w) {
				all = false
				break
			}
		}
		if all {
			v, err := strconv.ParseFloat(strings.Fields(value)[0], 64)
			if err != nil {
				t.Fatalf("sample %q: %v", line, err)
			}
			return v, true
		}
	}
	return 0, false
}

// TestMetricsServed: after known operations, /metrics on every rank's own
// port has the bytes a ring all-reduce sends and receives, the operation
// counts by op and algorithm, no errors and nothing in flight; /debug/flight
// serves the flight record; promtool accepts the output.
func TestMetricsServed(t *testing.T) {
	const (
		n     = 4
		count = 4096 // float32 elements, divisible by n
		ops   = 3
	)
	comms, err := NewLocal(context.Background(), n, WithConfig(func(cfg *Config) {
		cfg.MetricsAddr = "127.0.0.1:0"
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		for r := n - 1; r >= 0; r-- {
			if err := comms[r].Close(); err != nil {
				t.Errorf("Close() = %v", err)
			}
		}
	}()
	// The communicator's start may have run collectives of its own: measure
	// from here.
	before := make([][]byte, n)
	flights := make([]int, n)
	for r, c := range comms {
		before[r] = scrape(t, "http://"+c.MetricsAddr()+"/metrics")
		flights[r] = int(c.Flight().Total)
	}
	err = runOn(comms, func(ctx context.Context, c *Comm) error {
		buf := make([]float32, count)
		for range ops {
			if err := AllReduce(ctx, c, buf, buf, Sum, WithAlgo(Ring)); err != nil {
				return err
			}
		}
		return c.Barrier(ctx)
	})
	if err != nil {
		t.Fatal(err)
	}
	// A ring all-reduce sends 2(n-1) blocks of count/n elements to the
	// next rank and receives as many from the previous one.
	wantBytes := float64(ops * 2 * (n - 1) * (count / n) * 4)
	for r, c := range comms {
		addr := c.MetricsAddr()
		if addr == "" {
			t.Fatalf("rank %d: MetricsAddr() = \"\"; want the served address", r)
		}
		text := scrape(t, "http://"+addr+"/metrics")
		next, prev := (r+1)%n, (r+n-1)%n
		checks := []struct {
			name   string
			labels []string
			want   float64
		}{
			{"kizuna_sent_bytes_total", []string{fmt.Sprintf(`peer="%d"`, next), `transport="inproc"`, fmt.Sprintf(`rank="%d"`, r)}, wantBytes},
			{"kizuna_received_bytes_total", []string{fmt.Sprintf(`peer="%d"`, prev)}, wantBytes},
			{"kizuna_operation_duration_seconds_count", []string{`op="allreduce"`, `algo="ring"`}, ops},
			{"kizuna_operation_duration_seconds_count", []string{`op="barrier"`}, 1},
			{"kizuna_operations_in_flight", nil, 0},
			{"kizuna_errors_total", []string{`kind="timeout"`}, 0},
			{"kizuna_peer_connection_up", []string{fmt.Sprintf(`peer="%d"`, next)}, 1},
			{"kizuna_communicator_broken", nil, 0},
		}
		for _, ck := range checks {
			got, ok := sample(t, text, ck.name, ck.labels...)
			if was, _ := sample(t, before[r], ck.name, ck.labels...); strings.HasSuffix(ck.name, "_total") || strings.HasSuffix(ck.name, "_count") { // counters: from the baseline
				got -= was
			}
			if !ok || got != ck.want {
				t.Errorf("rank %d: %s%v = %v (found %v); want %v", r, ck.name, ck.labels, got, ok, ck.want)
			}
		}
		if n > 2 {
			// Only the two ring neighbours get bytes; another peer's counter is 0.
			other := (r + 2) % n
			was, _ := sample(t, before[r], "kizuna_sent_bytes_total", fmt.Sprintf(`peer="%d"`, other))
			if got, _ := sample(t, text, "kizuna_sent_bytes_total", fmt.Sprintf(`peer="%d"`, other)); got != was {
				t.Errorf("rank %d: bytes sent to non-neighbour %d = %v; want 0", r, other, got)
			}
		}
		var rec diag.FlightRecord
		if err := json.Unmarshal(scrape(t, "http://"+addr+"/debug/flight"), &rec); err != nil {
			t.Fatalf("rank %d: /debug/flight: %v", r, err)
		}
		if rec.Rank != r || rec.Reason != diag.ReasonHTTP || len(rec.Ops) != flights[r]+ops+1 || rec.Last().Op != "barrier" {
			t.Errorf("rank %d: /debug/flight = rank %d reason %q %d ops; want rank %d, http, %d ops ending in a barrier", r, rec.Rank, rec.Reason, len(rec.Ops), r, flights[r]+ops+1)
		}
		if r == 0 {
			promtoolCheck(t, text)
		}
	}
}

// promtoolCheck runs `promtool check metrics` (Debian's prometheus
// package) on a scrape.
func promtoolCheck(t *testing.T, text []byte) {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("promtool not found (install Debian's prometheus package): %v", err)
		}
		t.Log("promtool not found; skipping its check (install Debian's prometheus package)")
		return
	}
	cmd := exec.Command(path, "check", "metrics")
	cmd.Stdin = bytes.NewReader(text)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Errorf("promtool check metrics: %v\n%s\nmetrics:\n%s", err, out, text)
	}
}

// TestMetricsPort: rank r serves on port+r, and a port taken is an error
// at start, not a silent loss of metrics.
func TestMetricsPort(t *testing.T) {
	// Find two free consecutive ports by asking for one and hoping for the next.
	var base int
	for range 20 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		base = ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if ln2, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", base+1)); err == nil {
			ln2.Close()
			break
		}
		base = 0
	}
	if base == 0 {
		t.Skip("no two free consecutive ports")
	}
	comms, err := NewLocal(context.Background(), 2, WithConfig(func(cfg *Config) {
		cfg.MetricsAddr = fmt.Sprintf("127.0.0.1:%d", base)
	}))
	if err != nil {
		t.Fatal(err)
	}
	for r, c := range comms {
		if got, want := c.MetricsAddr(), fmt.Sprintf("127.0.0.1:%d", base+r); got != want {
			t.Errorf("rank %d: MetricsAddr() = %s; want %s", r, got, want)
		}
	}
	for r := len(comms) - 1; r >= 0; r-- {
		comms[r].Close()
	}
	// Rank 1's port taken: NewLocal fails, naming it, and rank 0's server is
	// stopped (goleak checks).
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", base+1))
	if err != nil {
		t.Skipf("port %d: %v", base+1, err)
	}
	defer ln.Close()
	_, err = NewLocal(context.Background(), 2, WithConfig(func(cfg *Config) {
		cfg.MetricsAddr = fmt.Sprintf("127.0.0.1:%d", base)
		cfg.Logger = discardLogger()
	}))
	if err == nil || !strings.Contains(err.Error(), "metrics server") || !strings.Contains(err.Error(), strconv.Itoa(base+1)) {
		t.Errorf("NewLocal with rank 1's metrics port taken = %v; want a metrics server error naming port %d", err, base+1)
	}
	if _, err := NewLocal(context.Background(), 1, WithConfig(func(cfg *Config) { cfg.MetricsAddr = "nohostport" })); err == nil {
		t.Errorf("NewLocal with MetricsAddr %q = nil error; want one", "nohostport")
	}
}

// TestMetricsErrors: a timed-out operation is counted by kind.
func TestMetricsErrors(t *testing.T) {
	comms, err := NewLocal(context.Background(), 2, WithConfig(func(cfg *Config) {
		cfg.Metrics = true
		cfg.Timeout = 100 * time.Millisecond
		cfg.Logger = discardLogger()
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		comms[1].Close()
		comms[0].Close()
	}()
	buf := make([]float32, 8)
	if err := AllReduce(context.Background(), comms[0], buf, buf, Sum); err == nil {
		t.Fatal("AllReduce with rank 1 absent = nil; want a timeout")
	}
	mfs, err := comms[0].Metrics().Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "kizuna_errors_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "kind" {
					got[l.GetValue()] = m.GetCounter().GetValue()
				}
			}
		}
	}
	if got["timeout"] != 1 || got["other"] != 0 || got["peer_lost"] != 0 {
		t.Errorf("kizuna_errors_total = %v; want timeout 1, others 0", got)
	}
	if comms[1].Metrics() == nil {
		t.Errorf("Metrics() = nil with Config.Metrics set")
	}
}

// TestMetricsPeerTransport: bytes are labelled with the transport that
// carries each peer's traffic: shared memory between ranks on one host
// under the automatic choice.
func TestMetricsPeerTransport(t *testing.T) {
	comms, err := NewLocal(context.Background(), 2, WithTransport(TransportAuto), WithConfig(func(cfg *Config) { cfg.Metrics = true }))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		comms[1].Close()
		comms[0].Close()
	}()
	err = runOn(comms, func(ctx context.Context, c *Comm) error {
		buf := make([]float32, 64)
		return AllReduce(ctx, c, buf, buf, Sum)
	})
	if err != nil {
		t.Fatal(err)
	}
	mfs, err := comms[0].Metrics().Gather()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, mf := range mfs {
		if mf.GetName() != "kizuna_sent_bytes_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "transport" {
					got = append(got, l.GetValue())
				}
			}
		}
	}
	if len(got) != 1 || got[0] != TransportShm {
		t.Errorf("kizuna_sent_bytes_total transports = %v (endpoint %s); want [shm]", got, comms[0].Transport())
	}
}
