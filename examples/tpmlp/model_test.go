package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"github.com/kizuna-hpc/kizuna/collective"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// small is a model small enough for finite differences, with a hidden
// size and batch that split unevenly over 2 and 3 ranks.
var small = config{TP: 1, DP: 1, Steps: 12, In: 5, Hidden: 7, Out: 3, Batch: 8, Seed: 7, LR: 0.3, BucketBytes: 64}

// naiveModel is the whole model, unsharded, for the oracle below.
type naiveModel struct {
	g, b1, b2 []float64
	w1, w2    [][]float64 // [Hidden][In], [Out][Hidden]
}

func newNaive(c config) *naiveModel {
	m := &naiveModel{g: make([]float64, c.In), b1: make([]float64, c.Hidden), b2: make([]float64, c.Out)}
	for j := range m.g {
		m.g[j] = 1
	}
	for k := range c.Hidden {
		row := make([]float64, c.In)
		for j := range row {
			row[j] = initW1(c, k, j)
		}
		m.w1 = append(m.w1, row)
	}
	for o := range c.Out {
		row := make([]float64, c.Hidden)
		for k := range row {
			row[k] = initW2(c, o, k)
		}
		m.w2 = append(m.w2, row)
	}
	return m
}

// all lists pointers to every parameter, in a fixed order.
func (m *naiveModel) all() []*float64 {
	var ps []*float64
	for _, v := range [][]float64{m.g, m.b1, m.b2} {
		for i := range v {
			ps = append(ps, &v[i])
		}
	}
	for _, rows := range [][][]float64{m.w1, m.w2} {
		for _, r := range rows {
			for i := range r {
				ps = append(ps, &r[i])
			}
		}
	}
	return ps
}

// lossGrad is the oracle: one sample at a time, the loss of step s's
// global batch and its gradient for every parameter (in all() order).
func (m *naiveModel) lossGrad(c config, s int) (float64, []float64) {
	grad := &naiveModel{g: make([]float64, c.In), b1: make([]float64, c.Hidden), b2: make([]float64, c.Out)}
	for range c.Hidden {
		grad.w1 = append(grad.w1, make([]float64, c.In))
	}
	for range c.Out {
		grad.w2 = append(grad.w2, make([]float64, c.Hidden))
	}
	x, y := make([]float64, c.In), make([]float64, c.Out)
	var loss float64
	n := float64(c.Batch * c.Out)
	for i := range c.Batch {
		sample(c, s*c.Batch+i, x, y)
		a, h := make([]float64, c.Hidden), make([]float64, c.Hidden)
		for k := range c.Hidden {
			a[k] = m.b1[k]
			for j := range c.In {
				a[k] += m.w1[k][j] * m.g[j] * x[j]
			}
			h[k] = gelu(a[k])
		}
		for o := range c.Out {
			z := m.b2[o]
			for k := range c.Hidden {
				z += m.w2[o][k] * h[k]
			}
			d := z - y[o]
			loss += d * d / n
			dz := 2 * d / n
			grad.b2[o] += dz
			for k := range c.Hidden {
				grad.w2[o][k] += dz * h[k]
				da := dz * m.w2[o][k] * geluGrad(a[k])
				grad.b1[k] += da
				for j := range c.In {
					grad.w1[k][j] += da * m.g[j] * x[j]
					grad.g[j] += da * m.w1[k][j] * x[j]
				}
			}
		}
	}
	var flat []float64
	for _, p := range grad.all() {
		flat = append(flat, *p)
	}
	return loss, flat
}

// losses trains the oracle by SGD and returns every step's loss.
func (m *naiveModel) losses(c config) []float64 {
	var out []float64
	for s := range c.Steps {
		loss, grad := m.lossGrad(c, s)
		out = append(out, loss)
		for i, p := range m.all() {
			*p -= c.LR * grad[i]
		}
	}
	return out
}

// TestOracleGradient checks the oracle's gradient against central finite
// differences, so that the oracle can vouch for the sharded model.
func TestOracleGradient(t *testing.T) {
	m := newNaive(small)
	m.losses(config{Steps: 2, In: small.In, Hidden: small.Hidden, Out: small.Out, Batch: small.Batch, Seed: small.Seed, LR: small.LR}) // move off the initial point (b1, b2 = 0)
	_, grad := m.lossGrad(small, 3)
	const eps = 1e-6
	for i, p := range m.all() {
		old := *p
		*p = old + eps
		up, _ := m.lossGrad(small, 3)
		*p = old - eps
		down, _ := m.lossGrad(small, 3)
		*p = old
		fd := (up - down) / (2 * eps)
		if math.Abs(fd-grad[i]) > 1e-7+1e-5*math.Abs(fd) {
			t.Errorf("gradient of parameter %d = %.10g; finite difference %.10g", i, grad[i], fd)
		}
	}
}

// trainLocal trains c on TP*DP goroutine ranks and returns rank 0's
// losses, checking that every rank got the same ones.
func trainLocal(t *testing.T, c config) []float64 {
	t.Helper()
	var mu sync.Mutex
	got := make([][]float64, c.TP*c.DP)
	err := collective.RunLocal(context.Background(), c.TP*c.DP, func(ctx context.Context, w *collective.Comm) error {
		l, err := train(ctx, w, c, nil)
		mu.Lock()
		got[w.Rank()] = l
		mu.Unlock()
		return err
	})
	if err != nil {
		t.Fatalf("train(tp=%d, dp=%d): %v", c.TP, c.DP, err)
	}
	for r := range got {
		if fmt.Sprint(got[r]) != fmt.Sprint(got[0]) {
			t.Errorf("tp=%d dp=%d: rank %d losses %v; rank 0 %v (want the same on every rank)", c.TP, c.DP, r, got[r], got[0])
		}
	}
	return got[0]
}

// TestLayouts: every TP x DP layout, including uneven hidden and batch
// splits, trains to the oracle's losses at every step.
func TestLayouts(t *testing.T) {
	want := newNaive(small).losses(small)
	if !(want[len(want)-1] < want[0]/2) {
		t.Fatalf("oracle losses %v do not fall by half: the test would prove little", want)
	}
	tests := []struct{ tp, dp int }{{1, 1}, {2, 1}, {1, 2}, {2, 2}, {4, 1}, {3, 1}, {1, 3}, {3, 2}}
	for _, tt := range tests {
		c := small
		c.TP, c.DP = tt.tp, tt.dp
		got := trainLocal(t, c)
		if len(got) != len(want) {
			t.Fatalf("tp=%d dp=%d: %d losses; want %d", tt.tp, tt.dp, len(got), len(want))
		}
		for s := range want {
			if d := math.Abs(got[s]-want[s]) / want[s]; d > 1e-9 {
				t.Errorf("tp=%d dp=%d: step %d loss %.12g; oracle %.12g (relative difference %.2g)", tt.tp, tt.dp, s+1, got[s], want[s], d)
			}
		}
	}
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*config)
		size int
		want string
	}{
		{"layout does not fill the job", func(c *config) { c.TP, c.DP = 2, 2 }, 3, "-tp 2 x -dp 2 = 4 ranks, but the job has 3"},
		{"zero tp", func(c *config) { c.TP = 0 }, 1, "-tp 0"},
		{"hidden below tp", func(c *config) { c.TP, c.Hidden = 4, 3 }, 4, "-hidden 3"},
		{"batch below dp", func(c *config) { c.DP, c.Batch = 4, 2 }, 4, "-batch 2"},
		{"negative bucket", func(c *config) { c.BucketBytes = -1 }, 1, "-bucket-bytes"},
	}
	for _, tt := range tests {
		c := small
		tt.mod(&c)
		err := c.validate(tt.size)
		if !errors.Is(err, errConfig) || !strings.Contains(fmt.Sprint(err), tt.want) {
			t.Errorf("%s: validate(%d) = %v; want errConfig naming %q", tt.name, tt.size, err, tt.want)
		}
	}
}
