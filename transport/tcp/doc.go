// Package tcp is a transport.Endpoint over TCP sockets, one full mesh per job.
//
// # Setup
//
// Each rank calls Listen, publishes Listener.Addr through the rendezvous, and
// calls Connect with every rank's address. For each pair of ranks the lower
// rank dials the higher SocketsPerPeer times and the higher accepts. Every
// connection starts with a handshake of length-prefixed msgpack messages
// (hello, reply, confirm; see handshake.go) that checks the job id, the job
// size, both ranks, the sockets per peer and the socket index, so a stranger
// (another job, a port scanner, a misconfigured rank) is refused, logged with
// its address, and the listener goes on. Connect returns when every link is
// up, or an error naming the ranks still missing when its context ends. Every
// goroutine Connect starts has returned when it returns.
//
// # Authentication
//
// The same handshake authenticates both ends with Config.Token, the job's
// shared secret, without sending it: each side sends a fresh 32-byte random
// nonce and proves it holds the token with an HMAC-SHA256, keyed with the
// token, of a transcript that binds the prover's role (dialer or acceptor),
// the job id, both ranks, the job size, the socket index and count and both
// nonces. A proof is therefore good for one connection in one direction only:
// a recorded handshake cannot be replayed, nor the acceptor's proof reflected
// back as the dialer's. The acceptor proves first; a dialer that finds the
// proof wrong says so and fails Connect at once with ErrAuthFailed, and an
// acceptor that gets a wrong proof, or none, closes the connection with a
// warning naming its address and goes on accepting. No link is held for a
// dialer until it has proved itself, so a stranger that knows the job id
// cannot keep a rank out by starting handshakes in its name. Ranks without a
// token run the same exchange keyed with the empty token: they accept each
// other, and anyone else who can reach their ports. The handshake
// authenticates; it does not encrypt, so the frames that follow are neither
// secret nor protected from an attacker on the path between two ranks.
//
// # Frames
//
// A frame is the 64-byte binary header (transport.Header.MarshalTo) followed
// by the payload. Send writes both with one vectored write and no copy of
// the payload; concurrent Sends to one peer take one socket lock per frame,
// and with several sockets per peer frames go round-robin (the Mux matches by
// key, so their order does not matter). One reader goroutine per socket reads
// a header, validates it (a corrupt header, a source rank that is not the
// peer's, or a length over transport.MaxPayload is a protocol error), and
// calls Mux.DeliverFrom, which reads the payload straight into the posted
// receive buffer, or into pooled unexpected buffers taken as the bytes
// arrive. With ImplNet on Linux the reader reads up to 4 KiB at a frame
// boundary, so a small frame takes one read system call, and a goroutine
// waiting for a receive reads the socket itself for up to KIZUNA_TCP_SPIN
// before it sleeps, a large frame of its own straight into its buffer
// (fastpath.go). Socket reads and writes are non-blocking raw system calls. Readers never wait for the application, so a sender's writes block
// only while data is in flight; the memory held for frames that arrive
// before their receives is bounded by the protocol above, not here.
//
// # Failures and Close
//
// A read or write error, or a protocol error, fails the link to that peer:
// its receives fail with a *transport.PeerError (Mux.FailPeer), later Sends
// to it return one, and its sockets are shut down. A peer that closes cleanly
// fails its link only once every one of its sockets has reached the end of
// stream, so that frames it sent on other sockets before closing are still
// delivered. Close fails this rank's receives with transport.ErrClosed,
// half-closes every socket (peers read every frame already sent, then the
// end of stream, and close their side), waits up to two seconds for that,
// then closes everything and waits for every reader goroutine.
//
// # Environment
//
//	KIZUNA_BIND_ADDR        host or host:port to listen on (Config.BindAddr)
//	KIZUNA_IFNAME           else listen on this interface's first address
//	KIZUNA_SOCKETS_PER_PEER connections per pair of ranks (Config.SocketsPerPeer)
//	KIZUNA_TCP_IMPL         "net" or "netpoll" (Config.Impl)
//	KIZUNA_TCP_SPIN         inline read budget of a waiting rank (default 1ms when the
//	                        host's ranks each have a processor, else 100us; 0: off)
//
// Without them a rank listens on 127.0.0.1 with one socket per peer and the
// net implementation. Listen logs one info line with the address chosen and
// why.
//
// # net or netpoll
//
// Two socket implementations sit under the same framing (link.go):
//
//   - ImplNet, the standard library's net package (the Go runtime's own
//     epoll/kqueue poller). Reads go from the kernel straight into the posted
//     receive buffer.
//   - ImplNetpoll, github.com/cloudwego/netpoll (Linux, macOS, BSDs). Its
//     event loop reads every socket into netpoll's own LinkBuffer as data
//     arrives, and its API (Next, Peek, ReadBinary, Read) only hands out views
//     of, or copies from, that buffer: it cannot read a payload straight into
//     a caller's buffer, so every payload byte is copied once more (kernel ->
//     LinkBuffer -> receive buffer) and the LinkBuffer grows to hold it.
//     Writes are zero-copy for payloads over 4 KiB (WriteBinary links the
//     caller's slice, Flush sends with one sendmsg).
//
// Measured on loopback (AMD EPYC VM, 2 vCPUs, Linux, go1.26.8), medians of 3:
//
//	go test -run '^$' -bench . -benchtime 1s -count 3 ./transport/tcp/ ./transport/inproc/
//
//	one socket per peer      net                 netpoll
//	PingPong    8 B          23.0 us/round trip  24.4 us
//	PingPong   64 KiB        2.76 GB/s           2.32 GB/s
//	PingPong    4 MiB        3.21 GB/s           1.96 GB/s
//	Stream      8 B          7.0 us/frame        8.8 us
//	Stream     64 KiB        3.30 GB/s           2.54 GB/s
//	Stream      4 MiB        2.50 GB/s           2.00 GB/s
//	allocs/op                0                   0 (but ~140 KB/op of LinkBuffer at 4 MiB)
//
// (PingPong counts both directions' bytes; Stream keeps 16 receives posted
// ahead of the sender. A raw net.Conn ping-pong on the same machine, with no
// framing or matching, takes 14 us for 8 B and 3.0-3.2 GB/s for 4 MiB: the
// extra hop from the reader goroutine to the waiting goroutine costs most of
// the difference for small frames.) net was faster at every size, most of
// all for bulk data, so DefaultImpl is ImplNet. ImplNetpoll stays available
// (KIZUNA_TCP_IMPL=netpoll) and passes the same conformance suite, for
// comparison on machines with more cores, where its event loop may batch
// small frames better; ranks using different implementations interoperate.
//
// A general read-ahead buffer in front of the net socket (bufio, 4-32 KiB)
// saved a read per small frame (8 B round trip 20.8 us instead of 23 us) but
// slowed 64 KiB frames (49 us instead of 45 us per round trip), because it
// defeats reading straight into the receive buffer. The reader of
// fastpath.go (Linux) keeps both: it reads at most 4 KiB ahead at a frame
// boundary and reads the rest of a larger payload straight into the
// receive, so a bulk payload is copied once more for its first 4 KiB only.
//
// # Sockets per peer
//
// Same command, net implementation:
//
//	sockets per peer          1          2          4
//	PingPong  8 B             23.0 us    22.3 us    24.0 us
//	PingPong  4 MiB           3.21 GB/s  3.47 GB/s  2.64 GB/s
//	Stream    8 B             7.0 us     10.5 us    10.9 us
//	Stream   64 KiB           3.30 GB/s  2.80 GB/s  2.99 GB/s
//	Stream    4 MiB           2.50 GB/s  2.92 GB/s  2.84 GB/s
//
// On loopback more sockets only help large streamed frames, and cost small
// and medium ones (more reader goroutines, frames of one stream spread over
// sockets), so DefaultSocketsPerPeer is 1. On a real network where a single
// TCP flow cannot fill the link (one flow per NIC queue, per-flow shaping),
// try KIZUNA_SOCKETS_PER_PEER=2 or 4; that case was not measured.
//
// # Goroutines
//
// An endpoint runs one reader goroutine per socket, stopped and waited for by
// Close. With ImplNetpoll, netpoll's poller goroutines are process-wide: they
// start on first use and live as long as the process (tests ignore them, see
// transporttest.IgnoreGoroutines).
package tcp
