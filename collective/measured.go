package collective

import "github.com/kizuna-hpc/kizuna/collective/schedule"

// Measured choices. The cost model prices algorithms by latency and bytes
// per round; where measurement on a transport keeps disagreeing with it,
// a rule here overrides it (as Open MPI's tuned decision tables do). A rule
// applies to a communicator without a topology whose endpoint is exactly
// the transport, from MinRanks ranks and MinBytes bytes (the collective's
// Count convention), when KIZUNA_ALGO allows the algorithm; the cost model
// decides everything else.
type measuredRule struct {
	Transport string
	Coll      schedule.Coll
	MinRanks  int
	MinBytes  int64
	Algo      schedule.Algo
}

var measuredRules = []measuredRule{
	// Shared memory, 3 and 4 ranks on 2 cores: halving-doubling (which
	// the model prefers: fewer rounds, same bytes) falls to 0.8-1.9 GB/s
	// from 1 MiB while the ring keeps 1.4-4.9 GB/s, whatever the chunk
	// size (64 KiB-512 KiB); below 1 MiB halving-doubling is level or
	// ahead. Measured with, for np in 3 and 4, interleaved runs of
	// `kizuna bench -transport shm -np $np -b 256K -e 16M -n 20 -c 0 -compare ring,hd`
	// (docs/performance.md, "Shared memory transport"). Two ranks are
	// not covered: there halving-doubling is 1.2-2x faster at every size.
	{Transport: TransportShm, Coll: schedule.AllReduce, MinRanks: 3, MinBytes: 1 << 20, Algo: schedule.Ring},
}

// measuredChoice returns the algorithm a rule chooses for coll over the
// transport named transport on size ranks with bytes, if any.
func measuredChoice(transport string, coll schedule.Coll, size int, bytes int64) (schedule.Algo, bool) {
	for _, r := range measuredRules {
		if r.Transport == transport && r.Coll == coll && size >= r.MinRanks && bytes >= r.MinBytes {
			return r.Algo, true
		}
	}
	return schedule.AlgoAuto, false
}
