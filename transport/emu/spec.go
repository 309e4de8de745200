package emu

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/kizuna-hpc/kizuna/topology"
)

// Spec is a parsed emulation spec (see ParseSpec).
type Spec struct {
	Topology   string // topology.Parse grammar
	Placement  string // topology.Place grammar; "" means linear
	LinkBW     float64
	HopLatency time.Duration
	LocalBW    float64
}

// ParseSpec parses an emulation spec, the value of KIZUNA_EMULATE:
// a topology spec followed by ';'-separated options,
//
//	TOPOLOGY[;bw=RATE][;lat=DURATION][;local=RATE][;placement=P]
//
// RATE is bytes per second with an optional decimal suffix K, M or G and
// an optional "B" or "B/s" ("500M", "0.5GB/s", "250000000"); DURATION is
// Go's ("5us", "1ms"). Defaults: bw=1G, lat=1us, local unlimited, linear
// placement. Example: "torus:4x4;bw=500M;lat=5us". Errors wrap ErrSpec
// and name the bad part.
func ParseSpec(s string) (Spec, error) {
	parts := strings.Split(s, ";")
	sp := Spec{Topology: strings.TrimSpace(parts[0]), LinkBW: 1e9, HopLatency: time.Microsecond}
	if sp.Topology == "" {
		return Spec{}, fmt.Errorf("%w %q: missing topology (e.g. torus:4x4;bw=500M;lat=5us)", ErrSpec, s)
	}
	for _, p := range parts[1:] {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		k, v, ok := strings.Cut(p, "=")
		if !ok {
			return Spec{}, fmt.Errorf("%w %q: option %q is not KEY=VALUE", ErrSpec, s, p)
		}
		var err error
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "bw":
			sp.LinkBW, err = parseRate(v)
			if err == nil && sp.LinkBW <= 0 {
				err = fmt.Errorf("want a positive rate")
			}
		case "local":
			sp.LocalBW, err = parseRate(v)
		case "lat":
			sp.HopLatency, err = time.ParseDuration(strings.TrimSpace(v))
			if err == nil && sp.HopLatency < 0 {
				err = fmt.Errorf("negative latency")
			}
		case "placement":
			sp.Placement = strings.TrimSpace(v)
		default:
			return Spec{}, fmt.Errorf("%w %q: unknown option %q (want bw, lat, local or placement)", ErrSpec, s, k)
		}
		if err != nil {
			return Spec{}, fmt.Errorf("%w %q: %s: %v", ErrSpec, s, p, err)
		}
	}
	return sp, nil
}

func parseRate(v string) (float64, error) {
	v = strings.TrimSpace(strings.ToUpper(v))
	v = strings.TrimSuffix(v, "/S")
	v = strings.TrimSuffix(v, "B")
	mul := 1.0
	switch {
	case strings.HasSuffix(v, "K"):
		mul, v = 1e3, v[:len(v)-1]
	case strings.HasSuffix(v, "M"):
		mul, v = 1e6, v[:len(v)-1]
	case strings.HasSuffix(v, "G"):
		mul, v = 1e9, v[:len(v)-1]
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < 0 {
		return 0, fmt.Errorf("rate %q: want a non-negative number with K, M or G", v)
	}
	return f * mul, nil
}

// Network builds the emulated network of the spec for ranks ranks.
func (sp Spec) Network(ranks int) (*Network, error) {
	t, err := topology.Parse(sp.Topology)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSpec, err)
	}
	pl := sp.Placement
	if pl == "" {
		pl = "linear"
	}
	p, err := topology.Place(t, pl, ranks)
	if err != nil {
		return nil, fmt.Errorf("%w: placement %q: %w", ErrSpec, pl, err)
	}
	return NewNetwork(Config{Topo: t, Place: p, LinkBW: sp.LinkBW, HopLatency: sp.HopLatency, LocalBW: sp.LocalBW})
}
