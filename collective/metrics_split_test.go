package collective

import (
	"context"
	"strconv"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// series returns the value of every sample of family name on g whose labels
// include want, keyed by the sample's comm label (counters and gauges; a
// histogram gives its sample count).
func series(t *testing.T, g prometheus.Gatherer, name string, want map[string]string) map[string]float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatalf("Gather() = %v", err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	samples:
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			for k, v := range want {
				if labels[k] != v {
					continue samples
				}
			}
			v := m.GetCounter().GetValue() + m.GetGauge().GetValue() + float64(m.GetHistogram().GetSampleCount())
			got[labels["comm"]] += v
		}
	}
	return got
}

// TestMetricsSplit: a split communicator's operations and bytes are in the
// parent's registry under the child's comm label (rank and peer in the
// child's numbering), and leave it when the child closes.
func TestMetricsSplit(t *testing.T) {
	const n, count = 4, 1024
	comms, err := NewLocal(context.Background(), n, WithConfig(func(cfg *Config) { cfg.Metrics = true }))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		for r := n - 1; r >= 0; r-- {
			comms[r].Close()
		}
	}()
	children := make([]*Comm, n)
	var mu sync.Mutex
	err = runOn(comms, func(ctx context.Context, c *Comm) error {
		ch, err := c.Split(ctx, c.Rank()%2, c.Rank())
		if err != nil {
			return err
		}
		mu.Lock()
		children[c.Rank()] = ch
		mu.Unlock()
		buf := make([]float32, count)
		return AllReduce(ctx, ch, buf, buf, Sum, WithAlgo(Ring))
	})
	if err != nil {
		t.Fatal(err)
	}
	parent := comms[2].Metrics() // rank 2 is rank 1 of the even half
	childID := strconv.FormatUint(uint64(children[2].id), 10)
	if childID == "0" {
		t.Fatalf("split communicator has the parent's id")
	}
	ops := series(t, parent, "kizuna_operation_duration_seconds", map[string]string{"op": "allreduce", "rank": "1"})
	if ops[childID] != 1 {
		t.Errorf("kizuna_operation_duration_seconds{op=allreduce,rank=1} by comm = %v; want 1 operation on comm %s", ops, childID)
	}
	// A two-rank ring all-reduce sends half the buffer twice to the other rank.
	sent := series(t, parent, "kizuna_sent_bytes_total", map[string]string{"rank": "1", "peer": "0"})
	if want := float64(count * 4); sent[childID] != want {
		t.Errorf("kizuna_sent_bytes_total{rank=1,peer=0} by comm = %v; want %v on comm %s", sent, want, childID)
	}
	if err := children[2].Close(); err != nil {
		t.Fatalf("child Close() = %v", err)
	}
	if _, ok := series(t, parent, "kizuna_operations_in_flight", nil)[childID]; ok {
		t.Errorf("comm %s still has metrics after its Close", childID)
	}
	if _, ok := series(t, parent, "kizuna_operations_in_flight", nil)["0"]; !ok {
		t.Errorf("the parent's metrics left its registry with the child's Close")
	}
	for r, ch := range children {
		if r != 2 {
			ch.Close()
		}
	}
}
