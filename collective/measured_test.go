package collective

import (
	"runtime"
	"testing"

	"github.com/kizuna-hpc/kizuna/collective/schedule"
)

func TestMeasuredChoice(t *testing.T) {
	tests := []struct {
		name      string
		transport string
		coll      schedule.Coll
		size      int
		bytes     int64
		oversub   bool
		want      schedule.Algo
		wantOK    bool
	}{
		{"shm 4 ranks 1 MiB, a core each", TransportShm, schedule.AllReduce, 4, 1 << 20, false, schedule.AlgoAuto, false},
		{"shm 4 ranks 1 MiB oversubscribed", TransportShm, schedule.AllReduce, 4, 1 << 20, true, schedule.Ring, true},
		{"shm 3 ranks 64 MiB oversubscribed", TransportShm, schedule.AllReduce, 3, 64 << 20, true, schedule.Ring, true},
		{"shm 3 ranks below 1 MiB oversubscribed", TransportShm, schedule.AllReduce, 3, 1<<20 - 1, true, schedule.AlgoAuto, false},
		{"shm 2 ranks", TransportShm, schedule.AllReduce, 2, 64 << 20, true, schedule.AlgoAuto, false},
		{"shm 4 ranks 64 KiB oversubscribed", TransportShm, schedule.AllReduce, 4, 64 << 10, true, schedule.HalvingDoubling, true},
		{"shm 4 ranks 32 KiB oversubscribed", TransportShm, schedule.AllReduce, 4, 32 << 10, true, schedule.AlgoAuto, false},
		{"tcp 4 ranks 64 KiB oversubscribed", TransportTCP, schedule.AllReduce, 4, 64 << 10, true, schedule.HalvingDoubling, true},
		{"tcp 4 ranks 64 MiB oversubscribed", TransportTCP, schedule.AllReduce, 4, 64 << 20, true, schedule.HalvingDoubling, true},
		{"tcp 4 ranks 64 KiB, a core each", TransportTCP, schedule.AllReduce, 4, 64 << 10, false, schedule.AlgoAuto, false},
		{"tcp 3 ranks oversubscribed", TransportTCP, schedule.AllReduce, 3, 64 << 10, true, schedule.AlgoAuto, false},
		{"tcp", TransportTCP, schedule.AllReduce, 4, 64 << 20, false, schedule.AlgoAuto, false},
		{"mixed shm and tcp", "shm+tcp", schedule.AllReduce, 4, 64 << 20, true, schedule.AlgoAuto, false},
		{"shm all-gather", TransportShm, schedule.AllGather, 4, 64 << 20, true, schedule.AlgoAuto, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := measuredChoice(tt.transport, tt.coll, tt.size, tt.bytes, tt.oversub)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("measuredChoice(%q, %v, %d, %d, %v) = %v, %v; want %v, %v", tt.transport, tt.coll, tt.size, tt.bytes, tt.oversub, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestOversubscribed(t *testing.T) {
	n := runtime.NumCPU()
	tests := []struct {
		local, host int
		want        bool
	}{
		{-1, n, false}, {0, n, false}, {1, n, false}, {n, n, false}, {n + 1, n, true}, {4 * n, n, true},
		// A rank bound to one of two processors: the host's count decides.
		{2, 2, false}, {3, 2, true},
	}
	for _, tt := range tests {
		if got := oversubscribed(tt.local, tt.host); got != tt.want {
			t.Errorf("oversubscribed(%d, %d) = %v; want %v", tt.local, tt.host, got, tt.want)
		}
	}
}

// TestMeasuredChoiceApplies: a shared-memory communicator of 4 ranks on a
// host with more ranks than processors takes the measured rules' choices
// (the ring from 1 MiB, halving-doubling from 64 KiB), the cost model's
// below them and on a host with a processor per rank, and KIZUNA_ALGO
// still rules out what it rules out.
func TestMeasuredChoiceApplies(t *testing.T) {
	comms := newLocalMedium(t, 4, TransportShm)
	tests := []struct {
		name    string
		count   int
		spec    string
		oversub bool
		want    schedule.Algo
	}{
		{"1 MiB", 1 << 18, "", true, schedule.Ring},
		{"64 KiB", 1 << 14, "", true, schedule.HalvingDoubling},
		{"32 KiB", 1 << 13, "", true, AlgoAuto}, // the cost model's choice
		{"1 MiB, a core each", 1 << 18, "", false, AlgoAuto},
		{"ring ruled out", 1 << 18, "^ring", true, schedule.HalvingDoubling},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := comms[0]
			spec, err := schedule.ParseAlgoSpec(tt.spec)
			if err != nil {
				t.Fatal(err)
			}
			c.mu.Lock()
			oldSpec, oldOver := c.algoSpec, c.oversub
			c.algoSpec, c.oversub = spec, tt.oversub
			clear(c.choices)
			c.mu.Unlock()
			defer func() {
				c.mu.Lock()
				c.algoSpec, c.oversub = oldSpec, oldOver
				clear(c.choices)
				c.mu.Unlock()
			}()
			want := tt.want
			if want == AlgoAuto {
				want = schedule.Choose(schedule.AllReduce, int64(4*tt.count), 4, c.costs, nil)
			}
			got, err := c.Algorithm(schedule.AllReduce, Float32, tt.count, AlgoAuto)
			if err != nil || got != want {
				t.Errorf("Algorithm(allreduce, %d float32) over shm on 4 ranks, oversubscribed %v = %v, %v; want %v", tt.count, tt.oversub, got, err, want)
			}
		})
	}
}
