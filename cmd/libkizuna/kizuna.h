#ifndef KIZUNA_H
#define KIZUNA_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// ---------------------------------------------------------------------------
// kizuna.h: the C ABI of Kizuna, a collective-communication runtime.
//
// Build:  go build -buildmode=c-shared -o libkizuna.so ./cmd/libkizuna
//         (this header is cmd/libkizuna/kizuna.h; the libkizuna.h that Go
//         writes beside the library includes it and adds cgo internals)
// Link:   cc -I path/to/kizuna/cmd/libkizuna app.c -L. -lkizuna
//         (or dlopen / Python ctypes.CDLL, which need no header)
// Run:    kizuna run -np 4 -- ./app  (or mpirun, srun, torchrun)
//
// Life cycle: kz_init once per process, then any operations, then
// kz_finalize. A call before kz_init, after kz_finalize, or a second kz_init
// fails with KZ_ERR_STATE; it never crashes. A library that was finalized
// cannot be initialised again in the same process.
//
// Results: every int function returns KZ_SUCCESS (0) or a negative KZ_ERR_*
// code (kz_rank and kz_size return the value itself, or a negative code);
// kz_last_error() then explains the failure.
//
// Buffers: operations work on the caller's memory in place; no element is
// copied into the runtime's own memory on the way in or out, and no buffer is
// retained after a call returns. A buffer must stay valid, and no other thread
// may write it, until the call returns. Counts are numbers of elements of
// dtype, not bytes. In-place calls pass the same pointer as send and recv
// (kz_allgather: send is recv's own block, recv + rank*count elements;
// kz_reducescatter: recv is send's own block); other overlaps are
// KZ_ERR_INVALID.
//
// Threads: any function may be called from any thread. Collectives are
// serialised in the order they reach the library, so a program issuing them
// from several threads must order them the same way on every rank itself.
// kz_send and kz_recv may run concurrently with collectives and each other.
// kz_last_error is per thread.
//
// Collective calls must be issued in the same order on every rank, with the
// same count, dtype, op and root; a rank that differs gets KZ_ERR_MISMATCH
// (and so does every other rank), never a hang. No call waits longer than
// KIZUNA_TIMEOUT (default 10 minutes).
// ---------------------------------------------------------------------------

// Element types: the dtype argument. Half-precision values are stored as
// uint16_t bit patterns (IEEE 754 binary16 and bfloat16); they are reduced in
// float32 and rounded back once per reduction step.
enum kz_dtype {
	KZ_FLOAT32  = 0,
	KZ_FLOAT64  = 1,
	KZ_FLOAT16  = 2,
	KZ_BFLOAT16 = 3,
	KZ_INT8     = 4,
	KZ_UINT8    = 5,
	KZ_INT32    = 6,
	KZ_INT64    = 7
};

// Reduction operators: the op argument. KZ_AVG sums and divides by the number
// of ranks (integers truncate toward zero, as NCCL's ncclAvg). Integer
// overflow wraps around.
enum kz_op {
	KZ_SUM  = 0,
	KZ_PROD = 1,
	KZ_MIN  = 2,
	KZ_MAX  = 3,
	KZ_AVG  = 4
};

// Result codes. After any error other than KZ_ERR_INVALID and KZ_ERR_STATE
// the communicator is broken (peers may be at different points of the
// sequence): every later call fails at once with the same code, and
// kz_last_error says "communicator broken by an earlier failure: ..." and
// names the first failure. Every other rank is told and fails too.
enum kz_result {
	KZ_SUCCESS      = 0,
	KZ_ERR_INVALID  = -1, // bad argument (NULL buffer, unknown dtype or op, root or peer out of range, overlap); nothing was sent and the library stays usable
	KZ_ERR_STATE    = -2, // called before kz_init, after kz_finalize, or kz_init twice
	KZ_ERR_MISMATCH = -3, // ranks issued different collectives (or counts, dtypes, ops, roots) at the same point
	KZ_ERR_TIMEOUT  = -4, // the call outlived KIZUNA_TIMEOUT
	KZ_ERR_ABORTED  = -5, // kz_abort was called here or on another rank
	KZ_ERR_FAILED   = -6  // anything else: a peer was lost, a connection failed, kz_init could not connect
};

// kz_init connects this process to the other ranks of its job, as described
// by the environment: KIZUNA_RANK, KIZUNA_WORLD_SIZE, KIZUNA_MASTER_ADDR,
// KIZUNA_TOKEN ... as `kizuna run` sets them, or the variables of Open MPI,
// MPICH, Slurm, torchrun or a Kubernetes indexed Job. In a process that no
// launcher started it makes a job of one rank. It returns once every peer is
// connected. Every rank must call it.
int kz_init(void);

// kz_finalize closes the connections and ends the library's use in this
// process. It is not collective: it does not wait for other ranks, so call
// kz_barrier first if a rank must not leave before the others are done. An
// operation still running in another thread fails with KZ_ERR_STATE.
int kz_finalize(void);

// kz_rank returns this process's rank, 0 <= rank < kz_size(), or a negative
// KZ_ERR_* code.
int kz_rank(void);

// kz_size returns the number of ranks in the job, or a negative KZ_ERR_* code.
int kz_size(void);

// kz_allreduce reduces buf (count elements) over all ranks with op and leaves
// the result in buf on every rank. Every rank gets bitwise-identical results.
int kz_allreduce(void *buf, size_t count, int dtype, int op);

// kz_allreduce_into is the out-of-place kz_allreduce: it reduces send over all
// ranks into recv (count elements each). send == recv is the in-place call.
int kz_allreduce_into(const void *send, void *recv, size_t count, int dtype, int op);

// kz_reduce reduces send (count elements) over all ranks into recv on rank
// root only; other ranks may pass recv = NULL.
int kz_reduce(const void *send, void *recv, size_t count, int dtype, int op, int root);

// kz_broadcast copies root's buf (count elements) into buf on every rank.
int kz_broadcast(void *buf, size_t count, int dtype, int root);

// kz_allgather concatenates every rank's send (count elements) into recv
// (kz_size()*count elements) in rank order. In place: send == recv +
// kz_rank()*count elements.
int kz_allgather(const void *send, void *recv, size_t count, int dtype);

// kz_reducescatter reduces send (kz_size()*recvcount elements) over all ranks
// with op and leaves block kz_rank() of the result (recvcount elements) in
// recv. In place: recv == send + kz_rank()*recvcount elements.
int kz_reducescatter(const void *send, void *recv, size_t recvcount, int dtype, int op);

// kz_alltoall sends block j of send (count elements per block, kz_size()
// blocks) to rank j and stores the block from rank j in block j of recv.
// send == recv is the in-place call.
int kz_alltoall(const void *send, void *recv, size_t count, int dtype);

// kz_barrier returns once every rank has entered it.
int kz_barrier(void);

// The first tag reserved for the runtime (kz_send, kz_recv).
#define KZ_RESERVED_TAGS 0xFFFF0000u

// kz_send sends count elements of buf to rank peer with tag. It returns once
// buf may be reused. Messages between two ranks with the same tag arrive in
// the order sent. Tags from KZ_RESERVED_TAGS (0xFFFF0000) up belong to the
// runtime: KZ_ERR_INVALID.
int kz_send(const void *buf, size_t count, int dtype, int peer, uint32_t tag);

// kz_recv receives into buf the next message that rank peer sent with tag;
// it must have exactly count elements of dtype.
int kz_recv(void *buf, size_t count, int dtype, int peer, uint32_t tag);

// kz_abort fails every pending and later operation, on this rank and (best
// effort) on every other rank, with KZ_ERR_ABORTED. It may be called from any
// thread, for example by a watchdog; kz_finalize must still be called.
// During kz_init it stops the connecting instead: kz_init then fails with
// KZ_ERR_ABORTED, and the library is as before kz_init.
int kz_abort(void);

// kz_last_error returns the message of the calling thread's most recent
// failed call, or "" if none failed. Like errno, a successful call does not
// clear it. The library owns the string: the thread's next failing call
// overwrites it, and it is freed when the thread exits.
const char *kz_last_error(void);

// kz_strerror returns the name of a result code ("KZ_ERR_MISMATCH", ...), a
// static string.
const char *kz_strerror(int code);

// kz_version returns the library's version ("kizuna v1.2.3" or
// "kizuna devel-<revision>"), a static string.
const char *kz_version(void);

#ifdef __cplusplus
}
#endif

#endif // KIZUNA_H
