package collective_test

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/kizuna-hpc/kizuna/collective"
)

// Four goroutine ranks average a gradient.
func ExampleAllReduce() {
	var mu sync.Mutex
	results := make([][]float32, 4)
	err := collective.RunLocal(context.Background(), 4, func(ctx context.Context, c *collective.Comm) error {
		grad := []float32{float32(c.Rank()), 1, 2}
		if err := collective.AllReduce(ctx, c, grad, grad, collective.Avg); err != nil {
			return err
		}
		mu.Lock()
		results[c.Rank()] = grad
		mu.Unlock()
		return nil
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(results)
	// Output: [[1.5 1 2] [1.5 1 2] [1.5 1 2] [1.5 1 2]]
}

// Each rank contributes its shard; every rank gets the whole tensor.
func ExampleAllGather() {
	out := make([][]int64, 3)
	err := collective.RunLocal(context.Background(), 3, func(ctx context.Context, c *collective.Comm) error {
		shard := []int64{int64(10 * c.Rank()), int64(10*c.Rank() + 1)}
		full := make([]int64, 2*c.Size())
		out[c.Rank()] = full
		return collective.AllGather(ctx, c, shard, full)
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(out[2])
	// Output: [0 1 10 11 20 21]
}

// Ranks that disagree on the call get ErrMismatch instead of a hang.
func ExampleMismatchError() {
	err := collective.RunLocal(context.Background(), 2, func(ctx context.Context, c *collective.Comm) error {
		buf := make([]float32, 4+c.Rank()) // rank 1 passes 5 elements
		return collective.AllReduce(ctx, c, buf, buf, collective.Sum, collective.WithAlgo(collective.Ring))
	})
	fmt.Println(errors.Is(err, collective.ErrMismatch))
	// Output: true
}
