package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/kizuna-hpc/kizuna/collective/schedule"
	"github.com/kizuna-hpc/kizuna/collective/topo"
	"github.com/kizuna-hpc/kizuna/topology"
)

const topoUsage = `Usage: kizuna topo -topology SPEC [-np N] [-placement P] [-algo LIST] [-json] [-svg FILE]

Builds every rank's all-reduce schedule for each algorithm on a network,
routes each step's messages and prints, per algorithm: the longest route
(max hops), the mean route length, the most messages of one step sharing
a link, the dragonfly global links crossed, and the time predicted by the
cost model (schedule.EstimateOn with the measured per-step hops and load)
at 8 B, 1 MiB and 64 MiB.

Link parameters per network kind (see ../shared/REFERENCE.md):
  torus, mesh, tofu, fugaku   Tofu-D: 6.8 GB/s per link, 0.49 us latency
  dragonfly, aurora           Slingshot: 25 GB/s per link, 2 us (assumed)
  flat                        10 GB/s, 5 us (assumed)
  all kinds                   100 ns per hop, reduction at 9 GB/s (assumed)

-np defaults to one rank per node; networks of more than 4096 nodes
(fugaku, aurora) need an explicit -np <= 4096 (the analysis grows as
ranks squared), and linear placement then uses the first N nodes.
Algorithms default to every all-reduce algorithm the layout allows plus
"ring-naive", the ring in rank order with no layout.

Flags:
`

// topoSizes are the message sizes of the predicted times.
var topoSizes = []int64{8, 1 << 20, 64 << 20}

func runTopo(args []string) error { return topoCmd(args, os.Stdout, os.Stderr) }

// topoAlgo is one algorithm to analyse: naive runs Ring with no layout.
type topoAlgo struct {
	name  string
	algo  schedule.Algo
	naive bool
}

func topoCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("topo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), topoUsage)
		fs.PrintDefaults()
	}
	var (
		spec    = fs.String("topology", "", "network spec: flat:N, torus:AxB..., mesh:AxB..., tofu:XxYxZ, dragonfly:groups=G,routers=A,nodes=P, fugaku, aurora")
		np      = fs.Int("np", 0, "ranks (default: one per node)")
		place   = fs.String("placement", "linear", "placement: linear[:K] or random:SEED[:K]")
		algos   = fs.String("algo", "", "comma list of algorithms (ring, ring-naive, tree, hd, rd, torus, hier, swing, multiring); default: all available")
		jsonOut = fs.Bool("json", false, "print one JSON object per algorithm instead of the table")
		svgFile = fs.String("svg", "", "write an SVG drawing of the network and the embedded ring to FILE")
	)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return exitCode(2)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("topo: unexpected argument %q", fs.Arg(0))
	}
	if *spec == "" {
		return errors.New("topo: -topology is required (e.g. -topology torus:8x8)")
	}
	t, err := topology.Parse(*spec)
	if err != nil {
		return fmt.Errorf("topo: -topology: %w", err)
	}
	n := *np
	switch {
	case n < 0:
		return fmt.Errorf("topo: -np %d: want at least 1", n)
	case n == 0 && t.Nodes() == 0:
		return fmt.Errorf("topo: -np is required on %s, which has no fixed node count", t.Name())
	case n == 0 && t.Nodes() > topo.MaxRanks:
		return fmt.Errorf("topo: %s has %d nodes; analysing more than %d ranks is too slow: pass -np N with N <= %d",
			t.Name(), t.Nodes(), topo.MaxRanks, topo.MaxRanks)
	case n == 0:
		n = t.Nodes()
	case n > topo.MaxRanks:
		return fmt.Errorf("topo: -np %d: at most %d ranks (the analysis grows as ranks squared)", n, topo.MaxRanks)
	}
	p, err := topology.Place(t, *place, n)
	if err != nil {
		return fmt.Errorf("topo: -placement: %w", err)
	}
	l, err := topo.LayoutFor(t, p)
	if err != nil {
		return fmt.Errorf("topo: %w", err)
	}
	list, err := topoAlgos(*algos, l)
	if err != nil {
		return err
	}
	net := topo.NetFor(t)
	var reps []topo.Report
	for _, a := range list {
		lay := l
		if a.naive {
			lay = nil
		}
		rep, err := topo.Analyze(t, p, lay, schedule.AllReduce, a.algo, topoSizes, net)
		if err != nil {
			return fmt.Errorf("topo: %s: %w", a.name, err)
		}
		rep.Algo = a.name
		reps = append(reps, rep)
	}
	if *svgFile != "" {
		var b strings.Builder
		writeSVG(&b, t, p, l.Ring)
		if err := os.WriteFile(*svgFile, []byte(b.String()), 0o644); err != nil {
			return fmt.Errorf("topo: -svg: %w", err)
		}
	}
	if *jsonOut {
		enc := json.NewEncoder(stdout)
		for _, r := range reps {
			if err := enc.Encode(r); err != nil {
				return err
			}
		}
		return nil
	}
	fmt.Fprintf(stdout, "# %s, %d ranks, placement %s; links: %s (alpha %s, %.3g GB/s, hop %s)\n",
		t.Name(), n, *place, net.Name, fmtSeconds(net.Alpha), 1/net.Beta/1e9, fmtSeconds(net.Hop))
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "algo\tsteps\tmax_hops\tmean_hops\tmax_link_load\tglobal_crossings\t")
	for _, s := range topoSizes {
		fmt.Fprintf(tw, "t(%s)\t", fmtBytes(s))
	}
	fmt.Fprintln(tw)
	for _, r := range reps {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.2f\t%d\t%d\t", r.Algo, r.Steps, r.MaxHops, r.MeanHops, r.MaxLinkLoad, r.GlobalLinkCrossings)
		for _, pr := range r.Predicted {
			fmt.Fprintf(tw, "%s\t", fmtSeconds(pr.Seconds))
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}

// topoAlgos parses -algo; empty means every AllReduce algorithm available
// on l plus ring-naive (right after ring).
func topoAlgos(s string, l *schedule.Layout) ([]topoAlgo, error) {
	var out []topoAlgo
	if strings.TrimSpace(s) == "" {
		for _, a := range schedule.AvailableOn(schedule.AllReduce, l) {
			out = append(out, topoAlgo{name: a.String(), algo: a})
			if a == schedule.Ring {
				out = append(out, topoAlgo{name: "ring-naive", algo: a, naive: true})
			}
		}
		return out, nil
	}
	for _, name := range strings.Split(s, ",") {
		name = strings.TrimSpace(strings.ToLower(name))
		if name == "ring-naive" || name == "naive" {
			out = append(out, topoAlgo{name: "ring-naive", algo: schedule.Ring, naive: true})
			continue
		}
		a, err := schedule.ParseAlgo(name)
		if err != nil || a == schedule.AlgoAuto {
			return nil, fmt.Errorf("topo: -algo: unknown algorithm %q", name)
		}
		out = append(out, topoAlgo{name: a.String(), algo: a})
	}
	return out, nil
}

// fmtSeconds prints a duration in s, ms, us or ns with three digits.
func fmtSeconds(s float64) string {
	switch {
	case math.IsInf(s, 0) || math.IsNaN(s):
		return "-"
	case s >= 1:
		return fmt.Sprintf("%.3gs", s)
	case s >= 1e-3:
		return fmt.Sprintf("%.3gms", s*1e3)
	case s >= 1e-6:
		return fmt.Sprintf("%.3gus", s*1e6)
	}
	return fmt.Sprintf("%.3gns", s*1e9)
}

// fmtBytes prints a size as B, KiB, MiB or GiB when exact.
func fmtBytes(b int64) string {
	for _, u := range []struct {
		n    int64
		name string
	}{{1 << 30, "GiB"}, {1 << 20, "MiB"}, {1 << 10, "KiB"}} {
		if b >= u.n && b%u.n == 0 {
			return fmt.Sprintf("%d%s", b/u.n, u.name)
		}
	}
	return fmt.Sprintf("%dB", b)
}

// svgCell is the distance between neighbouring nodes in a drawing.
const svgCell = 24.0

// nodePositions lays out t's nodes in 2-D:
//
//   - a 1-D torus or mesh: a row;
//   - 2-D: a grid, first coordinate down, second across;
//   - 3-D and more: the last two coordinates as a 2-D slice, the slices
//     (all leading coordinates, in node order) side by side, in one row for
//     3-D and wrapped into a near-square block of slices beyond;
//   - a dragonfly: each group's routers on a small circle, the groups on a
//     big circle, a router's nodes just outside its router;
//   - flat: a circle.
func nodePositions(t topology.Topology, nodes int) (xs, ys []float64, w, h float64) {
	xs, ys = make([]float64, nodes), make([]float64, nodes)
	switch tt := t.(type) {
	case *topology.GridNet:
		shape := tt.Shape()
		rows, cols := 1, shape[len(shape)-1]
		if len(shape) >= 2 {
			rows = shape[len(shape)-2]
		}
		slices := nodes / (rows * cols)
		perRow := slices
		if len(shape) > 3 {
			perRow = int(math.Ceil(math.Sqrt(float64(slices))))
		}
		sw, sh := float64(cols+1)*svgCell, float64(rows+1)*svgCell
		for n := range nodes {
			c := topology.Coord(t, n)
			s := n / (rows * cols)
			x := float64(c[len(c)-1])
			y := 0.0
			if len(c) >= 2 {
				y = float64(c[len(c)-2])
			}
			xs[n] = svgCell + float64(s%perRow)*sw + x*svgCell
			ys[n] = svgCell + float64(s/perRow)*sh + y*svgCell
		}
		return xs, ys, float64(perRow)*sw + svgCell, float64((slices+perRow-1)/perRow)*sh + svgCell
	case *topology.Dragonfly:
		g, a, k := tt.Groups, tt.Routers, tt.NodesPerRouter
		small := svgCell * float64(a*(k+1)) / (2 * math.Pi) * 1.2
		small = max(small, svgCell)
		big := max((2*small+2*svgCell)*float64(g)/(2*math.Pi), 2*small)
		c := big + small + 2*svgCell
		for n := range nodes {
			gi, ri, ni := n/(a*k), n/k%a, n%k
			ga := 2 * math.Pi * float64(gi) / float64(g)
			gx, gy := c+big*math.Cos(ga), c+big*math.Sin(ga)
			ra := 2*math.Pi*float64(ri)/float64(a) + 2*math.Pi*float64(ni-(k-1)/2)/float64(a*(k+1))
			r := small + svgCell*0.6
			xs[n], ys[n] = gx+r*math.Cos(ra), gy+r*math.Sin(ra)
		}
		return xs, ys, 2 * c, 2 * c
	}
	r := max(svgCell*float64(nodes)/(2*math.Pi), 2*svgCell)
	c := r + svgCell
	for n := range nodes {
		a := 2 * math.Pi * float64(n) / float64(nodes)
		xs[n], ys[n] = c+r*math.Cos(a), c+r*math.Sin(a)
	}
	return xs, ys, 2 * c, 2 * c
}

// writeSVG draws t's nodes (one <circle class="node"> each, with the ranks
// placed on it in its title; dragonfly routers as <rect class="router">)
// and the ring as arrows from each rank's node to the next rank's node
// (steps within one node are not drawn). A Flat of any size is drawn with
// one node per placed node.
func writeSVG(w io.Writer, t topology.Topology, p topology.Placement, ring []int) {
	nodes := t.Nodes()
	if nodes == 0 {
		for _, n := range p.Nodes {
			nodes = max(nodes, n+1)
		}
	}
	xs, ys, wd, ht := nodePositions(t, nodes)
	ranksOn := make([][]int, nodes)
	for r, n := range p.Nodes {
		ranksOn[n] = append(ranksOn[n], r)
	}
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f">
<title>%s: %d ranks, embedded ring</title>
<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="5" markerHeight="5" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#c03"/></marker></defs>
<rect width="100%%" height="100%%" fill="white"/>
`, wd, ht, wd, ht, t.Name(), p.Ranks())
	if d, ok := t.(*topology.Dragonfly); ok {
		// A router sits at the mean of its nodes.
		for r := range d.Groups * d.Routers {
			x, y := 0.0, 0.0
			for j := range d.NodesPerRouter {
				x += xs[r*d.NodesPerRouter+j]
				y += ys[r*d.NodesPerRouter+j]
			}
			x, y = x/float64(d.NodesPerRouter), y/float64(d.NodesPerRouter)
			fmt.Fprintf(w, `<rect class="router" x="%.1f" y="%.1f" width="6" height="6" fill="#888"/>`+"\n", x-3, y-3)
		}
	}
	fmt.Fprintln(w, `<g class="nodes" stroke="#333" stroke-width="1">`)
	for n := range nodes {
		fill := "#eee"
		if len(ranksOn[n]) > 0 {
			fill = "#9cf"
		}
		fmt.Fprintf(w, `<circle class="node" cx="%.1f" cy="%.1f" r="%.1f" fill="%s"><title>node %d %v ranks %v</title></circle>`+"\n",
			xs[n], ys[n], svgCell*0.3, fill, n, topology.Coord(t, n), ranksOn[n])
	}
	fmt.Fprintln(w, `</g>`)
	fmt.Fprintln(w, `<g class="ring" stroke="#c03" stroke-width="1.5" marker-end="url(#arrow)">`)
	for i, r := range ring {
		a, b := p.Nodes[r], p.Nodes[ring[(i+1)%len(ring)]]
		if a == b {
			continue
		}
		// Stop short of the circles so that the arrow heads show.
		dx, dy := xs[b]-xs[a], ys[b]-ys[a]
		d := math.Hypot(dx, dy)
		s := svgCell * 0.3 / d
		fmt.Fprintf(w, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"/>`+"\n",
			xs[a]+dx*s, ys[a]+dy*s, xs[b]-dx*s, ys[b]-dy*s)
	}
	fmt.Fprintln(w, `</g>`)
	fmt.Fprintln(w, `</svg>`)
}
