package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/kizuna-hpc/kizuna/collective/schedule"
	"github.com/kizuna-hpc/kizuna/collective/topo"
	"github.com/kizuna-hpc/kizuna/topology"
)

const topoUsage = `Usage: kizuna topo -topology SPEC [-np N] [-placement P] [-hosts LIST] [-algo LIST] [-json] [-svg FILE] [-plan FILE]

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
		place   = fs.String("placement", "linear", "placement: linear[:K], random:SEED[:K], file:PATH (JSON placement file) or coords:C0;C1;... (each rank's coordinates)")
		hosts   = fs.String("hosts", "", "comma list of each rank's host name, for -placement file:PATH (-np defaults to its length; for coords:, to the number of coordinates)")
		algos   = fs.String("algo", "", "comma list of algorithms (ring, ring-naive, tree, hd, rd, torus, hier, swing, multiring); default: all available")
		jsonOut = fs.Bool("json", false, "print one JSON object per algorithm instead of the table")
		svgFile = fs.String("svg", "", "write an SVG drawing of the network and the embedded ring to FILE")
		planOut = fs.String("plan", "", "write the topology plan (placement, rings, trees, per-step partners of swing/hd/rd) as JSON to FILE (- for stdout, then nothing else is printed)")
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
	var info []topology.RankInfo
	if *hosts != "" {
		for _, h := range strings.Split(*hosts, ",") {
			info = append(info, topology.RankInfo{Host: strings.TrimSpace(h)})
		}
	}
	n := *np
	switch kind, list, _ := strings.Cut(*place, ":"); {
	case n == 0 && info != nil:
		n = len(info)
	case n == 0 && strings.EqualFold(kind, "coords"):
		n = len(strings.Split(list, ";"))
	}
	if n == 0 && t.Nodes() > topo.MaxRanks {
		return fmt.Errorf("topo: %s has %d nodes; analysing more than %d ranks is too slow: pass -np N with N <= %d",
			t.Name(), t.Nodes(), topo.MaxRanks, topo.MaxRanks)
	}
	if n, err = ranksOn(t, n); err != nil {
		return fmt.Errorf("topo: %w", err)
	}
	if n > topo.MaxRanks {
		return fmt.Errorf("topo: -np %d: at most %d ranks (the analysis grows as ranks squared)", n, topo.MaxRanks)
	}
	if info != nil && len(info) != n {
		return fmt.Errorf("topo: -hosts names %d hosts for %d ranks", len(info), n)
	}
	p, err := topology.PlaceBy(t, *place, n, info)
	if err != nil {
		return fmt.Errorf("topo: -placement: %w", err)
	}
	l, err := topo.LayoutFor(t, p)
	if err != nil {
		return fmt.Errorf("topo: %w", err)
	}
	if *planOut != "" {
		plan, err := topo.PlanFor(t, p, l)
		if err != nil {
			return fmt.Errorf("topo: -plan: %w", err)
		}
		b, err := json.Marshal(plan)
		if err != nil {
			return fmt.Errorf("topo: -plan: %w", err)
		}
		b = append(b, '\n')
		if *planOut == "-" {
			_, err := stdout.Write(b)
			return err
		}
		if err := os.WriteFile(*planOut, b, 0o644); err != nil {
			return fmt.Errorf("topo: -plan: %w", err)
		}
		fmt.Fprintf(stderr, "kizuna topo: wrote the plan to %s (digest %s)\n", *planOut, plan.Digest())
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
		writeSVG(&b, t, p, *place, l.Ring)
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

// ranksOn resolves -np on t (sim, topo): 0 means one rank per node.
func ranksOn(t topology.Topology, np int) (int, error) {
	switch {
	case np < 0:
		return 0, fmt.Errorf("-np %d: want at least 1", np)
	case np == 0 && t.Nodes() == 0:
		return 0, fmt.Errorf("-np is required on %s, which has no fixed node count", t.Name())
	case np == 0:
		return t.Nodes(), nil
	}
	return np, nil
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
		if avail := schedule.AvailableOn(schedule.AllReduce, l); !slices.Contains(avail, a) {
			return nil, fmt.Errorf("topo: -algo: %s is not available for these ranks on this network (%s); available: %v",
				a, topoNeeds[a], avail)
		}
		out = append(out, topoAlgo{name: a.String(), algo: a})
	}
	return out, nil
}

// topoNeeds says, for an algorithm that needs a layout, what placement
// gives it one (see topo.LayoutFor).
var topoNeeds = map[schedule.Algo]string{
	schedule.Torus:        "torus needs a torus, mesh or Tofu-D network with the same number of ranks on every node",
	schedule.Hierarchical: "hier needs a dragonfly network",
	schedule.MultiRing:    "multiring needs an embedded ring",
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
