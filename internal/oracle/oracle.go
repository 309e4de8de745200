// Package oracle is the sequential reference for every collective: it
// generates each rank's input deterministically (reduce.Fill), computes
// what each rank must hold afterwards, and runs a case on a communicator
// and compares. The collective tests, the multi-process tests and
// `kizuna bench -c 1` share it.
package oracle

import (
	"bytes"
	"context"
	"fmt"

	"github.com/kizuna-hpc/kizuna/collective"
	"github.com/kizuna-hpc/kizuna/collective/reduce"
	"github.com/kizuna-hpc/kizuna/collective/schedule"
)

// Case is one collective call that every rank makes.
type Case struct {
	Coll    schedule.Coll
	Algo    collective.Algo // AlgoAuto lets the communicator choose
	DType   collective.DType
	Op      collective.Op
	Count   int // per the collective's convention (see package schedule)
	Root    int
	InPlace bool
}

func (tc Case) String() string {
	return fmt.Sprintf("%s/%s/%s/%s/n=%d/root=%d/inplace=%v", tc.Coll, tc.Algo, tc.DType, tc.Op, tc.Count, tc.Root, tc.InPlace)
}

// InputLen is the element count of rank's input for the case (0 where the
// rank has no input).
func InputLen(tc Case, rank, size int) int {
	switch tc.Coll {
	case schedule.ReduceScatter, schedule.AllToAll:
		return tc.Count * size
	case schedule.Scatter:
		if rank != tc.Root {
			return 0
		}
		return tc.Count * size
	case schedule.Barrier:
		return 0
	}
	return tc.Count
}

// OutputLen is the element count of rank's output buffer for the case.
func OutputLen(tc Case, rank, size int) int {
	switch tc.Coll {
	case schedule.AllGather, schedule.AllToAll:
		return tc.Count * size
	case schedule.Gather:
		if rank != tc.Root {
			return 0
		}
		return tc.Count * size
	case schedule.Reduce:
		if rank != tc.Root {
			return 0
		}
		return tc.Count
	case schedule.Barrier:
		return 0
	}
	return tc.Count
}

// Input regenerates rank's input deterministically, so that every rank can
// compute the oracle's answer for itself.
func Input(tc Case, rank, size int, seed uint64) []byte {
	b := make([]byte, InputLen(tc, rank, size)*tc.DType.Size())
	reduce.Fill(tc.DType, b, rank, seed, tc.Op)
	return b
}

// Expected is the sequential oracle's answer for rank.
func Expected(tc Case, rank, size int, seed uint64) []byte {
	es := tc.DType.Size()
	ins := make([][]byte, size)
	for r := range size {
		ins[r] = Input(tc, r, size, seed)
	}
	blk := tc.Count * es
	switch tc.Coll {
	case schedule.AllReduce:
		return reduce.Reference(tc.Op, tc.DType, ins)
	case schedule.Reduce:
		if rank != tc.Root {
			return nil
		}
		return reduce.Reference(tc.Op, tc.DType, ins)
	case schedule.ReduceScatter:
		return reduce.Reference(tc.Op, tc.DType, ins)[rank*blk : (rank+1)*blk]
	case schedule.Broadcast:
		return ins[tc.Root]
	case schedule.AllGather:
		return bytes.Join(ins, nil)
	case schedule.Gather:
		if rank != tc.Root {
			return nil
		}
		return bytes.Join(ins, nil)
	case schedule.Scatter:
		return ins[tc.Root][rank*blk : (rank+1)*blk]
	case schedule.AllToAll:
		out := make([]byte, 0, size*blk)
		for j := range size {
			out = append(out, ins[j][rank*blk:(rank+1)*blk]...)
		}
		return out
	}
	return nil
}

// Do performs tc on c and returns what landed in the output buffer.
func Do(ctx context.Context, c *collective.Comm, tc Case, seed uint64) ([]byte, error) {
	r, n := c.Rank(), c.Size()
	es := tc.DType.Size()
	in := Input(tc, r, n, seed)
	out := make([]byte, OutputLen(tc, r, n)*es)
	opts := []collective.CallOption{collective.WithAlgo(tc.Algo)}
	blk := tc.Count * es
	var err error
	switch tc.Coll {
	case schedule.AllReduce:
		if tc.InPlace {
			copy(out, in)
			in = out
		}
		err = c.AllReduceBytes(ctx, in, out, tc.DType, tc.Op, opts...)
	case schedule.Broadcast:
		if tc.InPlace {
			if r == tc.Root {
				copy(out, in)
			}
			in = out
		}
		err = c.BroadcastBytes(ctx, in, out, tc.DType, tc.Root, opts...)
	case schedule.Reduce:
		if tc.InPlace && r == tc.Root {
			copy(out, in)
			in = out
		}
		err = c.ReduceBytes(ctx, in, out, tc.DType, tc.Op, tc.Root, opts...)
	case schedule.AllGather:
		if tc.InPlace {
			copy(out[r*blk:], in)
			in = out[r*blk : (r+1)*blk]
		}
		err = c.AllGatherBytes(ctx, in, out, tc.DType, opts...)
	case schedule.ReduceScatter:
		if tc.InPlace {
			err = c.ReduceScatterBytes(ctx, in, in[r*blk:(r+1)*blk], tc.DType, tc.Op, opts...)
			out = in[r*blk : (r+1)*blk]
		} else {
			err = c.ReduceScatterBytes(ctx, in, out, tc.DType, tc.Op, opts...)
		}
	case schedule.AllToAll:
		if tc.InPlace {
			copy(out, in)
			in = out
		}
		err = c.AllToAllBytes(ctx, in, out, tc.DType, opts...)
	case schedule.Gather:
		if tc.InPlace && r == tc.Root {
			copy(out[r*blk:], in)
			in = out[r*blk : (r+1)*blk]
		}
		err = c.GatherBytes(ctx, in, out, tc.DType, tc.Root, opts...)
	case schedule.Scatter:
		if tc.InPlace && r == tc.Root {
			err = c.ScatterBytes(ctx, in, in[r*blk:(r+1)*blk], tc.DType, tc.Root, opts...)
			out = in[r*blk : (r+1)*blk]
		} else {
			err = c.ScatterBytes(ctx, in, out, tc.DType, tc.Root, opts...)
		}
	case schedule.Barrier:
		err = c.Barrier(ctx, opts...)
	}
	return out, err
}

// Check runs tc on c and compares the output with the oracle.
func Check(ctx context.Context, c *collective.Comm, tc Case, seed uint64) error {
	got, err := Do(ctx, c, tc, seed)
	if err != nil {
		return fmt.Errorf("%v: %w", tc, err)
	}
	want := Expected(tc, c.Rank(), c.Size(), seed)
	if len(got) != len(want) {
		return fmt.Errorf("%v on rank %d: output has %d bytes; want %d", tc, c.Rank(), len(got), len(want))
	}
	if i, ok := reduce.Equal(tc.DType, got, want); !ok {
		return fmt.Errorf("%v on rank %d: element %d = %s; want %s", tc, c.Rank(), i,
			reduce.Format(tc.DType, got, i), reduce.Format(tc.DType, want, i))
	}
	return nil
}
