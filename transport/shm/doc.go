// Package shm is the shared-memory transport for ranks on one host: for
// each ordered pair of ranks, a single-producer single-consumer ring buffer
// in a memory-mapped file carries that direction's frames.
//
// # Segments
//
// The receiving rank of each direction creates its segment,
// <Dir>/kizuna-<job>-<nonce>-<src>-<dst>, with O_EXCL and mode 0600, where
// the nonce is an HMAC of the receiver's unique id (Config.IDs) keyed with
// the job token, so the name cannot be guessed by anyone without the token.
// The sending rank opens it, checks the creator's proof (an HMAC-SHA256 of
// the segment name and the creator's process identity, keyed with the
// token), writes its own proof, and unlinks the file; the creator accepts
// the link only after checking the sender's proof. Once both sides have
// mapped a segment it has no name left, so nothing stays behind in /dev/shm
// whatever happens to the processes afterwards (SIGKILL included); Close and
// a failed Connect unlink whatever they created that is still named.
//
// # Rings
//
// A segment is a 4 KiB control page followed by the ring. The producer's
// position (head) and the consumer's (tail) are byte counters that only grow,
// each on its own pair of cache lines, read and written with sync/atomic on
// the mapped memory. A frame is the 64-byte transport.Header followed by its
// payload, written into the ring as one byte stream that wraps at its end.
// The producer publishes head after every piece it copies (PublishBytes at
// most), so the consumer starts copying a large payload before it is all
// written, and a payload larger than the ring streams through it. The
// consumer goroutine of each incoming ring reads a header, and hands the
// payload to the Mux with DeliverFrom, whose reads copy straight from the
// ring into the posted receive buffer: one copy from the sender's buffer to
// the ring, one from the ring to the receiver's. A collective frame whose
// receive is not posted yet, for an operation this rank has started, waits
// in the ring up to 200 microseconds for it (a peer one step ahead), so
// that it is not copied through an unexpected buffer as well.
//
// The producer copies pieces of 16 KiB or more with ordinary stores, or
// with non-temporal ones that write around the caches, whichever is faster
// at the time (copy.go, Config.Copy, KIZUNA_SHM_COPY): an ordinary store
// to a ring line must first take it from the consumer's processor, which
// read it the last time round the ring, and where the two processors are
// far apart (a virtual machine's vCPUs on different dies) that made the
// producer's copy five times slower than the consumer's. It times an
// ordinary copy now and then, and uses non-temporal stores while they run
// below 5 GB/s.
//
// A receiver about to block in Mux.Wait first reads its peer's ring itself
// for up to a millisecond (inline reads, Config.Inline and
// KIZUNA_SHM_INLINE): when the next frame there is its own, it copies it
// into its buffer on its own goroutine, which saves the reader goroutine's
// hand-off to it through the Go scheduler. The reader goroutine and inline
// readers take turns on a ring under a lock held per frame. Inline reads are
// on by default, and only where the endpoint links every other rank.
//
// # Waiting
//
// A side that finds the ring empty (consumer) or full (producer) checks the
// other side's counter a few times, then yields its processor, to the other
// goroutines of its process and (sched_yield) to other processes, for up to
// a millisecond within an operation and 100 microseconds for a reader
// goroutine between frames (ring.go), then sleeps on its doorbell, after
// setting a waiting flag that the other side checks after each
// publication to know it must ring it. In a process with GOMAXPROCS=1, a
// reader goroutine yields only to its own process's goroutines while a
// receiver of the process reads inline: that receiver, on the same thread,
// yields to other processes itself. No side spins
// without yielding where ranks share processors: with more ranks than
// cores, spinning starves the rank that would make progress, while a
// sleep costs a wake-up. A sleeping side wakes at least every WakeInterval to check whether the link
// was closed, the peer process exited, or (for a sender) its context ended.
//
// Each ring has two doorbells, one per side: named pipes (FIFOs) created
// next to the segment (same secret name plus ".c" or ".p", mode 0600),
// opened by both processes and unlinked with it. A sleeper reads a byte
// from its bell with a deadline through the Go runtime's netpoller, so it
// parks like a goroutine waiting on a socket and holds no P (Go's
// processor) while it sleeps; the other side writes a byte per sleeper. (A
// futex sleep, used before, keeps its P for the whole system call, so a
// process needed more Ps than sleeping readers; the doorbells leave
// GOMAXPROCS to the user or the launcher.) Elsewhere than on Linux a
// sleeping side polls its counter every 50 microseconds instead.
//
// # Failure
//
// Close marks every ring closed from its side and wakes the other side: a
// consumer reads every frame sent before the close and then fails the peer,
// like a TCP end of stream. A peer process that exits (killed or crashed) is
// detected by its pid and start time, read from /proc at every wake-up, so
// receives from it and sends to it fail with a *transport.PeerError naming
// it within WakeInterval. A Send whose context ends while it waits for
// room fails with the context's error; if part of the frame was written, the
// link is failed, as TCP's is.
package shm
