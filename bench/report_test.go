package bench

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/kizuna-hpc/kizuna/collective"
	"github.com/kizuna-hpc/kizuna/collective/schedule"
)

// TestCSVMatchesJSON: the CSV header is the JSON object's keys in order,
// and every CSV field equals the JSON value.
func TestCSVMatchesJSON(t *testing.T) {
	r := Row{Op: "allreduce", Bytes: 1 << 20, Count: 1 << 18, DType: "float32", RedOp: "sum", Root: -1, Algo: "ring",
		Choice: "auto", Transport: "tcp", NP: 4, InPlace: true, TimeUS: 123.25, P50US: 120, P99US: 1e-7, AlgBW: 8.5, BusBW: 12.75, Wrong: 3}
	js, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.UseNumber()
	var keys []string
	if _, err := dec.Token(); err != nil { // {
		t.Fatal(err)
	}
	values := map[string]string{}
	for dec.More() {
		k, _ := dec.Token()
		v, _ := dec.Token()
		keys = append(keys, k.(string))
		switch v := v.(type) {
		case json.Number:
			values[k.(string)] = v.String()
		case bool:
			values[k.(string)] = strconv.FormatBool(v)
		case string:
			values[k.(string)] = v
		}
	}
	if got := CSVHeader(); !slices.Equal(got, keys) {
		t.Fatalf("CSVHeader() = %v; want the JSON keys %v", got, keys)
	}
	rec := r.CSVRecord()
	for i, k := range keys {
		got, _ := strconv.ParseFloat(rec[i], 64)
		want, err := strconv.ParseFloat(values[k], 64)
		if err == nil && got != want || err != nil && rec[i] != values[k] {
			t.Errorf("CSVRecord()[%s] = %q; want %q (as in JSON)", k, rec[i], values[k])
		}
	}
}

// TestRunCompareCSV: -compare runs every operation once per algorithm, and
// -csv writes one header and one checked row per measurement.
func TestRunCompareCSV(t *testing.T) {
	o := DefaultOptions()
	o.Ops = []schedule.Coll{schedule.AllReduce, schedule.Broadcast}
	o.Compare = []collective.Algo{collective.Ring, collective.Tree}
	o.MinBytes, o.MaxBytes, o.Factor, o.Iters, o.Warmup, o.CSV = 64, 4096, 8, 2, 0, true
	var out bytes.Buffer
	err := collective.RunLocal(context.Background(), 3, func(ctx context.Context, c *collective.Comm) error {
		var w bytes.Buffer
		_, err := Run(ctx, c, o, &w)
		if c.Rank() == 0 {
			out = w
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&out).ReadAll()
	if err != nil {
		t.Fatalf("output is not CSV: %v\n%s", err, out.String())
	}
	if !slices.Equal(recs[0], CSVHeader()) {
		t.Fatalf("first line %v; want the header %v", recs[0], CSVHeader())
	}
	col := func(name string) int { return slices.Index(CSVHeader(), name) }
	seen := map[string]int{}
	for _, rec := range recs[1:] {
		if rec[col("wrong")] != "0" {
			t.Errorf("row %v: wrong elements", rec)
		}
		if rec[col("algo")] != rec[col("choice")] {
			t.Errorf("row %v: algo %s; want the forced %s", rec, rec[col("algo")], rec[col("choice")])
		}
		seen[rec[col("op")]+"/"+rec[col("choice")]]++
	}
	// 2 ops x 2 algos x sizes 64, 512, 4096 x (out-of-place, in-place)
	want := map[string]int{"allreduce/ring": 6, "allreduce/tree": 6, "broadcast/ring": 6, "broadcast/tree": 6}
	if len(seen) != len(want) {
		t.Errorf("rows per op/algo = %v; want %v", seen, want)
	}
	for k, n := range want {
		if seen[k] != n {
			t.Errorf("rows per op/algo = %v; want %v", seen, want)
			break
		}
	}

	o.NoHeader = true
	err = collective.RunLocal(context.Background(), 2, func(ctx context.Context, c *collective.Comm) error {
		var w bytes.Buffer
		_, err := Run(ctx, c, o, &w)
		if c.Rank() == 0 && strings.HasPrefix(w.String(), "op,") {
			t.Errorf("Run(NoHeader) wrote a header:\n%s", w.String())
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestParseAlgos(t *testing.T) {
	tests := []struct {
		in      string
		want    []collective.Algo
		wantErr bool
	}{
		{"ring,tree", []collective.Algo{collective.Ring, collective.Tree}, false},
		{" hd , auto ", []collective.Algo{collective.HalvingDoubling, collective.AlgoAuto}, false},
		{"ring,ring", nil, true},
		{"ring,bogus", nil, true},
	}
	for _, tt := range tests {
		got, err := ParseAlgos(tt.in)
		if (err != nil) != tt.wantErr || !slices.Equal(got, tt.want) {
			t.Errorf("ParseAlgos(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestValidateFormatsAndCompare(t *testing.T) {
	o := DefaultOptions()
	o.JSON, o.CSV = true, true
	if err := o.Validate(2); err == nil || !strings.Contains(err.Error(), "-csv") {
		t.Errorf("Validate(-json -csv) = %v; want an error naming both", err)
	}
	o = DefaultOptions()
	o.Ops = []schedule.Coll{schedule.AllGather}
	o.Compare = []collective.Algo{collective.Ring, collective.Tree}
	if err := o.Validate(2); err == nil || !strings.Contains(err.Error(), "tree") {
		t.Errorf("Validate(allgather, -compare ring,tree) = %v; want tree refused", err)
	}
}

// TestChart: one series per (choice, transport), named by what differs,
// in-place and barrier rows left out, points in row order.
func TestChart(t *testing.T) {
	var rows []Row
	for _, tr := range []string{"tcp", "inproc"} {
		for _, choice := range []string{"ring", "tree"} {
			for i, b := range []int64{1024, 2048, 4096} {
				bw := float64(i + 1)
				rows = append(rows,
					Row{Op: "allreduce", Bytes: b, Choice: choice, Algo: choice, Transport: tr, NP: 2, BusBW: bw},
					Row{Op: "allreduce", Bytes: b, Choice: choice, Algo: choice, Transport: tr, NP: 2, BusBW: 99, InPlace: true})
			}
		}
	}
	rows = append(rows, Row{Op: "barrier", Choice: "ring", Transport: "tcp", NP: 2})
	c := Chart(rows)
	var names []string
	for _, s := range c.Series {
		names = append(names, s.Name)
		if !slices.Equal(s.X, []float64{1024, 2048, 4096}) || !slices.Equal(s.Y, []float64{1, 2, 3}) {
			t.Errorf("series %q = %v, %v; want sizes 1K..4K with busbw 1, 2, 3", s.Name, s.X, s.Y)
		}
	}
	want := []string{"algo ring, tcp", "algo tree, tcp", "algo ring, inproc", "algo tree, inproc"}
	if !slices.Equal(names, want) {
		t.Errorf("Chart() series = %q; want %q", names, want)
	}
	if !strings.Contains(c.Title, "allreduce") || !strings.Contains(c.Title, "np=2") {
		t.Errorf("Chart() title = %q; want the common op and np", c.Title)
	}
	if !c.LogX || !c.XBytes {
		t.Errorf("Chart() = log %v, bytes %v; want a log2 byte-size axis", c.LogX, c.XBytes)
	}
}

// TestChartRepeatedSweep: a combination swept twice (two transports that
// both report "tcp") gives two lines, not one that runs back and forth.
func TestChartRepeatedSweep(t *testing.T) {
	var rows []Row
	for range 2 {
		for _, b := range []int64{8, 16} {
			rows = append(rows, Row{Op: "allreduce", Bytes: b, Choice: "auto", Transport: "tcp", NP: 2, BusBW: 1})
		}
	}
	c := Chart(rows)
	if len(c.Series) != 2 || len(c.Series[0].X) != 2 || c.Series[1].Name != "algo auto, run 2" {
		t.Errorf("Chart(two sweeps) = %+v; want two series of 2 points, the second named %q", c.Series, "algo auto, run 2")
	}
}
