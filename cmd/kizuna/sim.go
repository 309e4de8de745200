package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/kizuna-hpc/kizuna/bench"
	"github.com/kizuna-hpc/kizuna/collective"
	"github.com/kizuna-hpc/kizuna/collective/schedule"
	"github.com/kizuna-hpc/kizuna/collective/sim"
	"github.com/kizuna-hpc/kizuna/collective/topo"
	"github.com/kizuna-hpc/kizuna/topology"
)

const simUsage = `Usage: kizuna sim (-topology SPEC | -preset fugaku|aurora) [-np N] [-placement P]
       -op OP [-algo LIST|all] -b MIN -e MAX [-f F] [-link-bw GB/s] [-link-lat us]
       [-alpha us] [-gamma GB/s] [-chunk BYTES] [-timing lockstep|perrank] [-json]

Predicts collectives on a network before the job runs, by pricing the very
schedules the executor runs (package collective/sim): step i of every rank
is one round; a round's messages are routed on the topology and share each
link evenly (bottleneck-link: a message moves at the rate of the most
shared link on its route); a message arrives alpha + hops x link-lat +
load x bytes / link-bw after its round starts; receives are reduced at
gamma. Rounds with the same message pattern are routed once, and ring
all-reduce, all-gather and reduce-scatter and torus and hier all-reduce
derive every rank's messages from one rank's schedule by symmetry, so a
whole Fugaku or Aurora sweep takes seconds.
Other algorithms build every rank's schedule (at most 4096 ranks).

Prints the kizuna bench table (time, algbw, busbw per algorithm), the
algorithm the runtime's cost model would choose at each size (cost model
fed with these link figures) and the fastest one here.

Defaults per network kind (../shared/REFERENCE.md; "assumed" where it
gives no figure): torus, mesh, tofu, fugaku: Tofu-D 6.8 GB/s per link,
alpha 0.49 us; dragonfly, aurora: Slingshot 25 GB/s, alpha 2 us (assumed);
flat: 10 GB/s, 5 us (assumed); all: 0.1 us per hop and reduction at
9 GB/s (assumed).

Flags:
`

func runSim(args []string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return simCmd(ctx, args, os.Stdout, os.Stderr)
}

// simRow is one -json row.
type simRow struct {
	Algo     string  `json:"algo"`
	Bytes    int64   `json:"bytes"`
	Count    int64   `json:"count"`
	Type     string  `json:"type"`
	TimeUS   float64 `json:"time_us"`
	AlgBW    float64 `json:"algbw_gbps"`
	BusBW    float64 `json:"busbw_gbps"`
	Steps    int     `json:"steps"`
	Patterns int     `json:"patterns"`
	Mode     string  `json:"mode"`
	Chosen   string  `json:"chosen"`
	Fastest  string  `json:"fastest"`
}

func simCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), simUsage)
		fs.PrintDefaults()
	}
	var (
		spec    = fs.String("topology", "", "network spec: flat:N, torus:AxB..., mesh:AxB..., tofu:XxYxZ, dragonfly:groups=G,routers=A,nodes=P")
		preset  = fs.String("preset", "", "fugaku or aurora (the whole machine)")
		np      = fs.Int("np", 0, "ranks (default: one per node)")
		place   = fs.String("placement", "linear", "placement: linear[:K] or random:SEED[:K]")
		op      = fs.String("op", "allreduce", "collective: allreduce, allgather, reducescatter, broadcast, reduce, alltoall, gather, scatter")
		algos   = fs.String("algo", "all", "comma list of algorithms, or all (every algorithm the layout allows for -op)")
		minB    = fs.String("b", "8", "minimum size in bytes (K, M, G suffixes)")
		maxB    = fs.String("e", "1G", "maximum size in bytes (K, M, G suffixes)")
		factor  = fs.Int64("f", 2, "size multiplier between rows")
		linkBW  = fs.Float64("link-bw", 0, "bandwidth of one directed link, GB/s (default per network kind)")
		linkLat = fs.Float64("link-lat", -1, "latency per hop, us (default per network kind)")
		alpha   = fs.Float64("alpha", -1, "fixed cost per message, us (default per network kind)")
		gamma   = fs.Float64("gamma", 0, "reduction (and copy) bandwidth, GB/s (default 9)")
		chunk   = fs.String("chunk", fmt.Sprint(collective.DefaultChunkBytes), "largest message, bytes (the runtime's KIZUNA_CHUNK_BYTES); 0: no cap")
		jsonOut = fs.Bool("json", false, "print one JSON object per algorithm and size instead of the table")
		timing  = fs.String("timing", "lockstep", "full evaluator's timing: lockstep (rounds, bottleneck-link) or perrank (per-rank clocks, links reserved first come first served)")
	)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return exitCode(2)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("sim: unexpected argument %q", fs.Arg(0))
	}
	switch {
	case *spec != "" && *preset != "":
		return errors.New("sim: give -topology or -preset, not both")
	case *preset != "":
		switch strings.ToLower(*preset) {
		case "fugaku", "aurora":
			*spec = strings.ToLower(*preset)
		default:
			return fmt.Errorf("sim: -preset %q: want fugaku or aurora", *preset)
		}
	case *spec == "":
		return errors.New("sim: -topology or -preset is required (e.g. -preset fugaku, -topology torus:8x8)")
	}
	t, err := topology.Parse(*spec)
	if err != nil {
		return fmt.Errorf("sim: -topology: %w", err)
	}
	coll, err := schedule.ParseColl(*op)
	if err != nil || coll == schedule.SendRecv || coll == schedule.Barrier {
		return fmt.Errorf("sim: -op %q: want allreduce, allgather, reducescatter, broadcast, reduce, alltoall, gather or scatter", *op)
	}
	lo, err := bench.ParseBytes(*minB)
	if err != nil {
		return fmt.Errorf("sim: -b: %w", err)
	}
	hi, err := bench.ParseBytes(*maxB)
	if err != nil {
		return fmt.Errorf("sim: -e: %w", err)
	}
	if lo < 1 || hi < lo || *factor < 2 {
		return fmt.Errorf("sim: sizes -b %d -e %d -f %d: want 1 <= MIN <= MAX and F >= 2", lo, hi, *factor)
	}
	chunkBytes, err := bench.ParseBytes(*chunk)
	if err != nil {
		return fmt.Errorf("sim: -chunk: %w", err)
	}
	n, err := ranksOn(t, *np)
	if err != nil {
		return fmt.Errorf("sim: %w", err)
	}
	p, err := topology.Place(t, *place, n)
	if err != nil {
		return fmt.Errorf("sim: -placement: %w", err)
	}
	l, err := topo.LayoutFor(t, p)
	if err != nil {
		return fmt.Errorf("sim: %w", err)
	}
	def := topo.NetFor(t)
	net := sim.Net{LinkBW: 1 / def.Beta, HopLatency: def.Hop, Alpha: def.Alpha, Gamma: def.Gamma}
	if *linkBW != 0 {
		net.LinkBW = *linkBW * 1e9
	}
	if *linkLat >= 0 {
		net.HopLatency = *linkLat * 1e-6
	}
	if *alpha >= 0 {
		net.Alpha = *alpha * 1e-6
	}
	if *gamma != 0 {
		if *gamma < 0 {
			return fmt.Errorf("sim: -gamma %g: want a positive bandwidth", *gamma)
		}
		net.Gamma = 1 / (*gamma * 1e9)
	}
	pr, err := sim.NewPricer(sim.Machine{Topo: t, Place: p, Layout: l, Net: net})
	if err != nil {
		return fmt.Errorf("sim: %w", err)
	}
	list, err := simAlgos(*algos, coll, l)
	if err != nil {
		return err
	}
	var tm sim.Timing
	switch strings.ToLower(*timing) {
	case "lockstep":
	case "perrank", "per-rank":
		tm = sim.PerRank
	default:
		return fmt.Errorf("sim: -timing %q: want lockstep or perrank", *timing)
	}
	const es = 4 // float32
	costs := schedule.Costs{Alpha: net.Alpha, Beta: 1 / net.LinkBW, Gamma: net.Gamma}
	sizes := bench.Sizes(lo, hi, *factor)
	// rows[i][k]: size i, algorithm k; nil where the algorithm was skipped.
	rows := make([][]*simRow, len(sizes))
	skipped := make([]bool, len(list))
	for i, b := range sizes {
		count := b / es
		if bench.PerRank(coll) {
			count /= int64(n)
		}
		rows[i] = make([]*simRow, len(list))
		for k, a := range list {
			if skipped[k] {
				continue
			}
			e, err := pr.Price(ctx, sim.Query{Coll: coll, Algo: a, Count: int(count), ElemSize: es, ChunkElems: int(chunkBytes / es), Timing: tm})
			if errors.Is(err, sim.ErrTooLarge) {
				fmt.Fprintf(stderr, "sim: %v skipped: %d ranks; only ring all-reduce, all-gather and reduce-scatter and torus and hier all-reduce have a symmetric evaluator, the others build every rank's schedule, at most %d ranks\n",
					a, n, sim.MaxFullRanks)
				skipped[k] = true
				continue
			}
			if err != nil {
				return fmt.Errorf("sim: %v at %d bytes: %w", a, b, err)
			}
			r := &simRow{Algo: a.String(), Bytes: b, Count: count, Type: "float32", TimeUS: e.Seconds * 1e6,
				Steps: e.Steps, Patterns: e.Patterns, Mode: e.Mode.String()}
			if e.Seconds > 0 {
				r.AlgBW = float64(b) / e.Seconds / 1e9
				r.BusBW = r.AlgBW * bench.BusFactor(coll, n)
			}
			rows[i][k] = r
		}
		chosen := schedule.ChooseOn(coll, count*es, n, costs, schedule.StepCost{Layout: l}, nil).String()
		fastest, best := "-", math.Inf(1)
		for _, r := range rows[i] {
			if r != nil && r.TimeUS < best {
				fastest, best = r.Algo, r.TimeUS
			}
		}
		for _, r := range rows[i] {
			if r != nil {
				r.Chosen, r.Fastest = chosen, fastest
			}
		}
	}
	if *jsonOut {
		enc := json.NewEncoder(stdout)
		for _, rs := range rows {
			for _, r := range rs {
				if r == nil {
					continue
				}
				if err := enc.Encode(r); err != nil {
					return err
				}
			}
		}
		return nil
	}
	fmt.Fprintf(stdout, "# kizuna sim: %s on %s, %d ranks, placement %s\n", coll, t.Name(), n, *place)
	timingDesc := "lock-step rounds, bottleneck-link sharing"
	if tm == sim.PerRank {
		timingDesc = "per-rank clocks, links reserved first come first served (symmetric: lock-step)"
	}
	fmt.Fprintf(stdout, "# links %.4g GB/s, %.3g us per hop, alpha %.3g us, gamma %.3g GB/s, chunk %d B; %s\n",
		net.LinkBW/1e9, net.HopLatency*1e6, net.Alpha*1e6, 1/net.Gamma/1e9, chunkBytes, timingDesc)
	fmt.Fprintf(stdout, "#%11s %12s %8s", "", "", "")
	for k, a := range list {
		if !skipped[k] {
			fmt.Fprintf(stdout, "  %-30s", a.String()+" ("+modeOf(rows, k)+")")
		}
	}
	fmt.Fprintln(stdout)
	fmt.Fprintf(stdout, "#%11s %12s %8s", "size", "count", "type")
	for k := range list {
		if !skipped[k] {
			fmt.Fprintf(stdout, "  %12s %8s %8s", "time", "algbw", "busbw")
		}
	}
	fmt.Fprintf(stdout, "  %9s %9s\n", "chosen", "fastest")
	fmt.Fprintf(stdout, "#%11s %12s %8s", "(B)", "(elements)", "")
	for k := range list {
		if !skipped[k] {
			fmt.Fprintf(stdout, "  %12s %8s %8s", "(us)", "(GB/s)", "(GB/s)")
		}
	}
	fmt.Fprintln(stdout)
	for i, b := range sizes {
		var first *simRow
		for _, r := range rows[i] {
			if r != nil {
				first = r
				break
			}
		}
		if first == nil {
			continue
		}
		fmt.Fprintf(stdout, " %11d %12d %8s", b, first.Count, first.Type)
		for k, r := range rows[i] {
			if skipped[k] {
				continue
			}
			if r == nil {
				fmt.Fprintf(stdout, "  %12s %8s %8s", "-", "-", "-")
				continue
			}
			fmt.Fprintf(stdout, "  %12.2f %8.3f %8.3f", r.TimeUS, r.AlgBW, r.BusBW)
		}
		fmt.Fprintf(stdout, "  %9s %9s\n", first.Chosen, first.Fastest)
	}
	return nil
}

// modeOf names how algorithm k was evaluated.
func modeOf(rows [][]*simRow, k int) string {
	for _, rs := range rows {
		if rs[k] != nil {
			return rs[k].Mode
		}
	}
	return "-"
}

// simAlgos parses -algo: all means every algorithm the layout allows for c.
func simAlgos(s string, c schedule.Coll, l *schedule.Layout) ([]schedule.Algo, error) {
	avail := schedule.AvailableOn(c, l)
	if strings.TrimSpace(strings.ToLower(s)) == "all" || strings.TrimSpace(s) == "" {
		return avail, nil
	}
	var out []schedule.Algo
	for _, name := range strings.Split(s, ",") {
		a, err := schedule.ParseAlgo(name)
		if err != nil || a == schedule.AlgoAuto {
			return nil, fmt.Errorf("sim: -algo: unknown algorithm %q", strings.TrimSpace(name))
		}
		ok := false
		for _, x := range avail {
			ok = ok || x == a
		}
		if !ok {
			return nil, fmt.Errorf("sim: -algo %v: not available for %v on this layout (available: %v)", a, c, avail)
		}
		out = append(out, a)
	}
	return out, nil
}
