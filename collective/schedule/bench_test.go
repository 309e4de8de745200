package schedule

import (
	"fmt"
	"testing"
)

func BenchmarkBuild(b *testing.B) {
	cases := []Params{
		{Coll: AllReduce, Algo: Ring, Rank: 3, Size: 8, Count: 1 << 20, ChunkElems: 1 << 14},
		{Coll: AllReduce, Algo: Ring, Rank: 3, Size: 64, Count: 1 << 24, ChunkElems: 1 << 16},
		{Coll: AllReduce, Algo: Tree, Rank: 5, Size: 64, Count: 1 << 20, ChunkElems: 1 << 14},
		{Coll: AllReduce, Algo: HalvingDoubling, Rank: 5, Size: 48, Count: 1 << 20, ChunkElems: 1 << 14},
		{Coll: AllReduce, Algo: RecursiveDoubling, Rank: 5, Size: 48, Count: 1024},
		{Coll: Broadcast, Algo: Tree, Rank: 9, Size: 64, Count: 1 << 20, ChunkElems: 1 << 14, Root: 3},
		{Coll: AllToAll, Algo: Ring, Rank: 1, Size: 64, Count: 4096, ChunkElems: 1 << 14},
		{Coll: Barrier, Algo: Ring, Rank: 1, Size: 64},
	}
	for _, p := range cases {
		b.Run(fmt.Sprintf("%v/%v/p=%d/n=%d/chunk=%d", p.Coll, p.Algo, p.Size, p.Count, p.ChunkElems), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Build(p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkSimulate(b *testing.B) {
	c := simCase{AllReduce, Ring, 8, 1 << 16, 1 << 12, 0, false, nil}
	scheds, params, err := c.build()
	if err != nil {
		b.Fatal(err)
	}
	in := inputs(c, exactVal, 0)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Simulate(scheds, params, in); err != nil {
			b.Fatal(err)
		}
	}
}
