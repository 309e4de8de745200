package sim

import (
	"context"
	"fmt"
	"hash/fnv"
	"slices"

	"github.com/kizuna-hpc/kizuna/collective/schedule"
	"github.com/kizuna-hpc/kizuna/topology"
)

// flow is one message of a step, from rank src to rank dst.
type flow struct{ src, dst int32 }

// loads routes flows and returns, per flow, the hops of its route and the
// number of flows on the busiest link of its route (the bottleneck-link
// model: a link's bandwidth is split evenly among the flows crossing it, and
// a flow moves at the rate of its most shared link).
func loads(t topology.Topology, pl topology.Placement, flows []flow) (hops, load []int32) {
	ids := make(map[topology.Link]int32)
	var count []int32
	off := make([]int32, len(flows)+1)
	var route []int32
	for i, f := range flows {
		for _, l := range t.Route(pl.Nodes[f.src], pl.Nodes[f.dst]) {
			id, ok := ids[l]
			if !ok {
				id = int32(len(count))
				ids[l] = id
				count = append(count, 0)
			}
			count[id]++
			route = append(route, id)
		}
		off[i+1] = int32(len(route))
	}
	hops, load = make([]int32, len(flows)), make([]int32, len(flows))
	for i := range flows {
		ls := route[off[i]:off[i+1]]
		hops[i] = int32(len(ls))
		for _, id := range ls {
			load[i] = max(load[i], count[id])
		}
	}
	return hops, load
}

// fullPattern is one routed step of the full evaluator.
type fullPattern struct {
	flows      []flow
	hops, load []int32
}

func hashFlows(fs []flow) uint64 {
	h := fnv.New64a()
	var b [8]byte
	for _, f := range fs {
		b[0], b[1], b[2], b[3] = byte(f.src), byte(f.src>>8), byte(f.src>>16), byte(f.src>>24)
		b[4], b[5], b[6], b[7] = byte(f.dst), byte(f.dst>>8), byte(f.dst>>16), byte(f.dst>>24)
		h.Write(b[:])
	}
	return h.Sum64()
}

// pattern returns the routed pattern of flows, from the cache when the same
// flows (in the same order) were routed before.
func (p *Pricer) pattern(flows []flow) *fullPattern {
	k := hashFlows(flows)
	for _, c := range p.full[k] {
		if slices.Equal(c.flows, flows) {
			return c
		}
	}
	c := &fullPattern{flows: slices.Clone(flows)}
	c.hops, c.load = loads(p.m.Topo, p.m.Place, c.flows)
	p.full[k] = append(p.full[k], c)
	return c
}

// PriceFull prices q by building every rank's schedule: step i of every
// rank runs in the same round (lock-step); a round's messages are routed
// together (bottleneck-link sharing, see loads), each arriving Alpha +
// hops·HopLatency + load·bytes/LinkBW after the round starts (plus its
// sender's local copies); each rank then applies its receives in schedule
// order, waiting for each and reducing it (Gamma per byte), after its own
// copies (Gamma per byte). The round lasts until its slowest rank is done;
// the call is the sum of its rounds. It fails with ErrTooLarge on more
// than MaxFullRanks ranks.
func (p *Pricer) PriceFull(ctx context.Context, q Query) (Estimate, error) {
	if q.ElemSize == 0 {
		q.ElemSize = 4
	}
	n := p.Ranks()
	if n > p.maxFull {
		return Estimate{}, fmt.Errorf("%w: %v %v on %d ranks, at most %d (only ring, torus and hier all-reduce have a symmetric evaluator)",
			ErrTooLarge, q.Coll, q.Algo, n, p.maxFull)
	}
	scheds := make([]*schedule.Schedule, n)
	steps := 0
	for r := range n {
		s, err := schedule.Build(p.params(q, r, q.Count))
		if err != nil {
			return Estimate{}, fmt.Errorf("sim: %v %v rank %d: %w", q.Coll, q.Algo, r, err)
		}
		scheds[r] = s
		steps = max(steps, len(s.Steps))
	}
	if q.Timing == PerRank {
		return p.priceEvents(ctx, q, scheds, steps)
	}
	es := float64(q.ElemSize)
	est := Estimate{Steps: steps, Mode: Full}
	used := make(map[*fullPattern]bool)
	var (
		flows  []flow
		bytes  []float64
		reduce []bool
		start  = make([]float64, n) // per rank: time its copies end
	)
	for i := range steps {
		if err := ctx.Err(); err != nil {
			return Estimate{}, err
		}
		flows, bytes, reduce = flows[:0], bytes[:0], reduce[:0]
		for r, s := range scheds {
			start[r] = 0
			if i >= len(s.Steps) {
				continue
			}
			st := &s.Steps[i]
			for _, c := range st.Copies {
				start[r] += float64(c.Src.N) * es * p.net.Gamma
			}
			for _, x := range st.Recvs {
				flows = append(flows, flow{src: int32(x.Peer), dst: int32(r)})
				bytes = append(bytes, float64(x.Region.N)*es)
				reduce = append(reduce, x.Reduce)
			}
		}
		if len(flows) == 0 {
			continue
		}
		pat := p.pattern(flows)
		used[pat] = true
		round := 0.0
		for j := 0; j < len(flows); {
			r := flows[j].dst
			t := start[r]
			for ; j < len(flows) && flows[j].dst == r; j++ {
				arr := start[flows[j].src] + p.msgTime(int(pat.hops[j]), int(pat.load[j]), bytes[j])
				t = max(t, arr)
				if reduce[j] {
					t += bytes[j] * p.net.Gamma
				}
			}
			round = max(round, t)
		}
		est.Seconds += round
	}
	est.Patterns = len(used)
	return est, nil
}
