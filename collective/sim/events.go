package sim

import (
	"context"

	"github.com/kizuna-hpc/kizuna/collective/schedule"
	"github.com/kizuna-hpc/kizuna/topology"
)

// Timing says how the full evaluator turns steps into time.
type Timing uint8

const (
	// LockStep (the default): step i of every rank is one round, rounds
	// follow one another, a round's messages share links bottleneck-link
	// (see the package doc).
	LockStep Timing = iota
	// PerRank: every rank keeps its own clock, as the executor does: a rank
	// starts step i when its step i-1 is done, its messages leave then and
	// reserve each link of their route first come, first served (a link
	// carries one message at a time, at LinkBW, from when it is free), and
	// a receive completes when its message's last link is done plus the
	// hops' latency and Alpha. It is the emulator's (transport/emu)
	// arithmetic applied to the schedule, links reserved in step order and,
	// within a step, receiver order. Ranks that idle in a step move on at
	// once, which lock-step rounds do not allow (trees); it costs one route
	// per message, so it does not price repeated patterns once. The
	// symmetric evaluator ignores it: with every rank alike both timings
	// agree.
	PerRank
)

// routeIDs returns the link ids of the route from rank a to rank b,
// numbering links on first use.
func (p *Pricer) routeIDs(a, b int) []int32 {
	k := flow{int32(a), int32(b)}
	if r, ok := p.routes[k]; ok {
		return r
	}
	links := p.m.Topo.Route(p.m.Place.Nodes[a], p.m.Place.Nodes[b])
	r := make([]int32, len(links))
	for i, l := range links {
		id, ok := p.linkIDs[l]
		if !ok {
			id = int32(len(p.linkIDs))
			p.linkIDs[l] = id
		}
		r[i] = id
	}
	p.routes[k] = r
	return r
}

// priceEvents is PriceFull under PerRank timing, on the schedules built.
func (p *Pricer) priceEvents(ctx context.Context, q Query, scheds []*schedule.Schedule, steps int) (Estimate, error) {
	if p.routes == nil {
		p.routes = make(map[flow][]int32)
		p.linkIDs = make(map[topology.Link]int32)
	}
	n := len(scheds)
	es := float64(q.ElemSize)
	clock := make([]float64, n)
	sendAt := make([]float64, n)
	var busy []float64
	pairs := make(map[flow]bool)
	for i := range steps {
		if i&255 == 0 {
			if err := ctx.Err(); err != nil {
				return Estimate{}, err
			}
		}
		for r, s := range scheds {
			sendAt[r] = clock[r]
			if i < len(s.Steps) {
				for _, c := range s.Steps[i].Copies {
					sendAt[r] += float64(c.Src.N) * es * p.net.Gamma
				}
			}
		}
		for r, s := range scheds {
			if i >= len(s.Steps) {
				continue
			}
			t := sendAt[r]
			for _, x := range s.Steps[i].Recvs {
				b := float64(x.Region.N) * es
				depart := sendAt[x.Peer]
				route := p.routeIDs(x.Peer, r)
				pairs[flow{int32(x.Peer), int32(r)}] = true
				arr := depart + p.net.Alpha + b/p.net.LocalBW
				if len(route) > 0 {
					end := depart
					for _, id := range route {
						for int(id) >= len(busy) {
							busy = append(busy, 0)
						}
						fin := max(depart, busy[id]) + b/p.net.LinkBW
						busy[id] = fin
						end = max(end, fin)
					}
					arr = end + float64(len(route))*p.net.HopLatency + p.net.Alpha
				}
				t = max(t, arr)
				if x.Reduce {
					t += b * p.net.Gamma
				}
			}
			clock[r] = t
		}
	}
	est := Estimate{Steps: steps, Mode: Full, Patterns: len(pairs)}
	for _, c := range clock {
		est.Seconds = max(est.Seconds, c)
	}
	return est, nil
}
