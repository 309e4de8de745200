package schedule_test

import (
	"fmt"

	"github.com/kizuna-hpc/kizuna/collective/schedule"
)

// Build one rank's schedule and look at its steps.
func ExampleBuild() {
	s, err := schedule.Build(schedule.Params{
		Coll: schedule.AllReduce, Algo: schedule.Ring, Rank: 0, Size: 3, Count: 6,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for i, st := range s.Steps {
		fmt.Printf("step %d: copies %v sends %v recvs %v\n", i, st.Copies, st.Sends, st.Recvs)
	}
	// Output:
	// step 0: copies [{{0 4 2} {1 4 2}}] sends [{1 0 {0 0 2} false}] recvs [{2 0 {1 4 2} true}]
	// step 1: copies [{{0 2 2} {1 2 2}}] sends [{1 1 {1 4 2} false}] recvs [{2 1 {1 2 2} true}]
	// step 2: copies [] sends [{1 2 {1 2 2} false}] recvs [{2 2 {1 0 2} false}]
	// step 3: copies [] sends [{1 3 {1 0 2} false}] recvs [{2 3 {1 4 2} false}]
}

// Simulate all ranks of a call in memory: the oracle the executor's tests
// can reuse.
func ExampleSimulate() {
	const size = 4
	var scheds []*schedule.Schedule
	var params []schedule.Params
	var in [][]float64
	for r := range size {
		p := schedule.Params{Coll: schedule.AllReduce, Algo: schedule.HalvingDoubling, Rank: r, Size: size, Count: 3}
		s, err := schedule.Build(p)
		if err != nil {
			fmt.Println(err)
			return
		}
		scheds, params = append(scheds, s), append(params, p)
		in = append(in, []float64{float64(r), 1, 10 * float64(r)})
	}
	out, err := schedule.Simulate(scheds, params, in)
	fmt.Println(out, err)
	// Output:
	// [[6 4 60] [6 4 60] [6 4 60] [6 4 60]] <nil>
}

// Pick an algorithm with the cost model under a KIZUNA_ALGO restriction.
func ExampleChoose() {
	spec, err := schedule.ParseAlgoSpec("allreduce:^rd;ring")
	if err != nil {
		fmt.Println(err)
		return
	}
	k := schedule.Costs{Alpha: 10e-6, Beta: 1e-10, Gamma: 2e-10}
	for _, bytes := range []int64{8, 1 << 16, 1 << 30} {
		fmt.Println(bytes, schedule.Choose(schedule.AllReduce, bytes, 48, k, nil),
			schedule.Choose(schedule.AllReduce, bytes, 48, k, spec.Allowed),
			schedule.Choose(schedule.Broadcast, bytes, 48, k, spec.Allowed))
	}
	// Output:
	// 8 rd tree ring
	// 65536 tree tree ring
	// 1073741824 ring ring ring
}

func ExampleParseAlgoSpec() {
	spec, err := schedule.ParseAlgoSpec("allreduce:tree;^tree")
	fmt.Println(spec, err)
	fmt.Println(spec.Allowed(schedule.AllReduce, schedule.Tree), spec.Allowed(schedule.Broadcast, schedule.Tree))
	_, err = schedule.ParseAlgoSpec("allreduce:tree,rign")
	fmt.Println(err)
	// Output:
	// ^tree;allreduce:tree <nil>
	// true false
	// schedule: bad algorithm spec "allreduce:tree,rign": unknown algorithm "rign"
}
