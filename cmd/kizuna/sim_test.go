package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math"
	"strings"
	"testing"
)

func TestSimJSON(t *testing.T) {
	var out bytes.Buffer
	args := []string{"-topology", "torus:4x4", "-algo", "ring,torus,tree", "-b", "64K", "-e", "1M", "-f", "4",
		"-link-bw", "1", "-link-lat", "0", "-alpha", "0", "-gamma", "1000000", "-chunk", "0", "-json"}
	if err := simCmd(context.Background(), args, &out, io.Discard); err != nil {
		t.Fatalf("sim %v = %v", args, err)
	}
	dec := json.NewDecoder(&out)
	seen := map[string]int{}
	for dec.More() {
		var row map[string]any
		if err := dec.Decode(&row); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"algo", "bytes", "time_us", "algbw_gbps", "busbw_gbps", "chosen", "fastest"} {
			if _, ok := row[k]; !ok {
				t.Errorf("sim -json row %v lacks %q", row, k)
			}
		}
		algo, _ := row["algo"].(string)
		seen[algo]++
		b, us := row["bytes"].(float64), row["time_us"].(float64)
		if algo == "ring" {
			// Embedded ring, one flow per link, only the bandwidth term:
			// 2(p-1)/p·n bytes through each link at 1 GB/s.
			want := 2 * 15.0 / 16 * b / 1e9 * 1e6
			if math.Abs(us-want) > 1e-6*want {
				t.Errorf("sim ring at %v bytes: time_us %v; want %v", b, us, want)
			}
			if bus := row["busbw_gbps"].(float64); math.Abs(bus-1) > 1e-6 {
				t.Errorf("sim ring at %v bytes: busbw %v GB/s; want the link's 1 GB/s", b, bus)
			}
		}
	}
	for _, a := range []string{"ring", "torus", "tree"} {
		if seen[a] != 3 {
			t.Errorf("sim -json: %d rows for %s; want 3 (64K, 256K, 1M)", seen[a], a)
		}
	}
}

func TestSimTableAndErrors(t *testing.T) {
	var out bytes.Buffer
	if err := simCmd(context.Background(), []string{"-preset", "aurora", "-algo", "ring,hier", "-b", "1M", "-e", "1M"}, &out, io.Discard); err != nil {
		t.Fatalf("sim -preset aurora = %v", err)
	}
	s := out.String()
	if !strings.Contains(s, "10624 ranks") || !strings.Contains(s, "ring (symmetric)") || !strings.Contains(s, "hier (symmetric)") {
		t.Errorf("sim -preset aurora table lacks ranks or algorithms:\n%s", s)
	}
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"-b", "8"}, "-topology or -preset"},
		{[]string{"-preset", "summit"}, "want fugaku or aurora"},
		{[]string{"-topology", "torus:4", "-preset", "aurora"}, "not both"},
		{[]string{"-topology", "torus:4", "-algo", "hier"}, "not available"},
		{[]string{"-topology", "torus:4", "-op", "sendrecv"}, "-op"},
		{[]string{"-topology", "torus:4", "-b", "2M", "-e", "1M"}, "MIN <= MAX"},
		{[]string{"-topology", "torus:4", "-timing", "async"}, "-timing"},
		{[]string{"-topology", "flat"}, "-np is required"},
		{[]string{"-topology", "torus:4", "-np", "-1"}, "-np -1"},
	}
	for _, tt := range tests {
		err := simCmd(context.Background(), tt.args, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("sim %v = %v; want an error containing %q", tt.args, err, tt.want)
		}
	}
}

func TestSimTimingHeader(t *testing.T) {
	tests := []struct {
		timing, want, not string
	}{
		{"lockstep", "lock-step rounds", "per-rank clocks"},
		{"perrank", "per-rank clocks", "lock-step rounds, bottleneck-link"},
	}
	for _, tt := range tests {
		var out bytes.Buffer
		args := []string{"-topology", "torus:4x4", "-algo", "tree", "-b", "1K", "-e", "1K", "-timing", tt.timing}
		if err := simCmd(context.Background(), args, &out, io.Discard); err != nil {
			t.Fatalf("sim %v = %v", args, err)
		}
		if s := out.String(); !strings.Contains(s, tt.want) || strings.Contains(s, tt.not) {
			t.Errorf("sim -timing %s header:\n%s\nwant %q, not %q", tt.timing, s, tt.want, tt.not)
		}
	}
}
