package schedule

import (
	"errors"
	"testing"
)

// FuzzBuild: Build never panics, fails only with its sentinel errors, and
// for small calls every rank's schedule fits together and computes the
// reference result.
func FuzzBuild(f *testing.F) {
	f.Add(uint8(AllReduce), uint8(Tree), 3, 5, 17, 1, 4, false)
	f.Add(uint8(AllToAll), uint8(Ring), 0, 6, 3, 0, 0, true)
	f.Add(uint8(Scatter), uint8(Ring), 2, 4, 0, 3, 1, true)
	f.Add(uint8(Reduce), uint8(Tree), 9, 10, 100, 7, 3, false)
	f.Add(uint8(AllReduce), uint8(HalvingDoubling), -1, 0, -5, 99, -2, false)
	f.Fuzz(func(t *testing.T, coll, algo uint8, rank, size, count, root, chunk int, ip bool) {
		p := Params{Coll: Coll(coll), Algo: Algo(algo), Rank: rank, Size: size, Count: count,
			Root: root, ChunkElems: chunk, InPlace: ip}
		if p.Size > 64 || p.Count > 1<<12 || p.Count < -1 {
			return // an input filter: keep each fuzz case cheap; larger sizes are covered by the matrix tests
		}
		s, err := Build(p)
		if err != nil {
			if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrUnavailable) {
				t.Fatalf("Build(%+v) = %v; want ErrInvalid or ErrUnavailable", p, err)
			}
			return
		}
		if s == nil {
			t.Fatalf("Build(%+v) = nil, nil", p)
		}
		c := simCase{p.Coll, p.Algo, p.Size, p.Count, p.ChunkElems, p.Root, p.InPlace, nil}
		if err := checkFloat(c); err != nil {
			t.Fatalf("%v: %v", c, err)
		}
	})
}
