// Package rendezvous is Kizuna's rendezvous store: a small key-value store
// served over TCP that the ranks of a job use to find each other, in the
// manner of torch.distributed's TCPStore.
//
// One process runs a Server (Listen); every rank connects a Client (Dial).
// Every key lives in the client's namespace, normally the job id, so that
// jobs sharing one store never see each other's keys. Besides Set, Get,
// Delete, an atomic Add and CompareAndSet, a client can Wait for keys to
// exist: the server holds the request and answers when they do, without
// polling. Abort marks a namespace as failed, which fails every Wait in it at
// once. Join builds on these to gather the members of a communicator and to
// catch the usual launch mistakes (a rank with the wrong world size, two
// processes claiming one rank) on every rank at once.
//
// # Protocol
//
// A connection carries frames both ways: a big-endian uint32 length, then a
// msgpack body of that many bytes (at most MaxFrameSize). The client opens
// with a hello frame, the array [magic, version, Nc]; the server answers with
// [version, error] and closes the connection when the error is not empty, or
// else with [version, "", Ns, server proof]; the client answers with
// [client proof]. Nc and Ns are 32 random bytes from each side, and a proof
// is HMAC-SHA256, keyed with the job's token (WithToken, DialWithToken), of
// a context string, the sender's role ("server" or "client") and both
// nonces: each side proves it holds the token without sending it, a proof is
// good for one connection only, and the server's proof is no use as the
// client's. The client checks the server's proof first and fails Dial with
// ErrAuthFailed, without retrying, when it is wrong (sending an empty proof
// so the server knows why); the server closes a client whose proof is wrong,
// with a warning naming its address, and serves the others. Without a token
// on either side the exchange still runs, keyed with the empty token: a
// store and clients without one accept each other (and anyone else who can
// reach the port), and a side with a token refuses a side without. Then the
// client sends
// requests, each with an id, and the server answers each with a response
// carrying that id; the server answers requests in any order, so one
// connection carries many concurrent calls and a blocked Wait holds up
// nothing else. A Wait whose caller gives up is withdrawn with a cancel
// request, which the server answers with the keys still missing.
//
// The server bounds every length it reads (MaxKeySize, MaxValueSize,
// MaxKeysPerRequest, MaxFrameSize) before allocating for it, and closes, with
// a logged warning, any connection that sends an oversized, malformed or
// invalid frame; it goes on serving the others.
package rendezvous
