package collective_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/kizuna-hpc/kizuna/collective"
	"github.com/kizuna-hpc/kizuna/collective/schedule"
	"github.com/kizuna-hpc/kizuna/internal/oracle"
	"github.com/kizuna-hpc/kizuna/rendezvous"
)

// startRanks starts n ranks over TCP through a rendezvous store, each with
// its own Config (set tells rank r's settings apart), as n processes would,
// and returns their communicators and errors by rank.
func startRanks(t *testing.T, n int, set func(r int, cfg *Config)) ([]*Comm, []error) {
	t.Helper()
	store, err := rendezvous.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	comms := make([]*Comm, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for r := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cfg := Config{Rank: r, Size: n, MasterAddr: store.Addr(), ExternalStore: true, BindAddr: "127.0.0.1",
				Timeout: 20 * time.Second, ChunkBytes: 4096}
			set(r, &cfg)
			comms[r], errs[r] = New(ctx, cfg)
		}()
	}
	wg.Wait()
	t.Cleanup(func() {
		for _, c := range comms {
			if c != nil {
				c.Close()
			}
		}
	})
	return comms, errs
}

// allReduceEverywhere checks every all-reduce algorithm the communicators
// offer against the oracle.
func allReduceEverywhere(t *testing.T, comms []*Comm) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	errs := make([]error, len(comms))
	var wg sync.WaitGroup
	for r, c := range comms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			algos := append(c.Available(schedule.AllReduce), AlgoAuto)
			for i, a := range algos {
				for _, count := range []int{1, len(comms) + 1, 1000} {
					tc := oracle.Case{Coll: schedule.AllReduce, Algo: a, DType: Float32, Op: Sum, Count: count}
					if err := oracle.Check(ctx, c, tc, uint64(i*10+count)); err != nil {
						errs[r] = err
						c.Abort()
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
}

// TestPlacementFile: a JSON placement file maps host names to torus
// coordinates, two ranks per host; every rank builds the same layout from
// everyone's host names, and every all-reduce gives the oracle's answer.
func TestPlacementFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "place.json")
	file := `{"hosts": {"n00": [0, 0], "n01": [0, 1], "n10": [1, 0], "n11": [1, 1]}, "ranks": {"7": [0, 0]}}`
	if err := os.WriteFile(path, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	// Ranks 0..6 on hosts n11, n11, n10, n10, n01, n01, n00 and rank 7 by
	// its own entry on node [0 0] with rank 6: two ranks on every node.
	hosts := []string{"n11", "n11", "n10", "n10", "n01", "n01", "n00", "n00"}
	comms, errs := startRanks(t, 8, func(r int, cfg *Config) {
		cfg.Topology, cfg.Placement, cfg.Host = "torus:2x2", "file:"+path, hosts[r]
	})
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	l := comms[0].Layout()
	// Two ranks per node: a 2x2x2 rank grid, ranks of one node along the
	// first dimension (Layout.Grid, dimension 0 fastest).
	if want := []int{2, 2, 2}; l == nil || !slices.Equal(l.Dims, want) {
		t.Fatalf("Layout().Dims = %v; want %v", l.Dims, want)
	}
	if want := []int{6, 7, 2, 3, 4, 5, 0, 1}; !slices.Equal(l.Grid, want) {
		t.Errorf("Layout().Grid = %v; want %v", l.Grid, want)
	}
	for r, c := range comms {
		if !slices.Equal(c.Layout().Grid, l.Grid) || !slices.Equal(c.Layout().Ring, l.Ring) {
			t.Errorf("rank %d layout %+v; want rank 0's %+v", r, c.Layout(), l)
		}
	}
	allReduceEverywhere(t, comms)
}

// TestPlacementCoord: every rank gives its node's coordinates (Config.Coord,
// KIZUNA_COORD), in no particular order and two ranks on some nodes;
// the placement "" takes them when every rank has one.
func TestPlacementCoord(t *testing.T) {
	tests := []struct {
		topology, placement string
		coords              []string
		wantDims            []int
	}{
		{"torus:2x3", "coord", []string{"1,2", "0,0", "1,0", "0,2", "0,1", "1,1"}, []int{2, 3}},
		{"torus:2x2", "", []string{"1,1", "1,1", "0,0", "0,1", "0,0", "1,0", "0,1", "1,0"}, []int{2, 2, 2}},
		{"dragonfly:groups=3,routers=1,nodes=2", "coord", []string{"2,0,1", "0,0,0", "1,0,0", "0,0,1", "1,0,1", "2,0,0", "2,0,0"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.topology, func(t *testing.T) {
			comms, errs := startRanks(t, len(tt.coords), func(r int, cfg *Config) {
				cfg.Topology, cfg.Placement, cfg.Coord = tt.topology, tt.placement, tt.coords[r]
				cfg.Host = "node-" + tt.coords[r]
			})
			if err := errors.Join(errs...); err != nil {
				t.Fatal(err)
			}
			l := comms[0].Layout()
			if l == nil || !slices.Equal(l.Dims, tt.wantDims) {
				t.Fatalf("Layout() = %+v; want Dims %v", l, tt.wantDims)
			}
			// Ranks that gave one coordinate are neighbours on the ring.
			pos := make([]int, len(tt.coords))
			for i, r := range l.Ring {
				pos[r] = i
			}
			for a := range tt.coords {
				for b := a + 1; b < len(tt.coords); b++ {
					d := (pos[a] - pos[b] + len(pos)) % len(pos)
					if tt.coords[a] == tt.coords[b] && d != 1 && d != len(pos)-1 {
						t.Errorf("ranks %d and %d on node %s sit at ring positions %d and %d; want neighbours", a, b, tt.coords[a], pos[a], pos[b])
					}
				}
			}
			allReduceEverywhere(t, comms)
		})
	}
}

// TestPlacementErrors: a bad placement fails on every rank with an error
// that names what is wrong.
func TestPlacementErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	bad := write("bad.json", `{"hosts": {"a": [0, 0]`)
	dup := write("dup.json", `{"hosts": {"a": [0, 0], "b": [0, 0]}}`)
	outside := write("outside.json", `{"hosts": {"a": [0, 0], "b": [0, 7]}}`)
	other := write("other.json", `{"hosts": {"a": [0, 0], "b": [0, 1]}}`)
	tests := []struct {
		name      string
		placement func(r int) string
		coord     func(r int) string
		want      error
		wantText  string
	}{
		{"bad file", func(int) string { return "file:" + bad }, nil, ErrInvalid, "placement file"},
		{"missing file", func(int) string { return "file:" + filepath.Join(dir, "none.json") }, nil, ErrInvalid, "no such file"},
		{"duplicate host coordinate", func(int) string { return "file:" + dup }, nil, ErrInvalid, "duplicate coordinate [0 0]"},
		{"coordinate outside", func(int) string { return "file:" + outside }, nil, ErrInvalid, "dimension 1 is 7, outside [0, 2)"},
		{"different files", func(r int) string { return "file:" + []string{dup, other}[r] }, nil, nil, ""},
		{"duplicate KIZUNA_COORD", func(int) string { return "coord" }, func(int) string { return "1,1" }, ErrInvalid,
			`duplicate coordinate [1 1] on torus:2x2: rank 0 on host "a" and rank 1 on host "b"`},
		{"KIZUNA_COORD outside", func(int) string { return "coord" }, func(r int) string { return []string{"0,0", "2,0"}[r] }, ErrInvalid,
			`rank 1: KIZUNA_COORD "2,0"`},
		{"KIZUNA_COORD on one rank", func(int) string { return "" }, func(r int) string { return []string{"0,0", ""}[r] }, ErrInvalid,
			"set on rank 0 but not on rank 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, errs := startRanks(t, 2, func(r int, cfg *Config) {
				cfg.Topology, cfg.Placement, cfg.Host = "torus:2x2", tt.placement(r), []string{"a", "b"}[r]
				if tt.coord != nil {
					cfg.Coord = tt.coord(r)
				}
			})
			for r, err := range errs {
				switch {
				case tt.want == nil && !errors.Is(err, ErrMismatch):
					t.Errorf("rank %d: New = %v; want ErrMismatch", r, err)
				case tt.want != nil && (!errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.wantText)):
					t.Errorf("rank %d: New = %v; want %v containing %q", r, err, tt.want, tt.wantText)
				}
			}
		})
	}
}

// TestConfigCoord: KIZUNA_COORD reaches Config.Coord.
func TestConfigCoord(t *testing.T) {
	for k, v := range map[string]string{EnvRank: "0", EnvWorldSize: "1", EnvCoord: " 3,0,7 ", EnvPlacement: "coord", EnvTopology: "torus:4x4x8"} {
		t.Setenv(k, v)
	}
	cfg, err := ConfigFromEnv()
	if err != nil || cfg.Coord != "3,0,7" || cfg.Placement != "coord" {
		t.Fatalf("ConfigFromEnv() = Coord %q, Placement %q, %v; want \"3,0,7\", \"coord\", nil", cfg.Coord, cfg.Placement, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if l := c.Layout(); l == nil || !slices.Equal(l.Ring, []int{0}) {
		t.Errorf("Layout() = %+v; want a one-rank ring", l)
	}
}

// TestChoiceFollowsTopology: the cost model's automatic choice on a
// topology prices each algorithm with its own steps' link loads. On
// torus:8x8 with a random placement, halving-doubling's partners share
// links four at a time while the embedded ring's never do, so at 64 MiB
// the communicator picks the ring, where the contention-free model (and a
// communicator without the topology) picks halving-doubling.
func TestChoiceFollowsTopology(t *testing.T) {
	k := schedule.Costs{Alpha: 25e-6, Beta: 0.3e-9, Gamma: 0.1e-9}
	choose := func(topology string) [2]Algo {
		var got [2]Algo
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		err := RunLocal(ctx, 64, func(ctx context.Context, c *Comm) error {
			if c.Rank() != 0 {
				return nil
			}
			for i, count := range []int{2, 16 << 20} { // 8 B and 64 MiB of float32
				a, err := c.Algorithm(schedule.AllReduce, Float32, count, AlgoAuto)
				if err != nil {
					return err
				}
				got[i] = a
			}
			return nil
		}, WithConfig(func(cfg *Config) {
			cfg.Topology, cfg.Placement, cfg.Costs, cfg.Algo = topology, "random:1", k, "allreduce:ring,hd"
		}))
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	flat, torus := choose(""), choose("torus:8x8")
	if want := [2]Algo{schedule.HalvingDoubling, schedule.HalvingDoubling}; flat != want {
		t.Errorf("choice without topology at 8 B, 64 MiB = %v; want %v", flat, want)
	}
	if want := [2]Algo{schedule.HalvingDoubling, schedule.Ring}; torus != want {
		t.Errorf("choice on torus:8x8 random:1 at 8 B, 64 MiB = %v; want %v", torus, want)
	}
}
