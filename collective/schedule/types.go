package schedule

import "fmt"

// Coll is a collective operation kind. Its numeric value travels in frame
// headers (transport.Header.Op), so values must never be renumbered.
type Coll uint8

const (
	AllReduce     Coll = 1
	Broadcast     Coll = 2
	Reduce        Coll = 3
	AllGather     Coll = 4
	ReduceScatter Coll = 5
	AllToAll      Coll = 6
	Gather        Coll = 7
	Scatter       Coll = 8
	Barrier       Coll = 9
	SendRecv      Coll = 10 // point-to-point; has no schedule
)

// Algo is a schedule family. Its numeric value travels in frame headers.
type Algo uint8

const (
	AlgoAuto Algo = 0 // let the cost model choose
	// Ring: chunked, pipelined ring; available for every collective.
	Ring Algo = 1
	// Tree: pipelined double binary tree (AllReduce, Broadcast, Reduce).
	Tree Algo = 2
	// HalvingDoubling: Rabenseifner's recursive-halving reduce-scatter plus
	// recursive-doubling all-gather, with non-power-of-two folding (AllReduce).
	HalvingDoubling Algo = 3
	// RecursiveDoubling: log2(p) full-buffer exchanges (AllReduce), latency-optimal.
	RecursiveDoubling Algo = 4
	// Torus: dimension-wise all-reduce on the rank grid Layout.Dims (Mikami
	// et al., Sony 2018, generalised to n-D): ring reduce-scatter along
	// dimension 0, all-reduce of the shard along the remaining dimensions,
	// ring all-gather along dimension 0 (AllReduce; needs Layout.Dims).
	Torus Algo = 5
	// Hierarchical: dragonfly all-reduce over Layout.Groups: ring
	// reduce-scatter within each group, ring all-reduce of the shard across
	// groups among ranks with the same index in their group, ring all-gather
	// within the group (AllReduce; needs Layout.Groups).
	Hierarchical Algo = 6
	// Swing: De Sensi et al. (NSDI 2024) in Rabenseifner's bandwidth-optimal
	// form; step s pairs r with r ± rho(s), on the ring of ranks
	// (Layout.Ring order if given) or over every dimension of Layout.Dims
	// at once, alternating dimensions step by step (AllReduce).
	Swing Algo = 7
	// MultiRing: the buffer split across the rings of Layout.Rings, each
	// slice ring-all-reduced on its own ring, all concurrently (AllReduce;
	// needs Layout.Rings or Layout.Ring).
	MultiRing Algo = 8
)

// lastAlgo is the largest Algo value.
const lastAlgo = MultiRing

// Buf names one of the buffers a schedule reads and writes.
type Buf uint8

const (
	// In is the caller's send buffer. Schedules never write it, except when
	// Params.InPlace says In and Out are the same memory.
	In Buf = 0
	// Out is the caller's receive buffer.
	Out Buf = 1
	// Scratch is executor-owned memory of Schedule.Scratch elements.
	Scratch Buf = 2
)

// Region is a slice of one buffer, in elements.
type Region struct {
	Buf Buf
	Off int
	N   int
}

// Xfer is one message of a step: for a send, Region is read and sent to Peer;
// for a receive, the message from Peer is written to Region (Reduce false) or
// combined into it element-wise with the operation's reduction (Reduce true:
// Region = Region op received). Tag identifies the message between this pair
// of ranks within one operation: the sender's and the receiver's Xfer carry the
// same Tag and the same N, and no two messages from one rank to another in one
// operation share a Tag.
type Xfer struct {
	Peer   int
	Tag    uint32
	Region Region
	Reduce bool
}

// Copy is a local copy of Src into Dst (same N), done before the step's sends.
type Copy struct {
	Src, Dst Region
}

// Step is one round of a schedule. The executor performs, in this order: all
// Copies; posts all Recvs; issues all Sends; waits for every Recv, applying the
// reductions in the order Recvs lists them. Within one step no Send region may
// overlap a Recv region, and no two Recv regions may overlap.
type Step struct {
	Copies []Copy
	Sends  []Xfer
	Recvs  []Xfer
}

// Schedule is everything one rank does for one collective call.
type Schedule struct {
	Steps   []Step
	Scratch int // elements of Scratch the schedule uses (0 if none)
}

// Params selects a schedule.
type Params struct {
	Coll Coll
	Algo Algo // must not be AlgoAuto
	Rank int
	Size int
	// Count follows the collective's convention (see package doc): total
	// elements for AllReduce/Broadcast/Reduce, per-rank block for
	// AllGather/ReduceScatter/Gather/Scatter, per-peer block for AllToAll,
	// 0 for Barrier.
	Count int
	Root  int
	// ChunkElems caps the elements in one message so that transfers pipeline;
	// 0 means no cap.
	ChunkElems int
	// InPlace says In and Out are the same memory (the caller passed one buffer).
	InPlace bool
	// Layout, when not nil, says where ranks sit (see Layout and Needs);
	// nil means no topology. Every rank of a call passes an equal Layout,
	// which must not change afterwards. A pointer keeps Params comparable:
	// as a map key it compares by identity.
	Layout *Layout
}

func (c Coll) String() string {
	switch c {
	case AllReduce:
		return "allreduce"
	case Broadcast:
		return "broadcast"
	case Reduce:
		return "reduce"
	case AllGather:
		return "allgather"
	case ReduceScatter:
		return "reducescatter"
	case AllToAll:
		return "alltoall"
	case Gather:
		return "gather"
	case Scatter:
		return "scatter"
	case Barrier:
		return "barrier"
	case SendRecv:
		return "sendrecv"
	case AllGatherV:
		return "allgatherv"
	case ReduceScatterV:
		return "reducescatterv"
	}
	return fmt.Sprintf("coll(%d)", uint8(c))
}

func (a Algo) String() string {
	switch a {
	case AlgoAuto:
		return "auto"
	case Ring:
		return "ring"
	case Tree:
		return "tree"
	case HalvingDoubling:
		return "hd"
	case RecursiveDoubling:
		return "rd"
	case Torus:
		return "torus"
	case Hierarchical:
		return "hier"
	case Swing:
		return "swing"
	case MultiRing:
		return "multiring"
	}
	return fmt.Sprintf("algo(%d)", uint8(a))
}
