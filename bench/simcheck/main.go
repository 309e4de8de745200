// Command simcheck checks `kizuna sim` against real runs on an emulated
// network: it starts goroutine ranks under KIZUNA_EMULATE-style emulation
// (transport/emu) of each topology, calibrates alpha, beta and gamma from
// small measurements (a ping-pong between two neighbouring ranks and the
// reduction kernel run by every rank at once), measures all-reduce with
// several algorithms over a range of sizes that the calibration did not
// use, prices the same calls with collective/sim and prints a markdown
// table of measured and predicted times, per-point error and MAPE.
//
//	go run ./bench/simcheck -iters 2 -json /tmp/simcheck.json
//
// Links are slow (10 MB/s) by default so that the ranks' copies and
// reductions, on a 2-core machine shared with other work, stay well below
// the network's time.
//
// It needs no network and no privileges; run it on a quiet machine (it
// prints the load average before and after).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/kizuna-hpc/kizuna/bench"
	"github.com/kizuna-hpc/kizuna/collective"
	"github.com/kizuna-hpc/kizuna/collective/reduce"
	"github.com/kizuna-hpc/kizuna/collective/schedule"
	"github.com/kizuna-hpc/kizuna/collective/sim"
	"github.com/kizuna-hpc/kizuna/collective/topo"
	"github.com/kizuna-hpc/kizuna/topology"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "simcheck:", err)
		os.Exit(1)
	}
}

// point is one measured and predicted call.
type point struct {
	Topology string `json:"topology"`
	// Calibration says which parameters predicted it: "p2p" (point-to-point
	// runs and the reduction kernel) or "ring-fit" (fitted to ring
	// all-reduces of other sizes), with "/per-rank" when priced with
	// sim.PerRank timing.
	Calibration string  `json:"calibration"`
	Algo        string  `json:"algo"`
	Bytes       int64   `json:"bytes"`
	Measured    float64 `json:"measured_us"`
	Predicted   float64 `json:"predicted_us"`
	ErrPct      float64 `json:"error_pct"`
}

// calibration is what the small runs measured.
type calibration struct {
	Alpha, Beta, Gamma float64 // seconds, seconds per byte, seconds per byte
	// PingAlpha and PingBeta are Comm.Calibrate's ping-pong figures
	// between ranks 0 and 1 (reported, not used: see shift).
	PingAlpha, PingBeta float64
	Hops                int // hops between ring neighbours
	// Fit is alpha, beta, gamma fitted to ring all-reduces at FitSizes.
	Fit      [3]float64
	FitSizes []int64
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("simcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		topos   = fs.String("topos", "torus:4x2|dragonfly:groups=4,routers=2,nodes=1", "'|'-separated topologies, one rank per node")
		algos   = fs.String("algos", "torus:ring,tree,torus,swing|dragonfly:ring,tree,hier,swing", "'|'-separated KIND:LIST of algorithms per network kind")
		bw      = fs.String("bw", "10M", "emulated link bandwidth, bytes/s (K, M, G)")
		lat     = fs.Duration("lat", 100*time.Microsecond, "emulated latency per hop")
		minB    = fs.String("b", "64K", "smallest size")
		maxB    = fs.String("e", "64M", "largest size")
		factor  = fs.Int64("f", 4, "size multiplier")
		iters   = fs.Int("iters", 3, "timed iterations per point (median)")
		tr      = fs.String("transport", collective.TransportInproc, "local transport: inproc or tcp")
		jsonOut = fs.String("json", "", "also write the points as JSON lines to this file")
		fitList = fs.String("fit", "32K,128K,2M,8M", "sizes of the ring all-reduces the ring-fit calibration is fitted to (not among the held-out sizes)")
	)
	if err := fs.Parse(args); err != nil {
		return err
	}
	lo, err := bench.ParseBytes(*minB)
	if err != nil {
		return err
	}
	hi, err := bench.ParseBytes(*maxB)
	if err != nil {
		return err
	}
	sizes := bench.Sizes(lo, hi, *factor)
	var fitSizes []int64
	for _, f := range strings.Split(*fitList, ",") {
		b, err := bench.ParseBytes(f)
		if err != nil {
			return fmt.Errorf("-fit: %w", err)
		}
		if slices.Contains(sizes, b) {
			return fmt.Errorf("-fit %s: also a held-out size", f)
		}
		fitSizes = append(fitSizes, b)
	}
	perKind := map[string][]schedule.Algo{}
	for _, kl := range strings.Split(*algos, "|") {
		kind, list, ok := strings.Cut(kl, ":")
		if !ok {
			return fmt.Errorf("-algos %q: want KIND:LIST", kl)
		}
		for _, name := range strings.Split(list, ",") {
			a, err := schedule.ParseAlgo(name)
			if err != nil {
				return err
			}
			perKind[kind] = append(perKind[kind], a)
		}
	}
	fmt.Fprintf(stdout, "# simcheck: links %s B/s, %v per hop, transport %s, %d iterations; load before: %s\n", *bw, *lat, *tr, *iters, bench.LoadAvg())
	var all []point
	for _, spec := range strings.Split(*topos, "|") {
		kind, _, _ := strings.Cut(spec, ":")
		pts, cal, err := check(spec, perKind[kind], sizes, fitSizes, *bw, *lat, *iters, *tr)
		if err != nil {
			return fmt.Errorf("%s: %w", spec, err)
		}
		fmt.Fprintf(stdout, "\n## %s\n\ncalibrated (every rank at once, ring neighbours %d hop(s) apart): alpha %.1f us (less %v per hop), beta %.3f ns/B (%.1f MB/s), gamma %.3f ns/B; ping-pong 0<->1: alpha %.1f us, beta %.3f ns/B\n\n",
			spec, cal.Hops, cal.Alpha*1e6, *lat, cal.Beta*1e9, 1/cal.Beta/1e6, cal.Gamma*1e9, cal.PingAlpha*1e6, cal.PingBeta*1e9)
		fmt.Fprintf(stdout, "equivalent: kizuna sim -topology '%s' -algo %s -b %s -e %s -f %d -link-bw %.4g -link-lat %.3g -alpha %.3g -gamma %.4g -chunk %d\n\n",
			spec, algoList(perKind[kind]), *minB, *maxB, *factor, 1/cal.Beta/1e9, lat.Seconds()*1e6, cal.Alpha*1e6, 1/cal.Gamma/1e9, collective.DefaultChunkBytes)
		fmt.Fprintf(stdout, "ring-fit (alpha, beta fitted to ring all-reduce at %v; gamma as above): alpha %.1f us, beta %.3f ns/B (%.1f MB/s), gamma %.3f ns/B\n\n",
			sizeNames(cal.FitSizes), cal.Fit[0]*1e6, cal.Fit[1]*1e9, 1/cal.Fit[1]/1e6, cal.Fit[2]*1e9)
		printTable(stdout, pts)
		all = append(all, pts...)
	}
	for _, c := range variants {
		fmt.Fprintf(stdout, "\noverall MAPE (%s) %.1f%% over %d points", c, mape(only(all, c)), len(only(all, c)))
	}
	fmt.Fprintf(stdout, "; load after: %s\n", bench.LoadAvg())
	if *jsonOut != "" {
		f, err := os.Create(*jsonOut)
		if err != nil {
			return err
		}
		enc := json.NewEncoder(f)
		for _, p := range all {
			if err := enc.Encode(p); err != nil {
				f.Close()
				return err
			}
		}
		return f.Close()
	}
	return nil
}

func algoList(as []schedule.Algo) string {
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = a.String()
	}
	return strings.Join(s, ",")
}

// check measures and predicts every algorithm and size on one topology.
func check(spec string, algos []schedule.Algo, sizes, fitSizes []int64, bw string, lat time.Duration, iters int, tr string) ([]point, calibration, error) {
	t, err := topology.Parse(spec)
	if err != nil {
		return nil, calibration{}, err
	}
	n := t.Nodes()
	emuSpec := fmt.Sprintf("%s;bw=%s;lat=%v", spec, bw, lat)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	comms, err := collective.NewLocal(ctx, n, collective.WithTransport(tr), collective.WithConfig(func(c *collective.Config) {
		c.Emulate = emuSpec
		c.Topology = spec
		c.Placement = "linear"
		c.Timeout = 10 * time.Minute
	}))
	if err != nil {
		return nil, calibration{}, err
	}
	defer func() {
		for i := len(comms) - 1; i >= 0; i-- {
			comms[i].Close()
		}
	}()
	// Calibration. Comm.Calibrate's ping-pong between ranks 0 and 1 is
	// reported; the model uses the same measurement made the way a
	// collective's step runs, every rank at once: each rank sends to its
	// successor on the embedded ring and receives from its predecessor
	// (one hop, no shared link), 8 B for alpha and one chunk for beta;
	// gamma is the reduction kernel run by every rank at once.
	costs := make([]schedule.Costs, n)
	if err := each(ctx, comms, func(ctx context.Context, r int, c *collective.Comm) error {
		k, err := c.Calibrate(ctx)
		costs[r] = k
		return err
	}); err != nil {
		return nil, calibration{}, err
	}
	pl, err := topology.Place(t, "linear", n)
	if err != nil {
		return nil, calibration{}, err
	}
	l, err := topo.LayoutFor(t, pl)
	if err != nil {
		return nil, calibration{}, err
	}
	hops := t.Hops(pl.Nodes[l.Ring[0]], pl.Nodes[l.Ring[1]])
	small, err := shift(ctx, comms, l.Ring, 8)
	if err != nil {
		return nil, calibration{}, err
	}
	const chunk = collective.DefaultChunkBytes
	big, err := shift(ctx, comms, l.Ring, chunk)
	if err != nil {
		return nil, calibration{}, err
	}
	cal := calibration{
		Alpha: math.Max(small-float64(hops)*lat.Seconds(), 0), Beta: math.Max(big-small, 1e-12) / chunk,
		Gamma: concurrentGamma(n), PingAlpha: costs[0].Alpha, PingBeta: costs[0].Beta, Hops: hops,
	}
	m := sim.Machine{Topo: t, Place: pl, Layout: l}
	var fitMeas []float64
	for _, b := range fitSizes {
		meas, err := measure(ctx, comms, schedule.Ring, int(b/4), iters)
		if err != nil {
			return nil, cal, fmt.Errorf("ring at %d B: %w", b, err)
		}
		fitMeas = append(fitMeas, meas)
	}
	cal.FitSizes = fitSizes
	if cal.Fit, err = fitRing(ctx, m, lat.Seconds(), cal.Gamma, fitSizes, fitMeas); err != nil {
		return nil, cal, err
	}
	pricers := map[string]*sim.Pricer{}
	for name, k := range map[string][3]float64{"p2p": {cal.Alpha, cal.Beta, cal.Gamma}, "ring-fit": cal.Fit} {
		mm := m
		mm.Net = sim.Net{LinkBW: 1 / k[1], HopLatency: lat.Seconds(), Alpha: k[0], Gamma: k[2]}
		if pricers[name], err = sim.NewPricer(mm); err != nil {
			return nil, cal, err
		}
	}
	var pts []point
	for _, a := range algos {
		for _, b := range sizes {
			count := int(b / 4)
			meas, err := measure(ctx, comms, a, count, iters)
			if err != nil {
				return nil, cal, fmt.Errorf("%v at %d B: %w", a, b, err)
			}
			for _, name := range variants {
				which, timing, _ := strings.Cut(name, "/")
				q := sim.Query{Coll: schedule.AllReduce, Algo: a, Count: count, ChunkElems: collective.DefaultChunkBytes / 4}
				if timing == "per-rank" {
					q.Timing = sim.PerRank
				}
				e, err := pricers[which].Price(ctx, q)
				if err != nil {
					return nil, cal, err
				}
				pts = append(pts, point{Topology: spec, Calibration: name, Algo: a.String(), Bytes: b, Measured: meas * 1e6, Predicted: e.Seconds * 1e6,
					ErrPct: 100 * (e.Seconds - meas) / meas})
			}
		}
	}
	return pts, cal, nil
}

// shift returns the time per round of rounds back-to-back rounds (after a
// barrier and warm-up) in which every rank sends size bytes to its
// successor on ring and receives as much from its predecessor: the slowest
// rank's total divided by the rounds, which amortises how far apart the
// ranks leave the barrier.
func shift(ctx context.Context, comms []*collective.Comm, ring []int, size int) (float64, error) {
	const tag, rounds = 77, 20
	n := len(comms)
	pos := make([]int, n)
	for i, r := range ring {
		pos[r] = i
	}
	durs := make([]float64, n)
	err := each(ctx, comms, func(ctx context.Context, r int, c *collective.Comm) error {
		next, prev := ring[(pos[r]+1)%n], ring[(pos[r]+n-1)%n]
		out, in := make([]byte, size), make([]byte, size)
		one := func() error {
			if err := c.SendBytes(ctx, out, collective.Uint8, next, tag); err != nil {
				return err
			}
			return c.RecvBytes(ctx, in, collective.Uint8, prev, tag)
		}
		if err := one(); err != nil { // warm-up
			return err
		}
		if err := c.Barrier(ctx); err != nil {
			return err
		}
		start := time.Now()
		for range rounds {
			if err := one(); err != nil {
				return err
			}
		}
		durs[r] = time.Since(start).Seconds() / rounds
		return nil
	})
	return slices.Max(durs), err
}

// fitRing fits alpha and beta to ring all-reduce times meas at sizes on m,
// with the hop latency fixed at lat and gamma at the measured kernel rate:
// the ring's modelled time is linear in them, T = alpha·A + beta·B +
// gamma·C + D, so A, B, C, D come from pricing with one parameter at a
// time, and the fit minimises the squared relative error over non-negative
// parameters (every subset tried, the best feasible kept). Gamma is not
// fitted: on a ring the bytes reduced are proportional to the bytes sent,
// so beta and gamma cannot be told apart from ring times.
func fitRing(ctx context.Context, m sim.Machine, lat, gamma float64, sizes []int64, meas []float64) ([3]float64, error) {
	const tiny = 1e-30 // a zero beta: LinkBW must be finite
	basis := []sim.Net{
		{Alpha: 1, LinkBW: 1 / tiny},
		{LinkBW: 1},
		{Gamma: 1, LinkBW: 1 / tiny},
		{HopLatency: lat, LinkBW: 1 / tiny},
	}
	cols := make([][]float64, len(basis)) // cols[j][i]: basis j at size i
	for j, net := range basis {
		mm := m
		mm.Net = net
		pr, err := sim.NewPricer(mm)
		if err != nil {
			return [3]float64{}, err
		}
		for _, b := range sizes {
			e, err := pr.Price(ctx, sim.Query{Coll: schedule.AllReduce, Algo: schedule.Ring, Count: int(b / 4), ChunkElems: collective.DefaultChunkBytes / 4})
			if err != nil {
				return [3]float64{}, err
			}
			cols[j] = append(cols[j], e.Seconds)
		}
	}
	best, bestErr := [3]float64{}, math.Inf(1)
	for i := range sizes { // gamma is known: move its term to the constant
		cols[3][i] += gamma * cols[2][i]
	}
	for mask := 1; mask < 4; mask++ {
		var use []int
		for j := range 2 {
			if mask&(1<<j) != 0 {
				use = append(use, j)
			}
		}
		// Normal equations of the weighted (1/meas) least squares.
		k := len(use)
		a := make([][]float64, k)
		rhs := make([]float64, k)
		for r := range k {
			a[r] = make([]float64, k)
			for i := range sizes {
				w := 1 / (meas[i] * meas[i])
				for c := range k {
					a[r][c] += cols[use[r]][i] * cols[use[c]][i] * w
				}
				rhs[r] += cols[use[r]][i] * (meas[i] - cols[3][i]) * w
			}
		}
		x, ok := solve(a, rhs)
		if !ok {
			continue
		}
		var p [3]float64
		feasible := true
		for r, j := range use {
			p[j] = x[r]
			feasible = feasible && x[r] >= 0
		}
		if !feasible || p[1] <= 0 {
			continue
		}
		p[2] = gamma
		e := 0.0
		for i := range sizes {
			pred := p[0]*cols[0][i] + p[1]*cols[1][i] + cols[3][i]
			e += (pred - meas[i]) * (pred - meas[i]) / (meas[i] * meas[i])
		}
		if e < bestErr {
			best, bestErr = p, e
		}
	}
	if math.IsInf(bestErr, 1) {
		return best, fmt.Errorf("ring fit: no non-negative alpha and positive beta fit %v", meas)
	}
	return best, nil
}

// solve solves a·x = b by Gaussian elimination with partial pivoting.
func solve(a [][]float64, b []float64) ([]float64, bool) {
	n := len(b)
	for c := range n {
		p := c
		for r := c + 1; r < n; r++ {
			if math.Abs(a[r][c]) > math.Abs(a[p][c]) {
				p = r
			}
		}
		if math.Abs(a[p][c]) < 1e-300 {
			return nil, false
		}
		a[c], a[p] = a[p], a[c]
		b[c], b[p] = b[p], b[c]
		for r := c + 1; r < n; r++ {
			f := a[r][c] / a[c][c]
			for k := c; k < n; k++ {
				a[r][k] -= f * a[c][k]
			}
			b[r] -= f * b[c]
		}
	}
	x := make([]float64, n)
	for r := n - 1; r >= 0; r-- {
		x[r] = b[r]
		for k := r + 1; k < n; k++ {
			x[r] -= a[r][k] * x[k]
		}
		x[r] /= a[r][r]
	}
	return x, true
}

// each runs fn on every rank concurrently and joins the errors.
func each(ctx context.Context, comms []*collective.Comm, fn func(ctx context.Context, r int, c *collective.Comm) error) error {
	errs := make([]error, len(comms))
	var wg sync.WaitGroup
	for r, c := range comms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[r] = fn(ctx, r, c)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// measure returns the time per call of iters back-to-back in-place
// float32 all-reduces of count elements with a (after a warm-up call and a
// barrier): the slowest rank's total divided by iters, as nccl-tests
// times, which amortises how far apart the ranks leave the barrier.
func measure(ctx context.Context, comms []*collective.Comm, a schedule.Algo, count, iters int) (float64, error) {
	durs := make([]float64, len(comms))
	err := each(ctx, comms, func(ctx context.Context, r int, c *collective.Comm) error {
		buf := make([]float32, count)
		for i := range buf {
			buf[i] = float32(r)
		}
		if err := collective.AllReduce(ctx, c, buf, buf, collective.Sum, collective.WithAlgo(a)); err != nil {
			return err
		}
		if err := c.Barrier(ctx); err != nil {
			return err
		}
		start := time.Now()
		for range iters {
			if err := collective.AllReduce(ctx, c, buf, buf, collective.Sum, collective.WithAlgo(a)); err != nil {
				return err
			}
		}
		durs[r] = time.Since(start).Seconds() / float64(iters)
		return nil
	})
	return slices.Max(durs), err
}

// concurrentGamma measures the float32 sum kernel's seconds per byte with
// n goroutines reducing 1 MiB each at once, as n ranks of one process do
// on this machine's cores (median of 9 rounds).
func concurrentGamma(n int) float64 {
	const size = 1 << 20
	dst, src := make([][]byte, n), make([]byte, size)
	for i := range dst {
		dst[i] = make([]byte, size)
	}
	var rounds []float64
	for range 9 {
		var wg sync.WaitGroup
		start := time.Now()
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				reduce.Apply(reduce.Sum, reduce.Float32, dst[i], src)
			}()
		}
		wg.Wait()
		rounds = append(rounds, time.Since(start).Seconds()/size)
	}
	slices.Sort(rounds)
	return rounds[len(rounds)/2]
}

// variants are the predictions made of every point: calibration, and
// "/per-rank" for sim.PerRank timing (lock-step otherwise).
var variants = []string{"p2p", "p2p/per-rank", "ring-fit", "ring-fit/per-rank"}

func printTable(w io.Writer, pts []point) {
	fmt.Fprint(w, "| algo | size | measured (ms) |")
	for _, v := range variants {
		fmt.Fprintf(w, " %s (ms) | error |", v)
	}
	fmt.Fprint(w, "\n|---|---:|---:|")
	for range variants {
		fmt.Fprint(w, "---:|---:|")
	}
	fmt.Fprintln(w)
	cols := make([][]point, len(variants))
	for i, v := range variants {
		cols[i] = only(pts, v)
	}
	for i, p := range cols[0] {
		fmt.Fprintf(w, "| %s | %s | %.2f |", p.Algo, sizeName(p.Bytes), p.Measured/1e3)
		for _, c := range cols {
			fmt.Fprintf(w, " %.2f | %+.1f%% |", c[i].Predicted/1e3, c[i].ErrPct)
		}
		fmt.Fprintln(w)
	}
	var order []string
	for _, p := range cols[0] {
		if !slices.Contains(order, p.Algo) {
			order = append(order, p.Algo)
		}
	}
	fmt.Fprintln(w)
	for _, c := range variants {
		fmt.Fprintf(w, "MAPE %s:", c)
		for _, a := range order {
			var sel []point
			for _, p := range only(pts, c) {
				if p.Algo == a {
					sel = append(sel, p)
				}
			}
			fmt.Fprintf(w, " %s %.1f%%,", a, mape(sel))
		}
		fmt.Fprintf(w, " all %.1f%%\n\n", mape(only(pts, c)))
	}
}

// only returns the points predicted with calibration c.
func only(pts []point, c string) []point {
	var out []point
	for _, p := range pts {
		if p.Calibration == c {
			out = append(out, p)
		}
	}
	return out
}

func sizeNames(bs []int64) string {
	s := make([]string, len(bs))
	for i, b := range bs {
		s[i] = sizeName(b)
	}
	return strings.Join(s, ", ")
}

func mape(pts []point) float64 {
	if len(pts) == 0 {
		return 0
	}
	s := 0.0
	for _, p := range pts {
		s += math.Abs(p.ErrPct)
	}
	return s / float64(len(pts))
}

func sizeName(b int64) string {
	switch {
	case b >= 1<<20 && b%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", b>>20)
	case b >= 1<<10 && b%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", b>>10)
	}
	return fmt.Sprintf("%d B", b)
}
