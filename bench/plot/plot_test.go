package plot

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"math"
	"strconv"
	"strings"
	"testing"
)

// svgDoc is the part of the output the tests look at.
type svgDoc struct {
	Groups []struct {
		Name     string `xml:"data-name,attr"`
		Polyline struct {
			Points string `xml:"points,attr"`
		} `xml:"polyline"`
	} `xml:"g"`
	Texts []string `xml:"text"`
}

func render(t *testing.T, c *Chart) (string, svgDoc) {
	t.Helper()
	var buf bytes.Buffer
	if err := c.WriteSVG(&buf); err != nil {
		t.Fatalf("WriteSVG() = %v; want nil", err)
	}
	var doc svgDoc
	if err := xml.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatalf("output is not well-formed XML: %v\n%s", err, buf.String())
	}
	return buf.String(), doc
}

func parsePoints(t *testing.T, s string) [][2]float64 {
	t.Helper()
	var out [][2]float64
	for _, p := range strings.Fields(s) {
		xs, ys, ok := strings.Cut(p, ",")
		x, err1 := strconv.ParseFloat(xs, 64)
		y, err2 := strconv.ParseFloat(ys, 64)
		if !ok || err1 != nil || err2 != nil {
			t.Fatalf("bad point %q", p)
		}
		out = append(out, [2]float64{x, y})
	}
	return out
}

func TestWriteSVGLogAxis(t *testing.T) {
	c := &Chart{
		Title: "busbw <np=2> & more", XLabel: "size", YLabel: "GB/s", LogX: true, XBytes: true,
		Series: []Series{
			{Name: "ring", X: []float64{1 << 10, 1 << 11, 1 << 12, 1 << 13}, Y: []float64{1, 2, 3, 4}},
			{Name: "tree & co", X: []float64{1 << 10, 1 << 13}, Y: []float64{4, 0.5}},
		},
	}
	out, doc := render(t, c)
	if len(doc.Groups) != 2 {
		t.Fatalf("WriteSVG drew %d series; want 2", len(doc.Groups))
	}
	if doc.Groups[1].Name != "tree & co" {
		t.Errorf("series name = %q; want %q", doc.Groups[1].Name, "tree & co")
	}
	pts := parsePoints(t, doc.Groups[0].Polyline.Points)
	if len(pts) != 4 {
		t.Fatalf("ring has %d points; want 4", len(pts))
	}
	// log2 axis: doubling sizes are evenly spaced; y grows upwards, linearly.
	dx0, dx1, dx2 := pts[1][0]-pts[0][0], pts[2][0]-pts[1][0], pts[3][0]-pts[2][0]
	if math.Abs(dx0-dx1) > 0.02 || math.Abs(dx1-dx2) > 0.02 || dx0 <= 0 {
		t.Errorf("x steps %v %v %v; want equal and positive on a log2 axis", dx0, dx1, dx2)
	}
	dy0, dy1 := pts[0][1]-pts[1][1], pts[1][1]-pts[2][1]
	if math.Abs(dy0-dy1) > 0.02 || dy0 <= 0 {
		t.Errorf("y steps %v %v; want equal and upward for linear y", dy0, dy1)
	}
	// the two series share the axes: the same x maps to the same pixel.
	tree := parsePoints(t, doc.Groups[1].Polyline.Points)
	if tree[0][0] != pts[0][0] || tree[1][0] != pts[3][0] || tree[0][1] != pts[3][1] {
		t.Errorf("tree points %v; want x shared with ring %v and y(4) equal", tree, pts)
	}
	for _, want := range []string{"1K", "2K", "4K", "8K", "GB/s", "size", "ring"} {
		if !slicesContains(doc.Texts, want) {
			t.Errorf("labels %q; want one %q", doc.Texts, want)
		}
	}
	if !strings.Contains(out, "busbw &lt;np=2&gt; &amp; more") {
		t.Errorf("title not escaped:\n%s", out)
	}
}

func slicesContains(s []string, v string) bool {
	for _, x := range s {
		if strings.TrimSpace(x) == v {
			return true
		}
	}
	return false
}

func TestWriteSVGSkipsBadPointsAndDrawsRefLines(t *testing.T) {
	c := &Chart{
		LogX: true, RefY: []float64{1, 1.5},
		Series: []Series{{Name: "r", X: []float64{0, 8, math.NaN(), 64, 128}, Y: []float64{1, 2, 3, math.Inf(1), 0.5}}},
	}
	out, doc := render(t, c)
	if got := len(parsePoints(t, doc.Groups[0].Polyline.Points)); got != 2 {
		t.Errorf("drew %d points; want 2 (x<=0, NaN and Inf left out)", got)
	}
	if got := strings.Count(out, "stroke-dasharray"); got != 2 {
		t.Errorf("drew %d reference lines; want 2", got)
	}
}

func TestWriteSVGErrors(t *testing.T) {
	tests := []struct {
		name string
		c    Chart
		want error
	}{
		{"empty", Chart{}, ErrNoData},
		{"all bad", Chart{LogX: true, Series: []Series{{X: []float64{0, -1}, Y: []float64{1, 2}}}}, ErrNoData},
	}
	for _, tt := range tests {
		if err := tt.c.WriteSVG(io.Discard); !errors.Is(err, tt.want) {
			t.Errorf("%s: WriteSVG() = %v; want %v", tt.name, err, tt.want)
		}
	}
	c := Chart{Series: []Series{{Name: "s", X: []float64{1, 2}, Y: []float64{1}}}}
	if err := c.WriteSVG(io.Discard); err == nil || !strings.Contains(err.Error(), `"s"`) {
		t.Errorf("WriteSVG(mismatched lengths) = %v; want an error naming the series", err)
	}
}

func TestWriteSVGDeterministic(t *testing.T) {
	c := &Chart{Series: []Series{{Name: "a", X: []float64{1, 2, 3}, Y: []float64{3, 1, 2}}}}
	var a, b bytes.Buffer
	if err := c.WriteSVG(&a); err != nil {
		t.Fatal(err)
	}
	if err := c.WriteSVG(&b); err != nil {
		t.Fatal(err)
	}
	if a.String() != b.String() {
		t.Error("WriteSVG gave different output for the same chart")
	}
}

func TestNiceTicks(t *testing.T) {
	tests := []struct {
		top  float64
		want []float64
	}{
		{4, []float64{0, 1, 2, 3, 4}},
		{3.7, []float64{0, 1, 2, 3, 4}},
		{0.3, []float64{0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3}},
		{12, []float64{0, 2, 4, 6, 8, 10, 12}},
	}
	for _, tt := range tests {
		got := niceTicks(tt.top)
		if len(got) != len(tt.want) {
			t.Errorf("niceTicks(%v) = %v; want %v", tt.top, got, tt.want)
			continue
		}
		for i := range got {
			if math.Abs(got[i]-tt.want[i]) > 1e-9 {
				t.Errorf("niceTicks(%v) = %v; want %v", tt.top, got, tt.want)
				break
			}
		}
	}
}

func TestFormatBytes(t *testing.T) {
	tests := []struct {
		in   float64
		want string
	}{{8, "8B"}, {512, "512B"}, {65536, "64K"}, {1 << 20, "1M"}, {64 << 20, "64M"}, {3 << 29, "1.5G"}}
	for _, tt := range tests {
		if got := FormatBytes(tt.in); got != tt.want {
			t.Errorf("FormatBytes(%v) = %q; want %q", tt.in, got, tt.want)
		}
	}
}

// TestWriteSVGLogY: on a log2 y axis 0.5, 1, 2 and 4 are evenly spaced,
// ticks are powers of two, and y <= 0 is left out.
func TestWriteSVGLogY(t *testing.T) {
	c := &Chart{LogX: true, LogY: true, RefY: []float64{1},
		Series: []Series{{Name: "ratio", X: []float64{1, 2, 4, 8, 16}, Y: []float64{0.5, 1, 2, 4, 0}}}}
	out, doc := render(t, c)
	pts := parsePoints(t, doc.Groups[0].Polyline.Points)
	if len(pts) != 4 {
		t.Fatalf("drew %d points; want 4 (y=0 left out)", len(pts))
	}
	d0, d1, d2 := pts[0][1]-pts[1][1], pts[1][1]-pts[2][1], pts[2][1]-pts[3][1]
	if d0 <= 0 || math.Abs(d0-d1) > 0.02 || math.Abs(d1-d2) > 0.02 {
		t.Errorf("y steps %v %v %v; want equal and upward on a log2 axis", d0, d1, d2)
	}
	for _, want := range []string{"1/2", "1", "2", "4"} {
		if !slicesContains(doc.Texts, want) {
			t.Errorf("labels %q; want a tick %q", doc.Texts, want)
		}
	}

	// A wide range thins the ticks but keeps 1 among them.
	wide := &Chart{LogY: true, Series: []Series{{Name: "w", X: []float64{1, 2}, Y: []float64{1.0 / 200, 40}}}}
	_, doc = render(t, wide)
	for _, want := range []string{"1/256", "1", "64"} {
		if !slicesContains(doc.Texts, want) {
			t.Errorf("wide range labels %q; want a tick %q", doc.Texts, want)
		}
	}
	if !strings.Contains(out, "stroke-dasharray") {
		t.Error("reference line at 1 missing")
	}
}

// TestWriteSVGLongLegend: a long series name widens the picture so that it
// fits right of the plot area.
func TestWriteSVGLongLegend(t *testing.T) {
	short := &Chart{Series: []Series{{Name: "a", X: []float64{1, 2}, Y: []float64{1, 2}}}}
	long := &Chart{Series: []Series{{Name: strings.Repeat("reducescatter np=4 ", 3), X: []float64{1, 2}, Y: []float64{1, 2}}}}
	width := func(c *Chart) int {
		var buf bytes.Buffer
		if err := c.WriteSVG(&buf); err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Width int `xml:"width,attr"`
		}
		if err := xml.Unmarshal(buf.Bytes(), &doc); err != nil {
			t.Fatal(err)
		}
		return doc.Width
	}
	ws, wl := width(short), width(long)
	if ws != 900 {
		t.Errorf("width with a short name = %d; want 900", ws)
	}
	if need := 900 - 220 + 40 + 427; wl < need { // 7.5 px per character
		t.Errorf("width with a 57-character name = %d; want at least %d", wl, need)
	}
}
