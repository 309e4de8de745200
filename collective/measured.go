package collective

import (
	"github.com/kizuna-hpc/kizuna/collective/schedule"
)

// Measured choices. The cost model prices algorithms by latency and bytes
// per round; where measurement on a transport keeps disagreeing with it,
// a rule here overrides it (as Open MPI's tuned decision tables do). A rule
// applies to a communicator without a topology whose endpoint is exactly
// the transport, from MinRanks ranks and MinBytes bytes (the collective's
// Count convention) up, only on a host with more ranks than processors if
// Oversubscribed, when KIZUNA_ALGO allows the algorithm; the first rule
// that applies wins, and the cost model decides everything else.
type measuredRule struct {
	Transport      string
	Coll           schedule.Coll
	MinRanks       int
	MinBytes       int64
	Oversubscribed bool
	Algo           schedule.Algo
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
	// Measured only with more ranks than cores, so it applies only there.
	{Transport: TransportShm, Coll: schedule.AllReduce, MinRanks: 3, MinBytes: 1 << 20, Oversubscribed: true, Algo: schedule.Ring},
	// Four ranks on 2 cores, over TCP and shared memory: recursive
	// doubling (which the model prefers up to 128-256 KiB: half the rounds
	// of halving-doubling) exchanges and reduces the whole buffer in each
	// of its rounds, twice the bytes of halving-doubling, and with two
	// ranks to a core the bytes cost more than the rounds. Median busbw
	// over 5 interleaved runs of `kizuna bench -transport $t -np 4 -b 16K
	// -e 1M -n 20 -c 0 -compare hd,rd,tree`, hd against rd: tcp 64 KiB
	// 0.84/0.57 GB/s, 128 KiB 1.37/0.76, 256 KiB 1.55/0.95, 1 MiB 2.26/1.15;
	// shm 64 KiB 1.56/1.40, 128 KiB 1.60/1.17, 256 KiB 3.90/1.40; at 32 KiB
	// recursive doubling was ahead on both (0.65/0.44, 1.34/0.98).
	// Measured at 4 ranks on 2 cores only; a host with a core per rank
	// keeps the model's choice.
	{Transport: TransportTCP, Coll: schedule.AllReduce, MinRanks: 4, MinBytes: 64 << 10, Oversubscribed: true, Algo: schedule.HalvingDoubling},
	{Transport: TransportShm, Coll: schedule.AllReduce, MinRanks: 4, MinBytes: 64 << 10, Oversubscribed: true, Algo: schedule.HalvingDoubling},
}

// measuredChoice returns the algorithm a rule chooses for coll over the
// transport named transport on size ranks with bytes, on a host with more
// ranks than processors if oversubscribed, if any.
func measuredChoice(transport string, coll schedule.Coll, size int, bytes int64, oversubscribed bool) (schedule.Algo, bool) {
	for _, r := range measuredRules {
		if r.Transport == transport && r.Coll == coll && size >= r.MinRanks && bytes >= r.MinBytes &&
			(!r.Oversubscribed || oversubscribed) {
			return r.Algo, true
		}
	}
	return schedule.AlgoAuto, false
}

// oversubscribed reports whether a host runs more of the job's ranks than
// the host processors they share (cpus.Host: KIZUNA_HOST_CPUS, which kizuna
// run's agent sets, else this process's affinity mask); localRanks <= 0
// (unknown) says no.
func oversubscribed(localRanks, hostCPUs int) bool {
	return localRanks > hostCPUs
}
