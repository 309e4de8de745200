// Package collective is Kizuna's communicator: all-reduce, broadcast,
// reduce, all-gather, reduce-scatter, all-to-all, gather, scatter, barrier
// and tagged point-to-point messages among Size ranks, over any transport.
//
// # Creating a communicator
//
// From an explicit Config (New), from KIZUNA_* environment variables
// (NewFromEnv: KIZUNA_RANK, KIZUNA_WORLD_SIZE, KIZUNA_LOCAL_RANK,
// KIZUNA_LOCAL_WORLD_SIZE, KIZUNA_MASTER_ADDR, KIZUNA_JOB_ID, KIZUNA_TOKEN,
// KIZUNA_TIMEOUT, KIZUNA_ALGO, KIZUNA_CHUNK_BYTES, KIZUNA_COSTS,
// KIZUNA_TRANSPORT, KIZUNA_EXTERNAL_STORE, KIZUNA_LOG; without KIZUNA_RANK,
// the variables of Open MPI, MPICH/Intel MPI, PMIx, Slurm, torchrun or a
// Kubernetes indexed Job, see launchers.go), or as n goroutine ranks in one
// process (NewLocal, RunLocal) over the in-process transport, or real TCP on
// loopback or shared memory as separate processes would use them.
//
// Ranks meet at a rendezvous store (package rendezvous) served at
// KIZUNA_MASTER_ADDR by rank 0 (or by a launcher, KIZUNA_EXTERNAL_STORE=1),
// namespaced by KIZUNA_JOB_ID; each publishes its listen address and host
// and then connects to every peer. The transport is chosen per peer, in
// order (KIZUNA_TRANSPORT=auto, the default): shared-memory rings (package
// transport/shm) to the ranks on this host, TCP to the others, behind one
// endpoint (Comm.Transport says "shm", "tcp" or "shm+tcp");
// KIZUNA_TRANSPORT=tcp or shm forces one medium (shm needs every rank on one
// host), and inproc is for goroutine ranks. Every connection, to the store
// and between ranks, is authenticated with KIZUNA_TOKEN by an HMAC-SHA256
// challenge-response; shared-memory segment names derive from the token and
// both sides of a segment prove they hold it.
//
// # Operations
//
// Each operation has a typed generic form (AllReduce[T], ...) and a raw form
// on bytes plus a DType (Comm.AllReduceBytes, ...). Passing the same buffer
// as send and receive buffer (or, for AllGather/Gather, the send buffer as
// the receive buffer's own block; for ReduceScatter/Scatter the reverse) is
// an in-place call. Any element count works: not divisible by Size, smaller
// than Size, or zero. The communicator never retains a caller's buffer after
// the call returns.
//
// # Algorithms
//
// Every operation runs a pure schedule (package schedule) through one
// executor. Ring exists for every operation; Tree (pipelined double binary
// tree) for AllReduce, Broadcast and Reduce; HalvingDoubling (Rabenseifner)
// and RecursiveDoubling for AllReduce. A cost model (alpha-beta-gamma per
// transport, KIZUNA_COSTS to override) picks one per call; KIZUNA_ALGO
// (Config.Algo) restricts the choice with NCCL_ALGO's grammar ("ring",
// "allreduce:tree;ring", "^tree"); WithAlgo forces one for a single call.
//
// # Numerics and determinism
//
// Float16 and bfloat16 are reduced in float32 and rounded back once per
// reduction step (each time a received block is combined into a local one),
// so a result may differ in the last bit from a single float32 reduction.
// Avg sums and then divides by Size; integer Avg truncates toward zero, as
// NCCL's does. Integer overflow wraps.
//
// AllReduce gives every rank bitwise-identical results with every algorithm:
// Ring, Tree and HalvingDoubling compute each element once, on one rank, and
// copy it to the others; RecursiveDoubling has both partners of every
// exchange compute a op b, which is the same bits as b op a because each op
// is commutative element by element. Results depend only on (algorithm,
// Size, count, chunk size): the same call gives the same bits on every run.
// Different algorithms may associate a floating-point sum differently, so
// they may differ from each other in the last bits; for exact comparisons
// pin the algorithm with KIZUNA_ALGO or WithAlgo.
//
// # Errors
//
// Local misuse returns ErrInvalid at once. Ranks that call different
// operations (collective, count, dtype, op, root or algorithm) at the same
// point get ErrMismatch, with a *MismatchError naming which rank called
// what: the rank that sees the conflicting frame fails at once and tells
// every other rank, so every rank's pending operation fails; a rank that
// had already finished its part (a broadcast root, say) gets the error
// from its next call. A lost peer fails the operations that need it with an
// error naming its rank, and every other rank is told. Nothing waits past
// Config.Timeout (KIZUNA_TIMEOUT, default 10 minutes) or the caller's
// context. Any such failure breaks the communicator: later calls return
// ErrBroken wrapping the first failure.
//
// A peer is lost when its connection breaks, its process exits (shared
// memory checks the pid), or nothing arrives from it for two heartbeat
// intervals (Config.Heartbeat, KIZUNA_HEARTBEAT, default 2s: an idle TCP
// link carries a heartbeat frame every interval, and over shared memory the
// waiting rank sees the peer's process stopped), so a stopped or hung
// process is caught without waiting for the operation timeout. A lost
// peer breaks at once every communicator it belongs to, whether or not an
// operation is pending, and every other member is told: every pending and
// later operation on every surviving rank fails with an error naming the
// lost rank (a *RemoteError with Lost set, or a *transport.PeerError).
// Abort, from any goroutine, fails every pending and later operation of
// the communicator and of those split from it (blocking, asynchronous,
// Send and Recv) with ErrAborted at once.
//
// To go on without the lost ranks, every survivor calls Shrink on the
// broken communicator: the survivors agree on the failed set and get a new
// communicator of the survivors, renumbered densely in their old order
// (like ULFM's MPI_Comm_shrink). With Config.Checksum (KIZUNA_CHECKSUM=
// crc32c) every data frame carries the CRC-32C of its payload, checked
// before anything is reduced: a corrupted payload fails with ErrCorrupt
// naming the peer and the operation instead of entering the result.
//
// # Process groups
//
// Comm.Split divides a communicator like MPI_Comm_split (ranks with the same
// color, ordered by key; NoColor opts out), and NewMesh builds the
// tensor-, data- and pipeline-parallel groups of a TP x DP x PP layout in
// one call. A split communicator shares its parent's connections; it has
// its own operation sequence, failures and asynchronous stream, and
// closes with its parent.
//
// # Asynchronous operations and per-rank counts
//
// Every collective has an asynchronous form (AllReduceAsync,
// Comm.AllReduceBytesAsync, ...) returning a *Handle with Wait(ctx), Done
// and Err; its buffers belong to the runtime until it is done. AllGatherV and
// ReduceScatterV take per-rank counts. Package bucket fuses gradient
// all-reduces into buckets; package tensor shards tensors along any
// dimension and gathers them back across ranks.
//
// # Diagnosis
//
// Every communicator keeps a flight recorder: its last Config.FlightSize
// operations (KIZUNA_FLIGHT_SIZE, default 1024) in a ring allocated once,
// each with its sequence number, kind, size, dtype, algorithm, state, times
// and, while it runs, the step it is in and the peer it is blocked on.
// Comm.Flight returns it; it is written as JSON into Config.FlightDir
// (KIZUNA_FLIGHT_DIR) when an operation times out and, for communicators
// made by NewFromEnv, on SIGUSR1, and served at /debug/flight. On its
// --timeout, `kizuna run` collects every rank's record and prints which rank
// waits in which operation for whom. Config.MetricsAddr
// (KIZUNA_METRICS_ADDR) serves Prometheus metrics from a registry of the
// communicator's own (Comm.Metrics): latency histograms by operation and
// algorithm, bytes sent and received per peer, errors by kind, operations in
// flight, connection states. Config.Timeline (KIZUNA_TIMELINE) writes a
// Chrome trace per rank at Close. Recording allocates nothing per
// operation, except the timeline's events.
//
// # Memory
//
// Repeating an operation on the same buffers allocates nothing in the
// runtime (over shm, the readers' liveness check of an idle peer still
// does; docs/performance.md). Each
// communicator (a split one too) keeps an executor whose memory is the high
// water mark of what its operations needed, until Close:
//
//	scratch <= N    staging <= 4·min(C, N)
//
// bytes, where N is the largest per-call vector it has run (count·element
// size for AllReduce, Broadcast and Reduce; Size·block·element size for the
// block collectives) and C is Config.ChunkBytes. Most calls need less:
// AllReduce with Ring, Tree or HalvingDoubling and every Broadcast and
// AllGather use no scratch, and staging is 2·C (4·C under a tree node with
// two children). The transports add frames that arrive before their receive
// is posted, in pooled buffers, at most about
// transport.DefaultHoldLimit (64 MiB) per peer that runs ahead, and fixed
// buffers: 2·KIZUNA_SHM_RING_BYTES of mapped rings per same-host peer and
// 16 KiB per TCP socket. docs/performance.md ("Memory") has the whole sum
// and measurements.
//
// # Concurrency
//
// Collective calls on one Comm are serialised and must be issued in the same
// order on every rank. Asynchronous operations on one Comm run in the order
// issued, one at a time, on a goroutine the Comm owns (Close stops it); a
// synchronous call made while some are pending runs after them. Different
// Comms (a parent and its splits) progress independently. Send and Recv may
// run concurrently with collectives and with each other; messages between
// two ranks with the same tag match in the order sent. Close and Abort may
// be called from any goroutine.
package collective
