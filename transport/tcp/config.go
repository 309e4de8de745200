package tcp

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// Environment variables read when the corresponding Config field is zero.
const (
	EnvBindAddr       = "KIZUNA_BIND_ADDR"        // host or host:port to listen on
	EnvIfName         = "KIZUNA_IFNAME"           // interface whose address to listen on
	EnvSocketsPerPeer = "KIZUNA_SOCKETS_PER_PEER" // connections per pair of ranks
	EnvImpl           = "KIZUNA_TCP_IMPL"         // "net" or "netpoll"
	EnvHeartbeat      = "KIZUNA_HEARTBEAT"        // heartbeat interval (a Go duration; "off" or 0 for none)
)

// DefaultHeartbeat is the heartbeat interval when neither Config.Heartbeat
// nor KIZUNA_HEARTBEAT sets it: a peer silent for two intervals (4 s) is
// declared lost.
const DefaultHeartbeat = 2 * time.Second

// minHeartbeat bounds the interval from below: each interval costs a wakeup
// of the heartbeat goroutine four times and a frame per idle peer.
const minHeartbeat = 10 * time.Millisecond

// Socket implementations (Config.Impl).
const (
	// ImplNet uses the standard library's net package: one reader goroutine
	// per socket reads each payload straight into the posted receive buffer.
	ImplNet = "net"
	// ImplNetpoll uses github.com/cloudwego/netpoll (Linux, macOS and the
	// BSDs): its event loop reads into its own buffers, and the payload is
	// copied from there into the posted receive buffer.
	ImplNetpoll = "netpoll"
)

// DefaultImpl is the implementation used when neither Config.Impl nor
// KIZUNA_TCP_IMPL names one. See the package documentation for the
// measurements behind the choice.
const DefaultImpl = ImplNet

// DefaultSocketsPerPeer is the number of connections per pair of ranks when
// neither Config.SocketsPerPeer nor KIZUNA_SOCKETS_PER_PEER sets it. See the
// package documentation for the measurements behind the choice.
const DefaultSocketsPerPeer = 1

// maxSocketsPerPeer bounds SocketsPerPeer (and what a peer may announce).
const maxSocketsPerPeer = 64

// Config configures one rank's TCP endpoint.
type Config struct {
	Rank, Size int
	// BindAddr is host:port or host to listen on; port 0 or no port means
	// any free port. Default: KIZUNA_BIND_ADDR, else the first address of
	// the interface KIZUNA_IFNAME, else "127.0.0.1" (loopback). The host
	// is also what peers dial, so it must be an address they can reach
	// (not 0.0.0.0) when ranks run on several machines.
	BindAddr string
	// SocketsPerPeer is the number of connections between each pair of
	// ranks; frames are spread over them round-robin. Default:
	// KIZUNA_SOCKETS_PER_PEER, else DefaultSocketsPerPeer. Every rank of a
	// job must use the same value.
	SocketsPerPeer int
	// JobID is sent in the handshake; a connection from a peer with another
	// job id is refused.
	JobID string
	// Token is the job's shared secret. Every connection proves, both ways,
	// that its two ends hold the same token (an HMAC-SHA256
	// challenge-response in the handshake; the token itself is never sent),
	// so a peer with another token, or none, is refused. "" means no secret:
	// ranks without a token connect to each other, and to anyone else who
	// can reach the port. Every rank of a job must use the same value.
	Token string
	// Impl is ImplNet or ImplNetpoll. Default: KIZUNA_TCP_IMPL, else
	// DefaultImpl. Ranks may differ: the wire format is the same.
	Impl string
	// Heartbeat is the heartbeat interval: a link idle for half of it
	// carries a heartbeat frame, and a peer from which nothing arrives for
	// two intervals while this rank waits on it (a stopped or hung process,
	// a cut cable) is failed with transport.ErrSilent. Default:
	// KIZUNA_HEARTBEAT, else DefaultHeartbeat; negative turns heartbeats
	// off (KIZUNA_HEARTBEAT=off or 0). Ranks may differ, but a rank with
	// heartbeats off may be declared silent by one with them on while idle.
	Heartbeat time.Duration
	// LocalRanks is the number of the job's ranks on this host, 0 if
	// unknown. It picks the default inline read budget (KIZUNA_TCP_SPIN):
	// DefaultSpinDedicated when every rank has a processor of its own,
	// else DefaultSpin.
	LocalRanks int
	// Logger receives one info line about the chosen bind address, a
	// warning for each refused connection, and errors about lost links.
	// Default slog.Default().
	Logger *slog.Logger
}

// resolved is a Config with defaults applied.
type resolved struct {
	Config
	bindSource string // why BindAddr was chosen, for the log
}

func resolve(cfg Config) (resolved, error) {
	r := resolved{Config: cfg}
	if cfg.Size < 1 || cfg.Rank < 0 || cfg.Rank >= cfg.Size {
		return r, fmt.Errorf("tcp: rank %d out of range for size %d", cfg.Rank, cfg.Size)
	}
	if r.Logger == nil {
		r.Logger = slog.Default()
	}
	addr, source, err := chooseBindAddr(cfg.BindAddr)
	if err != nil {
		return r, err
	}
	r.BindAddr, r.bindSource = addr, source

	if r.SocketsPerPeer == 0 {
		r.SocketsPerPeer = DefaultSocketsPerPeer
		if v := os.Getenv(EnvSocketsPerPeer); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil {
				return r, fmt.Errorf("tcp: %s=%q: %w", EnvSocketsPerPeer, v, err)
			}
			r.SocketsPerPeer = n
		}
	}
	if r.SocketsPerPeer < 1 || r.SocketsPerPeer > maxSocketsPerPeer {
		return r, fmt.Errorf("tcp: sockets per peer %d out of range [1,%d]", r.SocketsPerPeer, maxSocketsPerPeer)
	}

	if r.Heartbeat == 0 {
		hb, err := HeartbeatFromEnv()
		if err != nil {
			return r, err
		}
		r.Heartbeat = hb
	}
	if r.Heartbeat > 0 && r.Heartbeat < minHeartbeat {
		return r, fmt.Errorf("tcp: heartbeat interval %v is below %v", r.Heartbeat, minHeartbeat)
	}

	if r.Impl == "" {
		r.Impl = os.Getenv(EnvImpl)
	}
	if r.Impl == "" {
		r.Impl = DefaultImpl
	}
	switch r.Impl {
	case ImplNet:
	case ImplNetpoll:
		if !netpollSupported {
			return r, fmt.Errorf("tcp: implementation %q is not supported on this system", ImplNetpoll)
		}
	default:
		return r, fmt.Errorf("tcp: unknown implementation %q (want %q or %q)", r.Impl, ImplNet, ImplNetpoll)
	}
	return r, nil
}

// chooseBindAddr returns the host:port to listen on and where it came from.
func chooseBindAddr(cfgAddr string) (addr, source string, err error) {
	switch {
	case cfgAddr != "":
		addr, source = cfgAddr, "config"
	case os.Getenv(EnvBindAddr) != "":
		addr, source = os.Getenv(EnvBindAddr), "env "+EnvBindAddr
	case os.Getenv(EnvIfName) != "":
		name := os.Getenv(EnvIfName)
		ip, err := interfaceAddr(name)
		if err != nil {
			return "", "", fmt.Errorf("tcp: %s=%s: %w", EnvIfName, name, err)
		}
		addr, source = ip.String(), "env "+EnvIfName+" (interface "+name+")"
	default:
		addr, source = "127.0.0.1", "default (loopback)"
	}
	return withPort(addr), source, nil
}

// withPort adds port 0 to a bare host (including a bare IPv6 literal).
func withPort(addr string) string {
	if _, _, err := net.SplitHostPort(addr); err == nil {
		return addr
	}
	return net.JoinHostPort(strings.Trim(addr, "[]"), "0")
}

// interfaceAddr returns the first IPv4 address of the interface, else its
// first global IPv6 address.
func interfaceAddr(name string) (net.IP, error) {
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return nil, err
	}
	addrs, err := ifi.Addrs()
	if err != nil {
		return nil, err
	}
	var v6 net.IP
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		if ip4 := ipn.IP.To4(); ip4 != nil {
			return ip4, nil
		}
		if v6 == nil && !ipn.IP.IsLinkLocalUnicast() {
			v6 = ipn.IP
		}
	}
	if v6 != nil {
		return v6, nil
	}
	return nil, errors.New("interface has no usable address")
}

// HeartbeatFromEnv returns the heartbeat interval KIZUNA_HEARTBEAT sets:
// DefaultHeartbeat when it is unset, -1 for "off" or "0".
func HeartbeatFromEnv() (time.Duration, error) {
	v := os.Getenv(EnvHeartbeat)
	switch v {
	case "":
		return DefaultHeartbeat, nil
	case "off", "0":
		return -1, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("tcp: %s=%q: want a positive duration such as 2s, or off", EnvHeartbeat, v)
	}
	return d, nil
}
