package bucket

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/kizuna-hpc/kizuna/collective"
)

// grads returns gradients of the given sizes filled from (rank, step).
func grads(sizes []int, rank, step int) [][]float32 {
	g := make([][]float32, len(sizes))
	for i, n := range sizes {
		g[i] = make([]float32, n)
		for j := range g[i] {
			g[i][j] = float32(rank*100+step*10+i) + float32(j)/8
		}
	}
	return g
}

// TestBucketerOracle: fused, bucketed all-reduces give exactly what
// all-reducing every gradient on its own gives, with or without averaging,
// over several steps, when ranks mark gradients ready in different orders.
func TestBucketerOracle(t *testing.T) {
	sizes := []int{7, 1, 0, 33, 12, 5, 64, 3}
	tests := []struct {
		name      string
		transport string
		bytes     int
		average   bool
	}{
		{"inproc/small buckets", collective.TransportInproc, 64, false},
		{"inproc/small buckets average", collective.TransportInproc, 64, true},
		{"inproc/one bucket", collective.TransportInproc, 0, true},
		{"inproc/bucket per gradient", collective.TransportInproc, 1, false},
		{"tcp/small buckets average", collective.TransportTCP, 100, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := collective.RunLocal(context.Background(), 3, func(ctx context.Context, c *collective.Comm) error {
				r := c.Rank()
				g := grads(sizes, r, 0)
				b, err := New(c, g, Config{BucketBytes: tt.bytes, Average: tt.average})
				if err != nil {
					return err
				}
				rng := rand.New(rand.NewPCG(uint64(r), 9))
				op := collective.Sum
				if tt.average {
					op = collective.Avg
				}
				for step := range 3 {
					fresh := grads(sizes, r, step)
					for i := range g {
						copy(g[i], fresh[i])
					}
					want := grads(sizes, r, step)
					for i := range want {
						if err := collective.AllReduce(ctx, c, want[i], want[i], op, collective.WithAlgo(collective.Ring)); err != nil {
							return err
						}
					}
					for _, i := range rng.Perm(len(g)) {
						if err := b.MarkReady(i); err != nil {
							return err
						}
					}
					if err := b.Wait(ctx); err != nil {
						return err
					}
					for i := range g {
						if !slices.Equal(g[i], want[i]) {
							return fmt.Errorf("step %d: bucketed gradient %d = %v; want %v", step, i, g[i], want[i])
						}
					}
				}
				return nil
			}, collective.WithTransport(tt.transport))
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestBucketLayout: gradients are packed last to first into buckets of at
// most BucketBytes (a larger gradient alone), 25 MiB by default.
func TestBucketLayout(t *testing.T) {
	const mib = 1 << 20 / 4 // float32 elements in one MiB
	tests := []struct {
		name  string
		sizes []int // elements
		bytes int
		want  [][]int
	}{
		{"default 25 MiB", []int{10 * mib, 10 * mib, 10 * mib, mib}, 0, [][]int{{3, 2, 1}, {0}}},
		{"exact fit", []int{mib, 24 * mib}, 0, [][]int{{1, 0}}},
		{"small", []int{10, 10, 30, 5}, 100, [][]int{{3}, {2}, {1, 0}}},
		{"tiny cap", []int{1, 1, 1}, 1, [][]int{{2}, {1}, {0}}},
		{"empty gradients", []int{0, 0}, 8, [][]int{{1, 0}}},
		{"none", nil, 0, [][]int{}},
	}
	comms, err := collective.NewLocal(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	defer comms[0].Close()
	for _, tt := range tests {
		g := make([][]float32, len(tt.sizes))
		for i, n := range tt.sizes {
			g[i] = make([]float32, n)
		}
		b, err := New(comms[0], g, Config{BucketBytes: tt.bytes})
		if err != nil {
			t.Fatalf("New(%s): %v", tt.name, err)
		}
		got := b.Buckets()
		if !slices.EqualFunc(got, tt.want, slices.Equal[[]int]) {
			t.Errorf("New(%s).Buckets() = %v; want %v", tt.name, got, tt.want)
		}
	}
}

// TestBucketerMisuse: marking a gradient twice, out of range, or waiting
// before every gradient is ready are errors that leave the step intact.
func TestBucketerMisuse(t *testing.T) {
	err := collective.RunLocal(context.Background(), 2, func(ctx context.Context, c *collective.Comm) error {
		g := [][]float32{{1}, {2}, {3}}
		b, err := New(c, g, Config{BucketBytes: 4})
		if err != nil {
			return err
		}
		if err := b.MarkReady(2); err != nil {
			return err
		}
		if err := b.MarkReady(2); !errors.Is(err, ErrReady) {
			return fmt.Errorf("MarkReady twice = %v; want ErrReady", err)
		}
		if err := b.MarkReady(3); !errors.Is(err, ErrInvalid) {
			return fmt.Errorf("MarkReady(3) = %v; want ErrInvalid", err)
		}
		if err := b.Wait(ctx); !errors.Is(err, ErrNotReady) {
			return fmt.Errorf("Wait before all ready = %v; want ErrNotReady", err)
		}
		for _, i := range []int{0, 1} {
			if err := b.MarkReady(i); err != nil {
				return err
			}
		}
		if err := b.Wait(ctx); err != nil {
			return err
		}
		if g[0][0] != 2 || g[1][0] != 4 || g[2][0] != 6 {
			return fmt.Errorf("gradients = %v; want [[2] [4] [6]]", g)
		}
		if _, err := NewBytes(c, [][]byte{make([]byte, 3)}, collective.Float32, Config{}); !errors.Is(err, ErrInvalid) {
			return fmt.Errorf("NewBytes(3 bytes of float32) = %v; want ErrInvalid", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestBucketStartsEarly: a bucket's all-reduce starts as soon as its last
// gradient is marked ready (and the buckets before it have started), before
// Wait, so communication overlaps the rest of the backward pass.
func TestBucketStartsEarly(t *testing.T) {
	err := collective.RunLocal(context.Background(), 2, func(ctx context.Context, c *collective.Comm) error {
		g := [][]float32{{1, 1}, {2, 2}, {3, 3}}
		b, err := New(c, g, Config{BucketBytes: 8}) // buckets [2] [1] [0]
		if err != nil {
			return err
		}
		if err := b.MarkReady(1); err != nil { // bucket 1 is complete, but bucket 0 is not: nothing starts
			return err
		}
		if n := len(b.handles); n != 0 {
			return fmt.Errorf("%d all-reduces started before the first bucket was complete; want 0", n)
		}
		if err := b.MarkReady(2); err != nil { // buckets 0 and 1 start, in order
			return err
		}
		for k, h := range b.handles {
			select {
			case <-h.Done():
			case <-time.After(10 * time.Second):
				return fmt.Errorf("bucket %d not reduced before Wait", k)
			}
		}
		if v := math.Float32frombits(binary.LittleEndian.Uint32(b.flat[0])); len(b.handles) != 2 || v != 6 {
			return fmt.Errorf("started %d buckets, first holds %v; want 2 and 6", len(b.handles), v)
		}
		if err := b.MarkReady(0); err != nil {
			return err
		}
		return b.Wait(ctx)
	})
	if err != nil {
		t.Fatal(err)
	}
}
