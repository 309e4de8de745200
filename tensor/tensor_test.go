package tensor

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/kizuna-hpc/kizuna/collective"
)

// iota returns a tensor of shape whose element with flat index i is
// base + i.
func iota(shape []int, base float64) *Tensor {
	n := 1
	for _, d := range shape {
		n *= d
	}
	d := make([]float64, n)
	for i := range d {
		d[i] = base + float64(i)
	}
	t, err := New(shape, d)
	if err != nil {
		panic(err)
	}
	return t
}

// at returns element idx (a multi-index) of a float64 tensor.
func at(t *Tensor, idx []int) float64 {
	f := 0
	for d, i := range idx {
		f = f*t.Shape[d] + i
	}
	return AsSlice[float64](t)[f]
}

// each calls fn with every multi-index of shape.
func each(shape []int, fn func(idx []int)) {
	idx := make([]int, len(shape))
	for _, d := range shape {
		if d == 0 {
			return
		}
	}
	for {
		fn(idx)
		d := len(shape) - 1
		for d >= 0 {
			idx[d]++
			if idx[d] < shape[d] {
				break
			}
			idx[d] = 0
			d--
		}
		if d < 0 {
			return
		}
	}
}

func TestShardSizes(t *testing.T) {
	tests := []struct {
		n, parts int
		want     []int
	}{
		{10, 3, []int{4, 3, 3}}, {10, 1, []int{10}}, {2, 4, []int{1, 1, 0, 0}}, {0, 2, []int{0, 0}}, {12, 4, []int{3, 3, 3, 3}},
	}
	for _, tt := range tests {
		got := ShardSizes(tt.n, tt.parts)
		if !slices.Equal(got, tt.want) {
			t.Errorf("ShardSizes(%d, %d) = %v; want %v", tt.n, tt.parts, got, tt.want)
		}
		off := 0
		for i, s := range got {
			if o := ShardOffset(tt.n, tt.parts, i); o != off {
				t.Errorf("ShardOffset(%d, %d, %d) = %d; want %d", tt.n, tt.parts, i, o, off)
			}
			off += s
		}
	}
}

// TestShardConcat: every shard holds the right elements (checked index by
// index), and concatenating all shards gives back the tensor, for every
// dimension, with uneven and empty parts.
func TestShardConcat(t *testing.T) {
	shapes := [][]int{{7}, {5, 3}, {2, 5, 3}, {3, 1, 4, 2}, {4, 0, 2}}
	for _, shape := range shapes {
		x := iota(shape, 1)
		for dim := range shape {
			for _, parts := range []int{1, 2, 3, 4, 6} {
				var shards []*Tensor
				for k := range parts {
					s, err := x.Shard(dim, parts, k)
					if err != nil {
						t.Fatalf("Shard(%v, dim %d, %d/%d): %v", shape, dim, k, parts, err)
					}
					off := ShardOffset(shape[dim], parts, k)
					if s.Shape[dim] != ShardSizes(shape[dim], parts)[k] {
						t.Fatalf("Shard(%v, dim %d, %d/%d).Shape = %v", shape, dim, k, parts, s.Shape)
					}
					each(s.Shape, func(idx []int) {
						src := slices.Clone(idx)
						src[dim] += off
						if got, want := at(s, idx), at(x, src); got != want {
							t.Fatalf("Shard(%v, dim %d, %d/%d)%v = %v; want %v", shape, dim, k, parts, idx, got, want)
						}
					})
					shards = append(shards, s)
				}
				y, err := Concat(dim, shards...)
				if err != nil {
					t.Fatalf("Concat(dim %d, %d shards of %v): %v", dim, parts, shape, err)
				}
				if !slices.Equal(y.Shape, x.Shape) || !slices.Equal(y.Data, x.Data) {
					t.Fatalf("Concat(Shard(%v, dim %d, %d parts)) = %v %v; want %v %v", shape, dim, parts, y.Shape, AsSlice[float64](y), x.Shape, AsSlice[float64](x))
				}
			}
		}
	}
}

func TestTensorErrors(t *testing.T) {
	if _, err := New([]int{2, 3}, make([]float32, 5)); !errors.Is(err, ErrShape) {
		t.Errorf("New(2x3, 5 elements) = %v; want ErrShape", err)
	}
	x := Zeros(collective.Int32, 2, 3)
	if len(AsSlice[int32](x)) != 6 {
		t.Errorf("AsSlice(Zeros(int32, 2, 3)) has %d elements; want 6", len(AsSlice[int32](x)))
	}
	tests := []struct {
		name string
		fn   func() error
	}{
		{"dim", func() error { _, err := x.Shard(2, 1, 0); return err }},
		{"index", func() error { _, err := x.Shard(0, 2, 2); return err }},
		{"concat dtype", func() error { _, err := Concat(0, x, Zeros(collective.Float32, 2, 3)); return err }},
		{"concat shape", func() error { _, err := Concat(0, x, Zeros(collective.Int32, 2, 4)); return err }},
		{"concat none", func() error { _, err := Concat(0); return err }},
		{"bad data", func() error {
			_, err := (&Tensor{Shape: []int{4}, DType: collective.Int32, Data: make([]byte, 3)}).Shard(0, 1, 0)
			return err
		}},
	}
	for _, tt := range tests {
		if err := tt.fn(); !errors.Is(err, ErrShape) {
			t.Errorf("%s: err = %v; want ErrShape", tt.name, err)
		}
	}
	defer func() {
		if recover() == nil {
			t.Errorf("AsSlice[float32] of an int32 tensor did not panic")
		}
	}()
	AsSlice[float32](x)
}

// TestDistributedOracle: AllGatherDim of every rank's shard is the full
// tensor, and ReduceScatterDim gives each rank its shard of the sum, for
// every dimension and world sizes 1-5, over both transports.
func TestDistributedOracle(t *testing.T) {
	shape := []int{5, 3, 4}
	for _, tr := range []string{collective.TransportInproc, collective.TransportTCP} {
		for _, n := range []int{1, 2, 3, 4, 5} {
			t.Run(fmt.Sprintf("%s/n=%d", tr, n), func(t *testing.T) {
				err := collective.RunLocal(context.Background(), n, func(ctx context.Context, c *collective.Comm) error {
					r := c.Rank()
					full := iota(shape, 1)
					for dim := range shape {
						part, err := full.Shard(dim, n, r)
						if err != nil {
							return err
						}
						got, err := AllGatherDim(ctx, c, part, dim)
						if err != nil {
							return err
						}
						if !slices.Equal(got.Shape, full.Shape) || !slices.Equal(got.Data, full.Data) {
							return fmt.Errorf("AllGatherDim(dim %d) = %v %v; want %v %v", dim, got.Shape, AsSlice[float64](got), full.Shape, AsSlice[float64](full))
						}
						mine := iota(shape, float64(100*r))
						red, err := ReduceScatterDim(ctx, c, mine, dim, collective.Sum)
						if err != nil {
							return err
						}
						sum := iota(shape, 0)
						for i, v := range AsSlice[float64](sum) {
							AsSlice[float64](sum)[i] = float64(n)*v + float64(100*n*(n-1)/2)
						}
						want, err := sum.Shard(dim, n, r)
						if err != nil {
							return err
						}
						if !slices.Equal(red.Shape, want.Shape) || !slices.Equal(red.Data, want.Data) {
							return fmt.Errorf("ReduceScatterDim(dim %d) = %v %v; want %v %v", dim, red.Shape, AsSlice[float64](red), want.Shape, AsSlice[float64](want))
						}
					}
					// Shards of different widths in a non-gathered dimension are refused on every rank.
					bad := Zeros(collective.Float64, 2, 1+r%2)
					if _, err := AllGatherDim(ctx, c, bad, 0); n > 1 && !errors.Is(err, ErrShape) {
						return fmt.Errorf("AllGatherDim(mismatched shapes) = %v; want ErrShape", err)
					}
					return nil
				}, collective.WithTransport(tr), collective.WithConfig(func(cfg *collective.Config) { cfg.ChunkBytes = 40 }))
				if err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}
