// Package transporttest is the conformance suite that every
// transport.Endpoint implementation passes, and shared benchmarks.
//
// An implementation's tests call Run with a function that builds size
// connected endpoints; the suite checks delivery of frames of many sizes to
// receives posted before and after arrival, matching by key under
// concurrency, length errors without overruns, cancellation, peer failure,
// communicator failure and mismatch detection, control frames, and that
// Close leaves no goroutine behind. BenchPingPong and BenchStream measure an
// implementation the same way as every other.
package transporttest
