package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/kizuna-hpc/kizuna/collective"
	"github.com/kizuna-hpc/kizuna/collective/bucket"
	"github.com/kizuna-hpc/kizuna/tensor"
)

// config is one training run; every rank must use the same one.
type config struct {
	TP, DP      int     // tensor- and data-parallel sizes; TP*DP ranks
	Steps       int     // SGD steps
	In, Out     int     // input and output features
	Hidden      int     // hidden units, split over TP (unevenly if need be)
	Batch       int     // global batch, split over DP (unevenly if need be)
	Seed        uint64  // parameters and data
	LR          float64 // SGD learning rate
	BucketBytes int     // gradient bucket cap (bucket.Config.BucketBytes)
}

// errConfig: a config that cannot run.
var errConfig = errors.New("tpmlp: invalid configuration")

func (c config) validate(size int) error {
	switch {
	case c.TP < 1 || c.DP < 1:
		return fmt.Errorf("%w: -tp %d -dp %d: want both at least 1", errConfig, c.TP, c.DP)
	case c.TP*c.DP != size:
		return fmt.Errorf("%w: -tp %d x -dp %d = %d ranks, but the job has %d", errConfig, c.TP, c.DP, c.TP*c.DP, size)
	case c.Hidden < c.TP:
		return fmt.Errorf("%w: -hidden %d: want at least -tp (%d), one hidden unit per TP rank", errConfig, c.Hidden, c.TP)
	case c.Batch < c.DP:
		return fmt.Errorf("%w: -batch %d: want at least -dp (%d), one sample per DP rank", errConfig, c.Batch, c.DP)
	case c.In < 1 || c.Out < 1 || c.Steps < 0:
		return fmt.Errorf("%w: -in %d -out %d -steps %d: want positive sizes", errConfig, c.In, c.Out, c.Steps)
	case c.BucketBytes < 0:
		return fmt.Errorf("%w: -bucket-bytes %d: want 0 (default) or more", errConfig, c.BucketBytes)
	}
	return nil
}

// Random numbers come from a counter-based generator: value i of stream s
// is a hash of (seed, s, i), so any rank can draw any element of any
// parameter or sample on its own and get the same number as every other
// layout would.
const (
	streamW1 = iota + 1
	streamW2
	streamTeacher
	streamX
)

// splitmix64 is the finaliser of SplitMix64 (Steele, Lea, Flood 2014).
func splitmix64(z uint64) uint64 {
	z += 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// uniform returns value i of stream s, uniform in [-1, 1).
func uniform(seed uint64, s, i int) float64 {
	h := splitmix64(splitmix64(seed^uint64(s)<<56) ^ uint64(i))
	return float64(h>>11)/(1<<52) - 1
}

// initW1 and initW2 are the full matrices' elements: uniform with variance
// 1/fan-in.
func initW1(c config, row, col int) float64 {
	return uniform(c.Seed, streamW1, row*c.In+col) * math.Sqrt(3/float64(c.In))
}

func initW2(c config, row, col int) float64 {
	return uniform(c.Seed, streamW2, row*c.Hidden+col) * math.Sqrt(3/float64(c.Hidden))
}

// sample fills x (In) and y (Out) with global sample n: x uniform in
// [-1, 1), y = tanh(T x) for the teacher matrix T.
func sample(c config, n int, x, y []float64) {
	for j := range x {
		x[j] = uniform(c.Seed, streamX, n*c.In+j)
	}
	for o := range y {
		var s float64
		for j, xj := range x {
			s += uniform(c.Seed, streamTeacher, o*c.In+j) * xj
		}
		y[o] = math.Tanh(s)
	}
}

// gelu is GELU with the tanh approximation, as GPT-2 and Megatron-LM use;
// geluGrad is its derivative.
const geluC = 0.7978845608028654 // sqrt(2/pi)

func gelu(a float64) float64 {
	return 0.5 * a * (1 + math.Tanh(geluC*(a+0.044715*a*a*a)))
}

func geluGrad(a float64) float64 {
	t := math.Tanh(geluC * (a + 0.044715*a*a*a))
	return 0.5*(1+t) + 0.5*a*(1-t*t)*geluC*(1+3*0.044715*a*a)
}

// params is one rank's shard of the model (or, with lo 0 and h Hidden,
// the whole model), row-major. Gradients use the same type.
type params struct {
	g  []float64 // [In], replicated
	w1 []float64 // [h][In]: rows lo..lo+h of W1
	b1 []float64 // [h]
	w2 []float64 // [Out][h]: columns lo..lo+h of W2
	b2 []float64 // [Out], replicated
}

// list returns the tensors in forward order; the bucketer's gradient
// indices follow it.
func (p *params) list() [][]float64 { return [][]float64{p.g, p.w1, p.b1, p.w2, p.b2} }

// Gradient indices, for MarkReady.
const (
	idxG = iota
	idxW1
	idxB1
	idxW2
	idxB2
)

func newParams(c config, h int) params {
	return params{
		g: make([]float64, c.In), w1: make([]float64, h*c.In), b1: make([]float64, h),
		w2: make([]float64, c.Out*h), b2: make([]float64, c.Out),
	}
}

// initShard returns hidden units lo..lo+h of the initial model: gain 1,
// biases 0, W1 and W2 drawn by element index.
func initShard(c config, lo, h int) params {
	p := newParams(c, h)
	for j := range p.g {
		p.g[j] = 1
	}
	for k := range h {
		for j := range c.In {
			p.w1[k*c.In+j] = initW1(c, lo+k, j)
		}
	}
	for o := range c.Out {
		for k := range h {
			p.w2[o*h+k] = initW2(c, o, lo+k)
		}
	}
	return p
}

// trainer is one rank's training state. It is used by one goroutine.
type trainer struct {
	c          config
	tp, dp     *collective.Comm // this rank's TP and DP groups
	lo, h      int              // this rank's hidden units
	row0, rows int              // this rank's samples of each global batch
	p, grad    params
	bk         *bucket.Bucketer

	// Activations and their gradients for rows samples, row-major.
	x, y, u, a, act, z, dz, da, du []float64
	sse                            []float64 // [1]: for the loss all-reduce
}

// newTrainer builds this rank's shard of the model. tp and dp are the
// rank's groups of a TP x DP mesh.
func newTrainer(c config, tp, dp *collective.Comm) (*trainer, error) {
	t := &trainer{c: c, tp: tp, dp: dp}
	t.h = tensor.ShardSizes(c.Hidden, c.TP)[tp.Rank()]
	t.lo = tensor.ShardOffset(c.Hidden, c.TP, tp.Rank())
	t.rows = tensor.ShardSizes(c.Batch, c.DP)[dp.Rank()]
	t.row0 = tensor.ShardOffset(c.Batch, c.DP, dp.Rank())
	t.p = initShard(c, t.lo, t.h)
	t.grad = newParams(c, t.h)
	b, h := t.rows, t.h
	t.x, t.u, t.du = make([]float64, b*c.In), make([]float64, b*c.In), make([]float64, b*c.In)
	t.y, t.z, t.dz = make([]float64, b*c.Out), make([]float64, b*c.Out), make([]float64, b*c.Out)
	t.a, t.act, t.da = make([]float64, b*h), make([]float64, b*h), make([]float64, b*h)
	t.sse = make([]float64, 1)
	// The gradients are summed, not averaged, over DP: each rank's are
	// already divided by the global batch, which need not split evenly.
	bk, err := bucket.NewOf(dp, t.grad.list(), bucket.Config{BucketBytes: c.BucketBytes})
	if err != nil {
		return nil, fmt.Errorf("gradient buckets: %w", err)
	}
	t.bk = bk
	return t, nil
}

// step runs SGD step s (from 0) and returns the loss of its forward pass:
// the mean squared error over the global batch, the same on every rank.
func (t *trainer) step(ctx context.Context, s int) (float64, error) {
	c, p, gr := t.c, &t.p, &t.grad
	b, h, in, out := t.rows, t.h, c.In, c.Out
	for i := range b {
		sample(c, s*c.Batch+t.row0+i, t.x[i*in:(i+1)*in], t.y[i*out:(i+1)*out])
	}

	// Forward. u = g ⊙ x; a = W1 u + b1 on this rank's hidden units.
	for i := range b {
		for j := range in {
			t.u[i*in+j] = p.g[j] * t.x[i*in+j]
		}
		for k := range h {
			acc := p.b1[k]
			for j := range in {
				acc += p.w1[k*in+j] * t.u[i*in+j]
			}
			t.a[i*h+k] = acc
			t.act[i*h+k] = gelu(acc)
		}
		for o := range out {
			var acc float64
			for k := range h {
				acc += p.w2[o*h+k] * t.act[i*h+k]
			}
			t.z[i*out+o] = acc // this rank's part of W2 gelu(a)
		}
	}
	// Forward all-reduce (Megatron's g): the partial products of the
	// row-parallel layer sum to W2 gelu(a) on every TP rank.
	if err := collective.AllReduce(ctx, t.tp, t.z, t.z, collective.Sum); err != nil {
		return 0, fmt.Errorf("step %d: forward all-reduce: %w", s, err)
	}
	scale := 2 / float64(c.Batch*out) // d(mean squared error)/dz
	var sse float64
	for i := range b {
		for o := range out {
			d := t.z[i*out+o] + p.b2[o] - t.y[i*out+o]
			sse += d * d
			t.dz[i*out+o] = scale * d
		}
	}

	// Backward, last layer first; each gradient is handed to the bucketer
	// as soon as it is final, so its bucket's DP all-reduce overlaps with
	// the rest of the pass.
	for o := range out {
		var acc float64
		for i := range b {
			acc += t.dz[i*out+o]
		}
		gr.b2[o] = acc
	}
	if err := t.bk.MarkReady(idxB2); err != nil {
		return 0, err
	}
	for o := range out {
		for k := range h {
			var acc float64
			for i := range b {
				acc += t.dz[i*out+o] * t.act[i*h+k]
			}
			gr.w2[o*h+k] = acc
		}
	}
	if err := t.bk.MarkReady(idxW2); err != nil {
		return 0, err
	}
	for i := range b {
		for k := range h {
			var acc float64
			for o := range out {
				acc += t.dz[i*out+o] * p.w2[o*h+k]
			}
			t.da[i*h+k] = acc * geluGrad(t.a[i*h+k])
		}
	}
	for k := range h {
		var acc float64
		for i := range b {
			acc += t.da[i*h+k]
		}
		gr.b1[k] = acc
	}
	if err := t.bk.MarkReady(idxB1); err != nil {
		return 0, err
	}
	for k := range h {
		for j := range in {
			var acc float64
			for i := range b {
				acc += t.da[i*h+k] * t.u[i*in+j]
			}
			gr.w1[k*in+j] = acc
		}
	}
	if err := t.bk.MarkReady(idxW1); err != nil {
		return 0, err
	}
	for i := range b {
		for j := range in {
			var acc float64
			for k := range h {
				acc += t.da[i*h+k] * p.w1[k*in+j]
			}
			t.du[i*in+j] = acc // this rank's hidden units' part of dL/du
		}
	}
	// Backward all-reduce (Megatron's f): the column-parallel layer's
	// input gradient is the sum of every TP rank's part.
	if err := collective.AllReduce(ctx, t.tp, t.du, t.du, collective.Sum); err != nil {
		return 0, fmt.Errorf("step %d: backward all-reduce: %w", s, err)
	}
	for j := range in {
		var acc float64
		for i := range b {
			acc += t.du[i*in+j] * t.x[i*in+j]
		}
		gr.g[j] = acc
	}
	if err := t.bk.MarkReady(idxG); err != nil {
		return 0, err
	}
	if err := t.bk.Wait(ctx); err != nil {
		return 0, fmt.Errorf("step %d: gradient all-reduce: %w", s, err)
	}

	// SGD.
	pl, gl := p.list(), gr.list()
	for n, w := range pl {
		for i, d := range gl[n] {
			w[i] -= c.LR * d
		}
	}

	// The loss over the global batch: every TP rank of a DP rank has the
	// same z, so summing over the DP group counts each sample once.
	t.sse[0] = sse
	if err := collective.AllReduce(ctx, t.dp, t.sse, t.sse, collective.Sum); err != nil {
		return 0, fmt.Errorf("step %d: loss all-reduce: %w", s, err)
	}
	return t.sse[0] / float64(c.Batch*out), nil
}

// train runs c on communicator w (TP*DP ranks): it builds the mesh, trains
// for c.Steps steps and returns every step's loss (the same on every rank).
// If out is not nil, rank 0 writes "step N loss X" lines to it as it goes.
func train(ctx context.Context, w *collective.Comm, c config, out io.Writer) (losses []float64, err error) {
	if err := c.validate(w.Size()); err != nil {
		return nil, err
	}
	m, err := collective.NewMesh(ctx, w, c.TP, c.DP, 1)
	if err != nil {
		return nil, fmt.Errorf("mesh: %w", err)
	}
	defer func() {
		if cerr := m.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("mesh: %w", cerr)
		}
	}()
	t, err := newTrainer(c, m.TP, m.DP)
	if err != nil {
		return nil, err
	}
	if out != nil && w.Rank() == 0 {
		fmt.Fprintf(out, "# tpmlp: %d ranks, tp=%d dp=%d, in=%d hidden=%d out=%d, global batch %d, lr %g, seed %d\n",
			w.Size(), c.TP, c.DP, c.In, c.Hidden, c.Out, c.Batch, c.LR, c.Seed)
	}
	for s := range c.Steps {
		loss, err := t.step(ctx, s)
		if err != nil {
			return losses, err
		}
		losses = append(losses, loss)
		if out != nil && w.Rank() == 0 {
			fmt.Fprintf(out, "step %d loss %#.12g\n", s+1, loss)
		}
	}
	return losses, nil
}
