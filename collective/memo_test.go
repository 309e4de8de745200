package collective

import (
	"context"
	"testing"

	"github.com/kizuna-hpc/kizuna/collective/schedule"
)

func TestLast(t *testing.T) {
	var l last[choiceKey, schedule.Algo]
	k1 := choiceKey{schedule.AllReduce, 8}
	k2 := choiceKey{schedule.AllReduce, 16}
	steps := []struct {
		do     string // "get", "put", "reset"
		k      choiceKey
		v      schedule.Algo
		want   schedule.Algo
		wantOK bool
	}{
		{do: "get", k: k1},
		{do: "put", k: k1, v: Ring},
		{do: "get", k: k1, want: Ring, wantOK: true},
		{do: "get", k: k2},
		{do: "put", k: k2, v: Tree},
		{do: "get", k: k1}, // only the latest is kept
		{do: "get", k: k2, want: Tree, wantOK: true},
		{do: "reset"},
		{do: "get", k: k2},
	}
	for i, s := range steps {
		switch s.do {
		case "put":
			l.put(s.k, s.v)
		case "reset":
			l.reset()
		case "get":
			got, ok := l.get(s.k)
			if got != s.want || ok != s.wantOK {
				t.Errorf("step %d: get(%v) = %v, %v; want %v, %v", i, s.k, got, ok, s.want, s.wantOK)
			}
		}
	}
}

// TestSetCostsForgetsLatestChoice: the choice remembered for the latest
// size is dropped with the others when the cost model changes.
func TestSetCostsForgetsLatestChoice(t *testing.T) {
	err := RunLocal(context.Background(), 4, func(ctx context.Context, c *Comm) error {
		const count = 1 << 20
		// Latency alone: the fewest rounds win. Bandwidth alone: the
		// fewest bytes per rank.
		costs := []schedule.Costs{{Alpha: 1}, {Beta: 1e-9}}
		var got [2]Algo
		for i, k := range costs {
			c.SetCosts(k)
			a, err := c.Algorithm(schedule.AllReduce, Float32, count, AlgoAuto)
			if err != nil {
				return err
			}
			// Asked twice: the second answer comes from the memo.
			b, err := c.Algorithm(schedule.AllReduce, Float32, count, AlgoAuto)
			if err != nil {
				return err
			}
			if a != b {
				t.Errorf("rank %d, costs %+v: %v then %v", c.Rank(), k, a, b)
			}
			want := schedule.Choose(schedule.AllReduce, count*4, 4, k, func(schedule.Coll, schedule.Algo) bool { return true })
			if a != want {
				t.Errorf("rank %d, costs %+v: chose %v; the cost model says %v", c.Rank(), k, a, want)
			}
			got[i] = a
		}
		if got[0] == got[1] {
			t.Errorf("rank %d: %v under both cost models; the test needs two that disagree", c.Rank(), got[0])
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
