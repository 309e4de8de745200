package plot

import (
	"bufio"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// ErrNoData is returned by WriteSVG for a chart without a single finite
// point to draw.
var ErrNoData = errors.New("plot: no data")

// Series is one line of a chart: points (X[i], Y[i]) joined in order.
// Points whose X or Y is NaN or infinite, or whose X is not positive on a
// log axis, are left out (the line skips them).
type Series struct {
	Name string
	X, Y []float64
}

// Chart is a line chart. The zero value of every optional field means the
// default.
type Chart struct {
	Title  string
	XLabel string
	YLabel string
	// LogX draws the x axis in log base 2, with a tick at every power of
	// two in range (thinned to at most MaxXTicks).
	LogX bool
	// XBytes labels x ticks as byte sizes (8B, 64K, 1M, 1G) instead of numbers.
	XBytes bool
	// LogY draws the y axis in log base 2 (for ratios: 0.5 and 2 lie
	// equally far from 1), with a tick at every power of two in range;
	// points with y <= 0 are left out. Otherwise y is linear from zero.
	LogY bool
	// RefY draws a dashed horizontal line at each of these y values, labelled
	// with the value (for example 1 on a ratio chart).
	RefY []float64
	// YMax fixes the top of the y axis; 0 picks a round value above the data.
	YMax   float64
	Series []Series
	// Width and Height are the picture's size in pixels; default 900 x 520,
	// wider when legend names are long (the plot area keeps its width).
	Width, Height int
}

// MaxXTicks bounds the number of labelled ticks on the x axis.
const MaxXTicks = 14

// palette is Tableau 10: colours that stay apart for colour-blind readers
// and in grey scale reasonably well; markers tell series apart beyond it.
var palette = []string{"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"}

const (
	marginLeft   = 78
	marginTop    = 46
	marginBottom = 62
	minLegend    = 220
	charWidth    = 7.5 // a generous average advance of the 13px font
	fontFamily   = "DejaVu Sans, Helvetica, Arial, sans-serif"
)

// WriteSVG renders c as a standalone SVG document.
func (c *Chart) WriteSVG(w io.Writer) error {
	legendWidth := minLegend
	for _, s := range c.Series {
		legendWidth = max(legendWidth, 40+int(charWidth*float64(len([]rune(s.Name))))+1)
	}
	width, height := c.Width, c.Height
	if width == 0 {
		width = 900 - minLegend + legendWidth
	}
	if height == 0 {
		height = 520
	}
	plotW := float64(width - marginLeft - legendWidth - 20)
	plotH := float64(height - marginTop - marginBottom)
	if plotW < 50 || plotH < 50 {
		return fmt.Errorf("plot: size %dx%d too small", width, height)
	}

	xmin, xmax, ymin, ymax := math.Inf(1), math.Inf(-1), math.Inf(1), 0.0
	points := 0
	for _, s := range c.Series {
		if len(s.X) != len(s.Y) {
			return fmt.Errorf("plot: series %q has %d x values and %d y values", s.Name, len(s.X), len(s.Y))
		}
		for i := range s.X {
			if !c.usable(s.X[i], s.Y[i]) {
				continue
			}
			xmin, xmax = min(xmin, s.X[i]), max(xmax, s.X[i])
			ymin, ymax = min(ymin, s.Y[i]), max(ymax, s.Y[i])
			points++
		}
	}
	if points == 0 {
		return ErrNoData
	}
	for _, r := range c.RefY {
		if !math.IsNaN(r) && !math.IsInf(r, 0) && (!c.LogY || r > 0) {
			ymin, ymax = min(ymin, r), max(ymax, r)
		}
	}
	if c.YMax > 0 {
		ymax = c.YMax
	}
	var yticks []float64
	var ybot, ytop float64
	fy := func(y float64) float64 { return y }
	if c.LogY {
		lo, hi := math.Floor(math.Log2(ymin)), math.Ceil(math.Log2(ymax))
		if hi == lo {
			hi++
		}
		step := math.Ceil((hi - lo) / 10)
		lo = math.Floor(lo/step) * step // ticks on multiples of step, so 1 is one
		for e := lo; e < hi+step; e += step {
			yticks = append(yticks, math.Exp2(e))
		}
		ybot, ytop = math.Exp2(lo), yticks[len(yticks)-1]
		fy = math.Log2
	} else {
		yticks = niceTicks(ymax)
		ytop = yticks[len(yticks)-1]
	}

	// x mapping
	fx := func(x float64) float64 { return x }
	if c.LogX {
		fx = math.Log2
	}
	lo, hi := fx(xmin), fx(xmax)
	if hi == lo {
		lo, hi = lo-1, hi+1
	}
	px := func(x float64) float64 { return marginLeft + (fx(x)-lo)/(hi-lo)*plotW }
	py := func(y float64) float64 {
		y = min(max(y, ybot), ytop)
		return marginTop + plotH - (fy(y)-fy(ybot))/(fy(ytop)-fy(ybot))*plotH
	}

	bw := bufio.NewWriter(w)
	p := func(format string, args ...any) { fmt.Fprintf(bw, format, args...) }
	p(`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="%s" font-size="13">`+"\n",
		width, height, width, height, fontFamily)
	p(`<rect x="0" y="0" width="%d" height="%d" fill="white"/>`+"\n", width, height)
	if c.Title != "" {
		p(`<text x="%d" y="26" font-size="16" font-weight="bold">%s</text>`+"\n", marginLeft, esc(c.Title))
	}

	// y grid, ticks and labels
	for _, t := range yticks {
		y := py(t)
		p(`<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#e0e0e0" stroke-width="1"/>`+"\n", f(marginLeft), f(y), f(marginLeft+plotW), f(y))
		label := fmtNum(t)
		if c.LogY && t < 1 {
			label = "1/" + fmtNum(1/t) // 1/128 rather than 0.0078125
		}
		p(`<text x="%d" y="%s" text-anchor="end" dominant-baseline="middle">%s</text>`+"\n", marginLeft-8, f(y), esc(label))
	}
	// x ticks
	for _, t := range c.xTicks(xmin, xmax) {
		x := px(t)
		p(`<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#e0e0e0" stroke-width="1"/>`+"\n", f(x), f(marginTop), f(x), f(marginTop+plotH))
		label := fmtNum(t)
		if c.XBytes {
			label = FormatBytes(t)
		}
		p(`<text x="%s" y="%s" text-anchor="middle">%s</text>`+"\n", f(x), f(marginTop+plotH+20), esc(label))
	}
	// axes
	p(`<rect x="%d" y="%d" width="%s" height="%s" fill="none" stroke="#333" stroke-width="1"/>`+"\n", marginLeft, marginTop, f(plotW), f(plotH))
	if c.XLabel != "" {
		p(`<text x="%s" y="%d" text-anchor="middle">%s</text>`+"\n", f(marginLeft+plotW/2), height-14, esc(c.XLabel))
	}
	if c.YLabel != "" {
		cy := marginTop + plotH/2
		p(`<text x="18" y="%s" text-anchor="middle" transform="rotate(-90 18 %s)">%s</text>`+"\n", f(cy), f(cy), esc(c.YLabel))
	}
	// reference lines
	for _, r := range c.RefY {
		if math.IsNaN(r) || math.IsInf(r, 0) || r < ybot || r > ytop || c.LogY && r <= 0 {
			continue
		}
		y := py(r)
		p(`<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#555" stroke-width="1.2" stroke-dasharray="6 4"/>`+"\n", f(marginLeft), f(y), f(marginLeft+plotW), f(y))
		p(`<text x="%s" y="%s" text-anchor="end" fill="#555" font-size="11">%s</text>`+"\n", f(marginLeft+plotW-4), f(y-4), esc(fmtNum(r)))
	}
	// series
	for i, s := range c.Series {
		color := palette[i%len(palette)]
		var pts []string
		p(`<g class="series" data-name="%s">`+"\n", esc(s.Name))
		for j := range s.X {
			if !c.usable(s.X[j], s.Y[j]) {
				continue
			}
			pts = append(pts, f(px(s.X[j]))+","+f(py(s.Y[j])))
		}
		if len(pts) > 1 {
			p(`<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`+"\n", color, strings.Join(pts, " "))
		}
		for _, pt := range pts {
			x, y, _ := strings.Cut(pt, ",")
			marker(bw, i/len(palette), x, y, color)
		}
		p("</g>\n")
	}
	// legend, right of the plot area
	lx := float64(marginLeft) + plotW + 20
	for i, s := range c.Series {
		color := palette[i%len(palette)]
		ly := float64(marginTop) + 10 + float64(i)*20
		p(`<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-width="2"/>`+"\n", f(lx), f(ly), f(lx+24), f(ly), color)
		marker(bw, i/len(palette), f(lx+12), f(ly), color)
		p(`<text x="%s" y="%s" dominant-baseline="middle">%s</text>`+"\n", f(lx+32), f(ly), esc(s.Name))
	}
	p("</svg>\n")
	return bw.Flush()
}

// usable reports whether (x, y) can be drawn.
func (c *Chart) usable(x, y float64) bool {
	if math.IsNaN(x) || math.IsNaN(y) || math.IsInf(x, 0) || math.IsInf(y, 0) {
		return false
	}
	return (!c.LogX || x > 0) && (!c.LogY || y > 0)
}

// marker draws the k-th marker shape (circle, square, diamond, triangle).
func marker(w io.Writer, k int, x, y, color string) {
	cx, _ := strconv.ParseFloat(x, 64)
	cy, _ := strconv.ParseFloat(y, 64)
	switch k % 4 {
	case 0:
		fmt.Fprintf(w, `<circle cx="%s" cy="%s" r="3.5" fill="%s"/>`+"\n", x, y, color)
	case 1:
		fmt.Fprintf(w, `<rect x="%s" y="%s" width="7" height="7" fill="%s"/>`+"\n", f(cx-3.5), f(cy-3.5), color)
	case 2:
		fmt.Fprintf(w, `<polygon points="%s,%s %s,%s %s,%s %s,%s" fill="%s"/>`+"\n", f(cx), f(cy-4.5), f(cx+4.5), f(cy), f(cx), f(cy+4.5), f(cx-4.5), f(cy), color)
	default:
		fmt.Fprintf(w, `<polygon points="%s,%s %s,%s %s,%s" fill="%s"/>`+"\n", f(cx), f(cy-4.5), f(cx+4.5), f(cy+3.5), f(cx-4.5), f(cy+3.5), color)
	}
}

// xTicks lists the x values to label: powers of two on a log axis, round
// numbers on a linear one.
func (c *Chart) xTicks(xmin, xmax float64) []float64 {
	if !c.LogX {
		var out []float64
		for _, t := range niceTicks(xmax) {
			if t >= xmin {
				out = append(out, t)
			}
		}
		return out
	}
	lo, hi := int(math.Ceil(math.Log2(xmin)-1e-9)), int(math.Floor(math.Log2(xmax)+1e-9))
	step := 1
	for (hi-lo)/step+1 > MaxXTicks {
		step++
	}
	var out []float64
	for e := lo; e <= hi; e += step {
		out = append(out, math.Exp2(float64(e)))
	}
	return out
}

// niceTicks returns 0, s, 2s, ... up to the first multiple of s at or
// above top, where s is 1, 2 or 5 times a power of ten giving few
// intervals (at most 6).
func niceTicks(top float64) []float64 {
	if top <= 0 {
		top = 1
	}
	raw := top / 5
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	var step float64
	for _, m := range []float64{1, 2, 5, 10} {
		step = m * mag
		if top/step <= 6 {
			break
		}
	}
	n := int(math.Ceil(top/step - 1e-9))
	out := make([]float64, n+1)
	for i := range out {
		out[i] = float64(i) * step
	}
	return out
}

// FormatBytes writes a byte count the way the chart labels it: 8B, 512B,
// 64K, 1M, 2G (powers of 1024; other values with up to three digits).
func FormatBytes(b float64) string {
	for _, u := range []struct {
		div float64
		sfx string
	}{{1 << 30, "G"}, {1 << 20, "M"}, {1 << 10, "K"}} {
		if b >= u.div {
			return strconv.FormatFloat(b/u.div, 'g', 3, 64) + u.sfx
		}
	}
	return strconv.FormatFloat(b, 'g', 3, 64) + "B"
}

// fmtNum formats a tick value compactly, hiding float noise such as
// 3*0.1 = 0.30000000000000004.
func fmtNum(v float64) string {
	return strconv.FormatFloat(v, 'g', 6, 64)
}

// f formats a coordinate with two decimals.
func f(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) }

func esc(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}
