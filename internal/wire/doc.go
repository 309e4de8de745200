// Package wire holds the pieces of Kizuna's length-prefixed msgpack
// protocols that do not depend on their messages: a frame is a big-endian
// uint32 length followed by a msgpack body of that many bytes. FrameReader
// reads frames, FrameWriter encodes them (EncodeStrings and EncodeValues
// write lists), and Decoder decodes a body held in memory. The protocols themselves (the agent protocol of internal/launch,
// the rendezvous store's) keep their message types and their limits.
//
// # Bounds
//
// Nothing read from the wire is trusted: every frame length, array length,
// and str or bin length is checked against a limit given by the caller, and
// every array or byte length also against the bytes left in the frame,
// before anything is allocated for it. A hostile or corrupt peer gets an
// error, never a panic or an allocation much larger than the bytes it sent:
// FrameReader grows its buffer with the bytes that arrive, not with the
// length a frame announces.
//
// # Concurrency
//
// A FrameReader, FrameWriter or Decoder is owned by one goroutine (or used
// under its owner's lock); none may be used concurrently. The slices they
// return are valid until the next call on the same value unless their doc
// comment says otherwise.
package wire
