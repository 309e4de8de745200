package collective_test

import (
	"context"
	"fmt"

	"github.com/kizuna-hpc/kizuna/collective"
)

// Four ranks split into even and odd ranks; each group sums its members'
// ranks, and the odd group numbers its ranks in reverse with the key.
func ExampleComm_Split() {
	sums := make([]string, 4)
	err := collective.RunLocal(context.Background(), 4, func(ctx context.Context, c *collective.Comm) error {
		sub, err := c.Split(ctx, c.Rank()%2, -c.Rank())
		if err != nil {
			return err
		}
		defer sub.Close()
		x := []int32{int32(c.Rank())}
		if err := collective.AllReduce(ctx, sub, x, x, collective.Sum); err != nil {
			return err
		}
		sums[c.Rank()] = fmt.Sprintf("world %d: group rank %d of %d, sum %d", c.Rank(), sub.Rank(), sub.Size(), x[0])
		return nil
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, s := range sums {
		fmt.Println(s)
	}
	// Output:
	// world 0: group rank 1 of 2, sum 2
	// world 1: group rank 1 of 2, sum 4
	// world 2: group rank 0 of 2, sum 2
	// world 3: group rank 0 of 2, sum 4
}

// A 2 x 2 mesh: a tensor-parallel all-reduce within each TP pair, then the
// gradient's data-parallel average started asynchronously, overlapping
// whatever the rank does before it waits.
func ExampleNewMesh() {
	out := make([]string, 4)
	err := collective.RunLocal(context.Background(), 4, func(ctx context.Context, c *collective.Comm) error {
		m, err := collective.NewMesh(ctx, c, 2, 2, 1)
		if err != nil {
			return err
		}
		defer m.Close()
		act := []float32{float32(m.TPRank + 1)}
		if err := collective.AllReduce(ctx, m.TP, act, act, collective.Sum); err != nil {
			return err
		}
		grad := []float32{float32(10 * (m.DPRank + 1))}
		h := collective.AllReduceAsync(m.DP, grad, grad, collective.Avg)
		// ... compute the next layer's gradients here ...
		if err := h.Wait(ctx); err != nil {
			return err
		}
		out[c.Rank()] = fmt.Sprintf("rank %d (tp %d, dp %d): activation %v, gradient %v", c.Rank(), m.TPRank, m.DPRank, act[0], grad[0])
		return nil
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, s := range out {
		fmt.Println(s)
	}
	// Output:
	// rank 0 (tp 0, dp 0): activation 3, gradient 15
	// rank 1 (tp 1, dp 0): activation 3, gradient 15
	// rank 2 (tp 0, dp 1): activation 3, gradient 15
	// rank 3 (tp 1, dp 1): activation 3, gradient 15
}

// Ranks contribute blocks of different sizes (rank 1 none at all).
func ExampleAllGatherV() {
	var got []float64
	err := collective.RunLocal(context.Background(), 3, func(ctx context.Context, c *collective.Comm) error {
		counts := []int{2, 0, 3}
		send := make([]float64, counts[c.Rank()])
		for i := range send {
			send[i] = float64(10*c.Rank() + i)
		}
		recv := make([]float64, 5)
		if err := collective.AllGatherV(ctx, c, send, recv, counts); err != nil {
			return err
		}
		if c.Rank() == 0 {
			got = recv
		}
		return nil
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(got)
	// Output: [0 1 20 21 22]
}
