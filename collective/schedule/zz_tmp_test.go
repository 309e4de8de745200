package schedule

import (
	"testing"
	"time"
)

func TestTmpHuge(t *testing.T) {
	var tot, big time.Duration
	for _, coll := range []Coll{AllReduce, Broadcast, Reduce, AllGather, ReduceScatter, AllToAll, Gather, Scatter} {
		for _, algo := range Available(coll) {
			t0 := time.Now()
			if err := checkFloat(simCase{coll, algo, 3, hugeCount, 4096, 2, false}); err != nil {
				t.Error(err)
			}
			tot += time.Since(t0)
			t0 = time.Now()
			for p := 1; p <= 8; p++ {
				if err := checkFloat(simCase{coll, algo, p, largeCount, 0, 0, false}); err != nil {
					t.Error(err)
				}
				if err := checkFloat(simCase{coll, algo, p, largeCount, 4096, p-1, true}); err != nil {
					t.Error(err)
				}
			}
			big += time.Since(t0)
		}
	}
	t.Log("huge", tot, "large", big)
}
