package main

/*
#include "kizuna.h"

// Internal: the Go functions behind the kz_* functions above are declared
// below as kzgo_*; call the kz_* functions, never the kzgo_* ones.
void kzgo_set_error(const char *msg, size_t n);
*/
import "C"

import (
	"context"
	"unsafe"
)

// The C enums and the Go values in abi.go must agree: each line indexes a
// one-element array with their difference, which fails to compile unless it
// is 0.
var (
	_ = [1]int{}[C.KZ_FLOAT32-0]
	_ = [1]int{}[C.KZ_FLOAT64-1]
	_ = [1]int{}[C.KZ_FLOAT16-2]
	_ = [1]int{}[C.KZ_BFLOAT16-3]
	_ = [1]int{}[C.KZ_INT8-4]
	_ = [1]int{}[C.KZ_UINT8-5]
	_ = [1]int{}[C.KZ_INT32-6]
	_ = [1]int{}[C.KZ_INT64-7]
	_ = [1]int{}[len(dtypes)-8]
	_ = [1]int{}[C.KZ_SUM-0]
	_ = [1]int{}[C.KZ_PROD-1]
	_ = [1]int{}[C.KZ_MIN-2]
	_ = [1]int{}[C.KZ_MAX-3]
	_ = [1]int{}[C.KZ_AVG-4]
	_ = [1]int{}[len(ops)-5]
	_ = [1]int{}[C.KZ_SUCCESS-codeSuccess]
	_ = [1]int{}[C.KZ_ERR_INVALID-codeInvalid]
	_ = [1]int{}[C.KZ_ERR_STATE-codeState]
	_ = [1]int{}[C.KZ_ERR_MISMATCH-codeMismatch]
	_ = [1]int{}[C.KZ_ERR_TIMEOUT-codeTimeout]
	_ = [1]int{}[C.KZ_ERR_ABORTED-codeAborted]
	_ = [1]int{}[C.KZ_ERR_FAILED-codeFailed]
)

// result turns err into a result code, recording its message, prefixed
// with the C function's name, as the calling thread's last error. The
// message is passed as a pointer into Go memory that holds no Go pointers
// and that C copies before returning, as the cgo rules allow.
func result(fn string, err error) C.int {
	if err == nil {
		return C.KZ_SUCCESS
	}
	msg := fn + ": " + err.Error()
	C.kzgo_set_error((*C.char)(unsafe.Pointer(unsafe.StringData(msg))), C.size_t(len(msg)))
	return C.int(classify(err))
}

// value returns v, or the error's code when err is not nil.
func value(fn string, v int, err error) C.int {
	if err != nil {
		return result(fn, err)
	}
	return C.int(v)
}

// The exported functions run on the C caller's thread (cgo locks the
// callback to it), so the thread-local error that result sets belongs to
// that caller.

//export kzgo_init
func kzgo_init() C.int { return result("kz_init", initialize(context.Background())) }

//export kzgo_finalize
func kzgo_finalize() C.int { return result("kz_finalize", finalize()) }

//export kzgo_rank
func kzgo_rank() C.int { v, err := rank(); return value("kz_rank", v, err) }

//export kzgo_size
func kzgo_size() C.int { v, err := size(); return value("kz_size", v, err) }

//export kzgo_allreduce
func kzgo_allreduce(send, recv unsafe.Pointer, count C.size_t, dtype, op C.int) C.int {
	return result("kz_allreduce", allReduce(context.Background(), send, recv, uint64(count), int(dtype), int(op)))
}

//export kzgo_reduce
func kzgo_reduce(send, recv unsafe.Pointer, count C.size_t, dtype, op, root C.int) C.int {
	return result("kz_reduce", reduceTo(context.Background(), send, recv, uint64(count), int(dtype), int(op), int(root)))
}

//export kzgo_broadcast
func kzgo_broadcast(buf unsafe.Pointer, count C.size_t, dtype, root C.int) C.int {
	return result("kz_broadcast", broadcast(context.Background(), buf, uint64(count), int(dtype), int(root)))
}

//export kzgo_allgather
func kzgo_allgather(send, recv unsafe.Pointer, count C.size_t, dtype C.int) C.int {
	return result("kz_allgather", allGather(context.Background(), send, recv, uint64(count), int(dtype)))
}

//export kzgo_reducescatter
func kzgo_reducescatter(send, recv unsafe.Pointer, recvCount C.size_t, dtype, op C.int) C.int {
	return result("kz_reducescatter", reduceScatter(context.Background(), send, recv, uint64(recvCount), int(dtype), int(op)))
}

//export kzgo_alltoall
func kzgo_alltoall(send, recv unsafe.Pointer, count C.size_t, dtype C.int) C.int {
	return result("kz_alltoall", allToAll(context.Background(), send, recv, uint64(count), int(dtype)))
}

//export kzgo_barrier
func kzgo_barrier() C.int { return result("kz_barrier", barrier(context.Background())) }

//export kzgo_send
func kzgo_send(buf unsafe.Pointer, count C.size_t, dtype, peer C.int, tag C.uint32_t) C.int {
	return result("kz_send", send(context.Background(), buf, uint64(count), int(dtype), int(peer), uint32(tag)))
}

//export kzgo_recv
func kzgo_recv(buf unsafe.Pointer, count C.size_t, dtype, peer C.int, tag C.uint32_t) C.int {
	return result("kz_recv", recv(context.Background(), buf, uint64(count), int(dtype), int(peer), uint32(tag)))
}

//export kzgo_abort
func kzgo_abort() C.int { return result("kz_abort", abort()) }

// kzgo_version copies the version text, NUL-terminated, into buf (n
// bytes); kz_version calls it once.
//
//export kzgo_version
func kzgo_version(buf *C.char, n C.size_t) {
	if n == 0 {
		return
	}
	dst := unsafe.Slice((*byte)(unsafe.Pointer(buf)), int(n))
	k := copy(dst[:len(dst)-1], version())
	dst[k] = 0
}

func main() {}
