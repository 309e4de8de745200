package bench

import (
	"encoding/csv"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"

	"github.com/kizuna-hpc/kizuna/bench/plot"
)

// rowFields are Row's fields in declaration order with their JSON names:
// the CSV columns are the JSON object's keys, in the same order.
var rowFields = func() []string {
	t := reflect.TypeFor[Row]()
	out := make([]string, t.NumField())
	for i := range out {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		out[i] = name
	}
	return out
}()

// CSVHeader returns the CSV column names: Row's JSON keys, in order.
func CSVHeader() []string { return append([]string(nil), rowFields...) }

// CSVRecord returns r as CSV fields in CSVHeader's order; numbers are
// written as encoding/json writes them.
func (r Row) CSVRecord() []string {
	v := reflect.ValueOf(r)
	out := make([]string, v.NumField())
	for i := range out {
		f := v.Field(i)
		switch f.Kind() {
		case reflect.String:
			out[i] = f.String()
		case reflect.Bool:
			out[i] = strconv.FormatBool(f.Bool())
		case reflect.Int, reflect.Int64:
			out[i] = strconv.FormatInt(f.Int(), 10)
		case reflect.Float64:
			out[i] = strconv.FormatFloat(f.Float(), 'g', -1, 64)
		default:
			panic(fmt.Sprintf("bench: Row field %s of kind %s has no CSV form", v.Type().Field(i).Name, f.Kind()))
		}
	}
	return out
}

func writeCSVHeader(w io.Writer) error {
	cw := csv.NewWriter(w)
	_ = cw.Write(rowFields)
	cw.Flush()
	return cw.Error()
}

func writeCSV(w io.Writer, rows []Row) error {
	cw := csv.NewWriter(w)
	for _, r := range rows {
		_ = cw.Write(r.CSVRecord())
	}
	cw.Flush()
	return cw.Error()
}

// Chart draws the out-of-place rows' bus bandwidth against size, one line
// per distinct (operation, algorithm choice, transport, ranks); each line's
// name shows only the parts that differ between lines. A sweep that
// repeats a combination (sizes start again) gets its own line, numbered.
// Barrier rows, which move no data, are left out.
func Chart(rows []Row) *plot.Chart {
	type key struct {
		op, choice, transport string
		np, run               int
	}
	runs := map[key]int{} // runs so far per combination (key with run 0)
	var order []key
	series := map[key]*plot.Series{}
	for _, r := range rows {
		if r.InPlace || r.Op == "barrier" || r.Bytes <= 0 {
			continue
		}
		k0 := key{op: r.Op, choice: r.Choice, transport: r.Transport, np: r.NP}
		k := k0
		k.run = runs[k0]
		s := series[k]
		if s != nil && s.X[len(s.X)-1] >= float64(r.Bytes) { // the sweep starts again
			runs[k0]++
			k.run, s = runs[k0], nil
		}
		if s == nil {
			s = &plot.Series{}
			series[k] = s
			order = append(order, k)
		}
		s.X = append(s.X, float64(r.Bytes))
		s.Y = append(s.Y, r.BusBW)
	}
	differs := [4]bool{}
	for _, k := range order[min(1, len(order)):] {
		differs[0] = differs[0] || k.op != order[0].op
		differs[1] = differs[1] || k.choice != order[0].choice
		differs[2] = differs[2] || k.transport != order[0].transport
		differs[3] = differs[3] || k.np != order[0].np
	}
	c := &plot.Chart{XLabel: "message size (bytes, log2 scale)", YLabel: "bus bandwidth (GB/s)", LogX: true, XBytes: true}
	var common []string
	for _, k := range order {
		parts := []string{k.op, "algo " + k.choice, k.transport, fmt.Sprintf("np=%d", k.np)}
		var name []string
		for i, p := range parts {
			if differs[i] {
				name = append(name, p)
			}
		}
		if len(name) == 0 {
			name = []string{parts[1]}
		}
		if k.run > 0 {
			name = append(name, fmt.Sprintf("run %d", k.run+1))
		}
		s := series[k]
		s.Name = strings.Join(name, ", ")
		c.Series = append(c.Series, *s)
		if common == nil {
			for i, p := range parts {
				if !differs[i] {
					common = append(common, p)
				}
			}
		}
	}
	c.Title = "kizuna bench: bus bandwidth"
	if len(common) > 0 {
		c.Title += " (" + strings.Join(common, ", ") + ")"
	}
	return c
}
