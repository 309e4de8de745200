package tensor_test

import (
	"context"
	"fmt"

	"github.com/kizuna-hpc/kizuna/collective"
	"github.com/kizuna-hpc/kizuna/tensor"
)

// A 2 x 5 weight is split column-wise over 3 ranks (2, 2 and 1 columns);
// AllGatherDim puts the columns back together on every rank.
func ExampleAllGatherDim() {
	var full *tensor.Tensor
	err := collective.RunLocal(context.Background(), 3, func(ctx context.Context, c *collective.Comm) error {
		w, err := tensor.New([]int{2, 5}, []float32{0, 1, 2, 3, 4, 10, 11, 12, 13, 14})
		if err != nil {
			return err
		}
		shard, err := w.Shard(1, c.Size(), c.Rank())
		if err != nil {
			return err
		}
		got, err := tensor.AllGatherDim(ctx, c, shard, 1)
		if err != nil {
			return err
		}
		if c.Rank() == 2 {
			fmt.Println("rank 2 shard:", shard.Shape, tensor.AsSlice[float32](shard))
			full = got
		}
		return nil
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("gathered:", full.Shape, tensor.AsSlice[float32](full))
	// Output:
	// rank 2 shard: [2 1] [4 14]
	// gathered: [2 5] [0 1 2 3 4 10 11 12 13 14]
}
