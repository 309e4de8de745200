package bucket_test

import (
	"context"
	"fmt"

	"github.com/kizuna-hpc/kizuna/collective"
	"github.com/kizuna-hpc/kizuna/collective/bucket"
)

// Two data-parallel ranks average three gradients in buckets of at most 8
// bytes, marking them ready last to first as a backward pass would.
func ExampleBucketer() {
	var layout [][]int
	var result [][]float32
	err := collective.RunLocal(context.Background(), 2, func(ctx context.Context, c *collective.Comm) error {
		r := float32(c.Rank())
		grads := [][]float32{{1 + r, 1 + r}, {2 + r}, {3 + r}}
		b, err := bucket.New(c, grads, bucket.Config{BucketBytes: 8, Average: true})
		if err != nil {
			return err
		}
		for i := len(grads) - 1; i >= 0; i-- {
			// ... backward pass of layer i computes grads[i] ...
			if err := b.MarkReady(i); err != nil {
				return err
			}
		}
		if err := b.Wait(ctx); err != nil {
			return err
		}
		if c.Rank() == 0 {
			layout, result = b.Buckets(), grads
		}
		return nil
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("buckets:", layout)
	fmt.Println("averaged:", result)
	// Output:
	// buckets: [[2 1] [0]]
	// averaged: [[1.5 1.5] [2.5] [3.5]]
}
