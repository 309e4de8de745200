// Package reduce defines the element types (DType) and reduction operations
// (Op) of Kizuna's collectives, and the kernels that combine buffers of them.
//
// # Wire values and byte order
//
// The numeric values of DType and Op travel in frame headers and never
// change. Values read from the wire must be checked with Valid before use:
// every other function here panics on an invalid DType or Op, since passing
// one is a programming error.
//
// Buffers are []byte holding elements in the wire's byte order,
// little-endian. Kizuna assumes a little-endian host (amd64, arm64, riscv64,
// ...) for zero copy: there Apply and Finish reinterpret aligned buffers in
// place as typed slices, and AsBytes turns a typed Go slice into wire bytes
// without copying. Misaligned buffers, or any buffer on a big-endian host, go
// through a slower portable path that copies through aligned stack arrays
// (with encoding/binary on a big-endian host); the results are the same bits.
// AsBytes shows host order, so on a big-endian host its bytes are not wire
// bytes.
//
// # Numerical guarantees
//
// Sum, Prod, Min and Max combine two buffers element-wise; Avg combines like
// Sum, and Finish divides by the number of contributions at the end. A
// reduction over p ranks is p-1 calls of Apply plus one of Finish, and
// Reference is the sequential oracle for it.
//
//   - Float16 and BFloat16 are computed in float32: each Apply widens both
//     operands, combines them, and rounds back to the half type once, to
//     nearest with ties to even. So each reduction step rounds once, as if
//     the half type had its own arithmetic: float32 carries more than twice
//     the precision of either half type, so the rounded result equals the
//     correctly rounded exact sum or product. The same holds for Finish's
//     division. A reduction over p ranks rounds p-1 times, and its result
//     depends on the association order, as for any floating-point type.
//   - Min and Max return NaN if either operand is NaN (which NaN is not
//     specified), and order -0 below +0: Min(-0, +0) = -0, Max(-0, +0) = +0.
//     They are exact, so their result does not depend on association order.
//   - Integer Sum, Prod and Avg wrap around on overflow (two's complement),
//     like NCCL; Avg divides the wrapped sum, truncating toward zero.
//
// # Concurrency and buffers
//
// Every function is safe for concurrent use as long as no buffer being
// written is read or written by another call at the same time. No function
// retains a slice passed to it after it returns. Apply and Finish do not
// allocate, except that the first Float16 call builds a 256 KiB table of
// float16-to-float32 conversions, once per process.
//
// # Test data
//
// Fill generates per-rank data for which every association order of a
// reduction over up to 64 ranks gives exactly Reference's bits, so that
// algorithms that combine in different orders can be compared with Equal.
// Format prints one element for error messages.
package reduce
