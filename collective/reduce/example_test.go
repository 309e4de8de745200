package reduce_test

import (
	"fmt"

	"github.com/kizuna-hpc/kizuna/collective/reduce"
)

func ExampleApply() {
	acc := []float32{1, 2, 3}
	recv := []float32{10, 20, 30}
	reduce.Apply(reduce.Sum, reduce.Float32, reduce.AsBytes(acc), reduce.AsBytes(recv))
	fmt.Println(acc)
	// Output: [11 22 33]
}

func ExampleFinish() {
	// Three ranks' contributions, summed by Apply, then averaged.
	acc := []int32{-7, 7}
	reduce.Apply(reduce.Avg, reduce.Int32, reduce.AsBytes(acc), reduce.AsBytes([]int32{0, 0}))
	reduce.Apply(reduce.Avg, reduce.Int32, reduce.AsBytes(acc), reduce.AsBytes([]int32{-1, 1}))
	reduce.Finish(reduce.Avg, reduce.Int32, reduce.AsBytes(acc), 3)
	fmt.Println(acc) // integer division truncates toward zero
	// Output: [-2 2]
}

func ExampleApply_float16() {
	// 2048 + 1 is not a float16; the tie rounds to the even neighbour, 2048.
	acc := []reduce.F16{reduce.Float16From(2048), reduce.Float16From(0.5)}
	one := []reduce.F16{reduce.Float16From(1), reduce.Float16From(0.25)}
	reduce.Apply(reduce.Sum, reduce.Float16, reduce.AsBytes(acc), reduce.AsBytes(one))
	fmt.Println(acc[0].Float32(), acc[1].Float32())
	// Output: 2048 0.75
}

func ExampleReference() {
	// Compare an algorithm's result with the sequential oracle on data that
	// every association order reduces exactly.
	const ranks, elems = 4, 8
	dt, op := reduce.BFloat16, reduce.Sum
	inputs := make([][]byte, ranks)
	for r := range inputs {
		inputs[r] = make([]byte, elems*dt.Size())
		reduce.Fill(dt, inputs[r], r, 42, op)
	}
	want := reduce.Reference(op, dt, inputs)

	// A "tree" order: (0+1) + (2+3).
	a := append([]byte(nil), inputs[0]...)
	b := append([]byte(nil), inputs[2]...)
	reduce.Apply(op, dt, a, inputs[1])
	reduce.Apply(op, dt, b, inputs[3])
	reduce.Apply(op, dt, a, b)
	reduce.Finish(op, dt, a, ranks)

	if i, ok := reduce.Equal(dt, a, want); !ok {
		fmt.Printf("element %d: got %s, want %s\n", i, reduce.Format(dt, a, i), reduce.Format(dt, want, i))
		return
	}
	fmt.Println("tree order matches Reference")
	// Output: tree order matches Reference
}

func ExampleParseDType() {
	dt, err := reduce.ParseDType("BF16")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(dt, dt.Size())
	_, err = reduce.ParseDType("int16")
	fmt.Println(err)
	// Output:
	// bfloat16 2
	// reduce: unknown dtype "int16" (valid: float32, float64, float16, bfloat16, int8, uint8, int32, int64)
}
