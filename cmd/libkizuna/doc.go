// Command libkizuna is Kizuna's C ABI: built with
//
//	go build -buildmode=c-shared -o libkizuna.so ./cmd/libkizuna
//
// it gives libkizuna.so and its header, libkizuna.h (Go names the header
// after the library), which a C, C++ or Python (ctypes) training framework
// links to run Kizuna's collectives on its own buffers. The header documents
// every function, constant and error code; this comment gives the
// contracts in brief.
//
// A process calls kz_init once, which connects this rank from the
// environment exactly as collective.NewFromEnv does under `kizuna run`,
// mpirun, srun or torchrun (outside any launcher it becomes a job of one
// rank). Then any number of kz_allreduce, kz_allgather, kz_reducescatter,
// kz_broadcast, kz_reduce, kz_alltoall, kz_barrier, kz_send and kz_recv
// calls, and finally kz_finalize. Every function returns 0 (KZ_SUCCESS) or
// a negative KZ_ERR_* code; kz_last_error returns the message of the
// calling thread's last failure, like errno (a success does not clear it).
// Calls before kz_init, after kz_finalize, or a second kz_init, fail with
// KZ_ERR_STATE; they never crash.
//
// Buffers: the library works on the caller's memory in place. It builds a
// Go slice over the C buffer (unsafe.Slice), which the cgo rules allow
// because Go never stores that slice anywhere that outlives the call: the
// communicator does not retain a caller's buffer after return. So no
// element is copied into Go memory on the way in or out, and the buffer
// must stay valid and untouched by other threads until the call returns.
//
// Threads: every function may be called from any thread. Collectives are
// serialised in the order they reach the library, so a program that issues
// them from several threads must order them identically on every rank
// itself; kz_send and kz_recv may run concurrently with collectives.
// kz_abort may be called from any thread to fail every pending call.
package main
