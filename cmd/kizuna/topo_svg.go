package main

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/kizuna-hpc/kizuna/topology"
)

// svgCell is the distance between neighbouring nodes in a drawing.
const svgCell = 36.0

// svgNodeR is a node's radius.
const svgNodeR = svgCell * 0.32

// svgTop is the height of the title band.
const svgTop = 44.0

// drawing is the plane layout of a network: node centres, and for grids the
// dimension and axis of every coordinate.
type drawing struct {
	xs, ys []float64
	w, h   float64
	grid   *topology.GridNet
	axis   []int // per grid dimension: 0 across, 1 down
	level  []int // per grid dimension: 0 innermost on its axis, then 1, 2, ...
	// left and top edges of the grid's nodes
	left, top float64
}

// gridLayout folds a torus, mesh or Tofu-D of any dimension into the
// plane: the last dimension runs across, the one before down, the one
// before that across again in blocks separated by a gap, then down in
// blocks, and so on outwards, each level's gap wider. 2-D tori come out as
// a grid (first coordinate down), 3-D as slices side by side, Tofu-D as
// its 2x3x2 units in a block of X x Y x Z. Every link joins two nodes in
// one row or one column.
func gridLayout(g *topology.GridNet) drawing {
	shape := g.Shape()
	nd := len(shape)
	d := drawing{grid: g, axis: make([]int, nd), level: make([]int, nd), left: svgCell, top: svgTop + svgCell}
	unit := make([]float64, nd)
	ext := [2]float64{svgCell, svgCell} // extent of the levels so far, per axis
	level := [2]int{}
	for i := nd - 1; i >= 0; i-- {
		ax := (nd - 1 - i) % 2
		d.axis[i], d.level[i] = ax, level[ax]
		if level[ax] == 0 {
			unit[i] = svgCell
			ext[ax] = float64(shape[i]) * svgCell
		} else {
			gap := svgCell * (0.5 + 0.5*float64(level[ax]))
			unit[i] = ext[ax] + gap
			ext[ax] = float64(shape[i])*unit[i] - gap
		}
		level[ax]++
	}
	n := g.Nodes()
	d.xs, d.ys = make([]float64, n), make([]float64, n)
	for v := range n {
		x, y := svgCell, svgTop+svgCell
		for i, c := range topology.Coord(g, v) {
			if d.axis[i] == 0 {
				x += float64(c) * unit[i]
			} else {
				y += float64(c) * unit[i]
			}
		}
		d.xs[v], d.ys[v] = x, y
	}
	d.w = ext[0] + svgCell
	d.h = svgTop + ext[1] + 1.6*svgCell
	return d
}

// dragonflyLayout puts the groups on a big circle, each group's routers on
// a small circle inside the group's outline and each router's nodes just
// outside it. A group's routers are spread round the outer side of its
// circle in the order the node cycle visits them, from the side facing
// the previous group to the side facing the next, so that the ring's
// global steps join neighbouring groups' facing routers.
func dragonflyLayout(t *topology.Dragonfly) (d drawing, rx, ry []float64, gx, gy []float64, gr float64) {
	g, a, k := t.Groups, t.Routers, t.NodesPerRouter
	small := max(svgCell*float64(a)/(2*math.Pi)*1.4, svgCell*0.8)
	gr = small + svgCell*1.1
	big := 0.0
	if g > 1 {
		big = max((2*gr+svgCell)*float64(g)/(2*math.Pi), gr+svgCell)
	}
	c := big + gr + svgCell
	d.xs, d.ys = make([]float64, t.Nodes()), make([]float64, t.Nodes())
	rx, ry = make([]float64, g*a), make([]float64, g*a)
	gx, gy = make([]float64, g), make([]float64, g)
	for gi := range g {
		ga := 2*math.Pi*float64(gi)/float64(g) - math.Pi/2
		gx[gi], gy[gi] = c+big*math.Cos(ga), svgTop+c+big*math.Sin(ga)
	}
	// Routers of each group in the order the node cycle visits them.
	order := make([][]int, g)
	seen := make([]bool, g*a)
	cycle, err := topology.NodeCycle(t)
	if err != nil {
		cycle = nil
	}
	for _, v := range cycle {
		if r := t.Router(v); !seen[r] {
			seen[r] = true
			order[r/a] = append(order[r/a], r)
		}
	}
	for r := range seen {
		if !seen[r] {
			order[r/a] = append(order[r/a], r)
		}
	}
	for gi := range g {
		// Sweep from the direction of the previous group, round the outer
		// side, to the direction of the next.
		out := math.Atan2(gy[gi]-svgTop-c, gx[gi]-c)
		from, span := out-math.Pi, 2*math.Pi
		if g > 2 {
			prev, next := (gi+g-1)%g, (gi+1)%g
			pa := math.Atan2(gy[prev]-gy[gi], gx[prev]-gx[gi])
			na := math.Atan2(gy[next]-gy[gi], gx[next]-gx[gi])
			// the arc from pa to na that contains out
			span = math.Mod(na-pa+4*math.Pi, 2*math.Pi)
			if math.Mod(out-pa+4*math.Pi, 2*math.Pi) > span {
				span -= 2 * math.Pi
			}
			from = pa
		}
		for i, r := range order[gi] {
			f := (float64(i) + 0.5) / float64(a)
			if g > 2 && a > 1 {
				f = 0.12 + 0.76*float64(i)/float64(a-1)
			}
			ra := from + span*f
			rx[r], ry[r] = gx[gi]+small*math.Cos(ra), gy[gi]+small*math.Sin(ra)
			for ni := range k {
				na := ra + (float64(ni)-float64(k-1)/2)*0.9*svgCell/(small+svgCell*0.7)
				v := r*k + ni
				d.xs[v] = gx[gi] + (small+svgCell*0.7)*math.Cos(na)
				d.ys[v] = gy[gi] + (small+svgCell*0.7)*math.Sin(na)
			}
		}
	}
	d.w, d.h = 2*c, svgTop+2*c+svgCell
	return d, rx, ry, gx, gy, gr
}

// circleLayout puts n nodes on a circle (a flat network).
func circleLayout(n int) drawing {
	r := max(svgCell*float64(n)/(2*math.Pi), 2*svgCell)
	c := r + svgCell
	d := drawing{xs: make([]float64, n), ys: make([]float64, n), w: 2 * c, h: svgTop + 2*c + svgCell}
	for v := range n {
		a := 2*math.Pi*float64(v)/float64(n) - math.Pi/2
		d.xs[v], d.ys[v] = c+r*math.Cos(a), svgTop+c+r*math.Sin(a)
	}
	return d
}

// segment is how a link or step between two grid nodes is drawn: a
// straight line; two stubs for a wrap-around link of an innermost
// dimension (out of a's side of the box, into b's from the other side,
// the way a torus is usually drawn); or a quadratic arc (control point c)
// for links of outer dimensions, which would otherwise run over the nodes
// in between: beside the row or column, or around the whole grid for a
// wrap-around.
type segment struct {
	kind           int // segLine, segStubs, segArc
	x1, y1, x2, y2 float64
	cx, cy         float64
	sx, sy         float64 // stub direction at a (unit); b's stub comes in along it
}

const (
	segLine = iota
	segStubs
	segArc
)

func (d drawing) segment(a, b int) segment {
	sg := segment{kind: segLine, x1: d.xs[a], y1: d.ys[a], x2: d.xs[b], y2: d.ys[b]}
	if d.grid == nil {
		return sg
	}
	ca, cb := topology.Coord(d.grid, a), topology.Coord(d.grid, b)
	for i := range ca {
		diff := cb[i] - ca[i]
		if diff == 0 {
			continue
		}
		wrap := diff != 1 && diff != -1
		ax := d.axis[i]
		if wrap && d.level[i] == 0 {
			sg.kind = segStubs
			dir := 1.0 // a leaves towards increasing coordinates
			if diff > 0 {
				dir = -1
			}
			if ax == 0 {
				sg.sx = dir
			} else {
				sg.sy = dir
			}
			return sg
		}
		if d.level[i] == 0 {
			return sg // neighbours in the drawing
		}
		sg.kind = segArc
		mx, my := (sg.x1+sg.x2)/2, (sg.y1+sg.y2)/2
		off := svgCell * 0.9
		switch {
		case wrap && ax == 0:
			sg.cx, sg.cy = mx, d.top-svgCell*1.4
		case wrap:
			sg.cx, sg.cy = d.left-svgCell*1.4, my
		case ax == 0:
			sg.cx, sg.cy = mx, my-off
		default:
			sg.cx, sg.cy = mx-off, my
		}
		return sg
	}
	return sg
}

// path returns the segment's SVG path data; trim > 0 stops it short of
// the nodes by that much so that an arrow head shows.
func (sg segment) path(trim float64) string {
	cut := func(x, y, tx, ty float64) (float64, float64) { // from (x,y) towards (tx,ty)
		l := math.Hypot(tx-x, ty-y)
		if l == 0 || trim == 0 {
			return x, y
		}
		return x + (tx-x)*trim/l, y + (ty-y)*trim/l
	}
	switch sg.kind {
	case segStubs:
		stub := svgCell * 0.5
		ox, oy := sg.x1+sg.sx*stub, sg.y1+sg.sy*stub
		ix, iy := sg.x2-sg.sx*stub, sg.y2-sg.sy*stub
		sx, sy := cut(sg.x1, sg.y1, ox, oy)
		ex, ey := cut(sg.x2, sg.y2, ix, iy)
		return fmt.Sprintf("M%.1f,%.1f L%.1f,%.1f M%.1f,%.1f L%.1f,%.1f", sx, sy, ox, oy, ix, iy, ex, ey)
	case segArc:
		sx, sy := cut(sg.x1, sg.y1, sg.cx, sg.cy)
		ex, ey := cut(sg.x2, sg.y2, sg.cx, sg.cy)
		return fmt.Sprintf("M%.1f,%.1f Q%.1f,%.1f %.1f,%.1f", sx, sy, sg.cx, sg.cy, ex, ey)
	}
	sx, sy := cut(sg.x1, sg.y1, sg.x2, sg.y2)
	ex, ey := cut(sg.x2, sg.y2, sg.x1, sg.y1)
	return fmt.Sprintf("M%.1f,%.1f L%.1f,%.1f", sx, sy, ex, ey)
}

// rankLabel is the text inside a node: its ranks, or the first and a count.
func rankLabel(ranks []int) string {
	switch len(ranks) {
	case 0:
		return ""
	case 1:
		return strconv.Itoa(ranks[0])
	case 2:
		return strconv.Itoa(ranks[0]) + "," + strconv.Itoa(ranks[1])
	}
	return fmt.Sprintf("%d+%d", ranks[0], len(ranks)-1)
}

// writeSVG draws t with placement p and the ring (ranks in ring order):
//
//   - the network's links in grey (wrap-around links of a torus as arcs,
//     dragonfly local links inside each group and global links between
//     groups), locality groups shaded (the slices of a 3-D torus, the
//     Tofu units; the groups of a dragonfly as circles with their routers);
//   - each node as <circle class="node"> with the ranks on it written
//     inside and listed in its tooltip;
//   - every ring step between two nodes as a red arrow, <path
//     class="step">, arced like the link it follows (steps between ranks of
//     one node are not drawn);
//   - a title with the network, the ranks, the placement and the ring's
//     longest step, and a legend.
//
// A Flat of any size is drawn with one node per placed node.
func writeSVG(w io.Writer, t topology.Topology, p topology.Placement, placement string, ring []int) {
	nodes := t.Nodes()
	if nodes == 0 {
		for _, n := range p.Nodes {
			nodes = max(nodes, n+1)
		}
	}
	var (
		d              drawing
		df             *topology.Dragonfly
		rx, ry, gx, gy []float64
		gr             float64
	)
	switch tt := t.(type) {
	case *topology.GridNet:
		d = gridLayout(tt)
	case *topology.Dragonfly:
		df = tt
		d, rx, ry, gx, gy, gr = dragonflyLayout(tt)
	default:
		d = circleLayout(nodes)
	}
	d.w = max(d.w, 520)
	ranksOn := make([][]int, nodes)
	for r, n := range p.Nodes {
		ranksOn[n] = append(ranksOn[n], r)
	}
	hops := 0
	for i, r := range ring {
		hops = max(hops, t.Hops(p.Nodes[r], p.Nodes[ring[(i+1)%len(ring)]]))
	}
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" font-family="Helvetica, Arial, sans-serif">
<title>%s: %d ranks, embedded ring</title>
<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="4.5" markerHeight="4.5" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#c8102e"/></marker></defs>
<rect width="100%%" height="100%%" fill="white"/>
<text x="12" y="20" font-size="14" font-weight="bold">%s</text>
<text x="12" y="36" font-size="11" fill="#444">%d ranks, placement %s; red: embedded ring, longest step %d hop(s)</text>
`, d.w, d.h, d.w, d.h, t.Name(), p.Ranks(), xmlEscape(t.Name()), p.Ranks(), xmlEscape(placement), hops)

	// Locality groups and links, underneath.
	fmt.Fprintln(w, `<g class="groups" fill="#eef3fa" stroke="#c5d3e6" stroke-width="1">`)
	switch {
	case d.grid != nil && len(d.grid.Shape()) >= 3:
		lo := map[int][4]float64{}
		for v := range nodes {
			g := t.Group(v)
			b, ok := lo[g]
			if !ok {
				b = [4]float64{d.xs[v], d.ys[v], d.xs[v], d.ys[v]}
			}
			lo[g] = [4]float64{min(b[0], d.xs[v]), min(b[1], d.ys[v]), max(b[2], d.xs[v]), max(b[3], d.ys[v])}
		}
		for g := range len(lo) {
			b := lo[g]
			pad := svgCell * 0.45
			fmt.Fprintf(w, `<rect class="group" x="%.1f" y="%.1f" width="%.1f" height="%.1f" rx="6"><title>group %d</title></rect>`+"\n",
				b[0]-pad, b[1]-pad, b[2]-b[0]+2*pad, b[3]-b[1]+2*pad, g)
		}
	case df != nil:
		for g := range df.Groups {
			fmt.Fprintf(w, `<circle class="group" cx="%.1f" cy="%.1f" r="%.1f"><title>group %d</title></circle>`+"\n", gx[g], gy[g], gr, g)
		}
	}
	fmt.Fprintln(w, `</g>`)
	fmt.Fprintln(w, `<g class="links" fill="none" stroke="#b0b0b0" stroke-width="1">`)
	switch {
	case d.grid != nil:
		for v := range nodes {
			for _, u := range d.grid.Neighbors(v) {
				if u <= v {
					continue
				}
				sg := d.segment(v, u)
				if sg.kind == segArc && nodes > 32 {
					continue // outer dimensions' links of a big grid: too many arcs to read
				}
				fmt.Fprintf(w, `<path class="link" d="%s"/>`+"\n", sg.path(0))
			}
		}
	case df != nil:
		seen := map[[2]int]bool{}
		for _, l := range df.Links() {
			if l.Kind != topology.Local && l.Kind != topology.Global {
				continue
			}
			a, b := l.From-nodes, l.To-nodes
			if seen[[2]int{b, a}] || seen[[2]int{a, b}] {
				continue
			}
			seen[[2]int{a, b}] = true
			stroke := ""
			if l.Kind == topology.Global {
				stroke = ` stroke="#9db4d0"`
			}
			fmt.Fprintf(w, `<line class="link" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"%s/>`+"\n", rx[a], ry[a], rx[b], ry[b], stroke)
		}
		for v := range nodes {
			r := df.Router(v)
			fmt.Fprintf(w, `<line class="link" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"/>`+"\n", d.xs[v], d.ys[v], rx[r], ry[r])
		}
	}
	fmt.Fprintln(w, `</g>`)
	if df != nil {
		fmt.Fprintln(w, `<g class="routers" fill="#666">`)
		for r := range rx {
			fmt.Fprintf(w, `<rect class="router" x="%.1f" y="%.1f" width="8" height="8"><title>router %d</title></rect>`+"\n", rx[r]-4, ry[r]-4, r)
		}
		fmt.Fprintln(w, `</g>`)
	}

	// The ring, then the nodes on top.
	fmt.Fprintln(w, `<g class="ring" fill="none" stroke="#c8102e" stroke-width="2" marker-end="url(#arrow)">`)
	for i, r := range ring {
		a, b := p.Nodes[r], p.Nodes[ring[(i+1)%len(ring)]]
		if a == b {
			continue
		}
		fmt.Fprintf(w, `<path class="step" d="%s"/>`+"\n", d.segment(a, b).path(svgNodeR))
	}
	fmt.Fprintln(w, `</g>`)
	fmt.Fprintln(w, `<g class="nodes" stroke="#345" stroke-width="1" font-size="9" text-anchor="middle">`)
	for n := range nodes {
		fill := "#f4f4f4"
		if len(ranksOn[n]) > 0 {
			fill = "#a9d0f5"
		}
		fmt.Fprintf(w, `<circle class="node" cx="%.1f" cy="%.1f" r="%.1f" fill="%s"><title>node %d %v ranks %v</title></circle>`+"\n",
			d.xs[n], d.ys[n], svgNodeR, fill, n, topology.Coord(t, n), ranksOn[n])
		if l := rankLabel(ranksOn[n]); l != "" {
			fmt.Fprintf(w, `<text x="%.1f" y="%.1f" stroke="none" fill="#123">%s</text>`+"\n", d.xs[n], d.ys[n]+3, l)
		}
	}
	fmt.Fprintln(w, `</g>`)
	ly := d.h - svgCell*0.5
	fmt.Fprintf(w, `<g class="legend" font-size="10" fill="#444">
<line x1="12" y1="%.1f" x2="40" y2="%.1f" stroke="#c8102e" stroke-width="2" marker-end="url(#arrow)"/><text x="46" y="%.1f">ring step</text>
<line x1="110" y1="%.1f" x2="138" y2="%.1f" stroke="#b0b0b0"/><text x="144" y="%.1f">link</text>
<circle cx="190" cy="%.1f" r="6" fill="#a9d0f5" stroke="#345"/><text x="200" y="%.1f">node: its ranks</text>
</g>
`, ly, ly, ly+3, ly, ly, ly+3, ly, ly+3)
	fmt.Fprintln(w, `</svg>`)
}

func xmlEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '&':
			b.WriteString("&amp;")
		case '"':
			b.WriteString("&quot;")
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
