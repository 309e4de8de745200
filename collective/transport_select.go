package collective

import (
	"context"
	"fmt"
	"os"

	"github.com/kizuna-hpc/kizuna/transport"
	"github.com/kizuna-hpc/kizuna/transport/multi"
	"github.com/kizuna-hpc/kizuna/transport/shm"
	"github.com/kizuna-hpc/kizuna/transport/tcp"
)

// Choosing a transport per peer is an ordered capability check, as in NCCL's
// transport table: goroutine ranks of one process use inproc (NewLocal);
// ranks of one shared-memory domain (same host, same /dev/shm) use shm; the
// others TCP. Each rank publishes its shared-memory host id in the
// rendezvous (Member.Host) when shared memory is allowed (Transport auto or
// shm), and its plain hostname otherwise, so two ranks link over shm exactly
// when both publish the same id: a rank forced to TCP makes its peers use TCP
// with it too, whatever they were told.

// publishedHost is what this rank publishes as its host: its shared-memory
// host id when cfg allows shared memory and this system has it, else the
// hostname.
func publishedHost(cfg *Config) string {
	if cfg.Transport != TransportTCP {
		if id := shmHostID(cfg); id != "" {
			return id
		}
	}
	host, _ := os.Hostname()
	return host
}

// shmHostID is this rank's shared-memory host id (shm.HostID); tests
// replace it to put in-process ranks on different "hosts".
var shmHostID = func(*Config) string { return shm.HostID("") }

// connectEndpoint links this rank with every other: shared memory to the
// ranks whose published host equals its own (when allowed), TCP through l to
// the others, all delivering into one Mux. addrs and hosts are the members'
// published addresses and hosts, indexed by rank. l is consumed.
func connectEndpoint(ctx context.Context, cfg *Config, l *tcp.Listener, addrs, hosts []string) (transport.Endpoint, error) {
	var local []int
	if cfg.Transport != TransportTCP && cfg.Size > 1 && hosts[cfg.Rank] != "" && hosts[cfg.Rank] == shmHostID(cfg) {
		for p, h := range hosts {
			if p != cfg.Rank && h == hosts[cfg.Rank] {
				local = append(local, p)
			}
		}
	}
	if cfg.Transport == TransportShm && len(local) != cfg.Size-1 {
		var remote []int
		for p, h := range hosts {
			if p != cfg.Rank && h != hosts[cfg.Rank] {
				remote = append(remote, p)
			}
		}
		l.Close()
		return nil, fmt.Errorf("%w: transport shm: ranks %v do not share this host's memory (host %q); use auto or tcp, or set %s the same on every rank",
			ErrInvalid, remote, hosts[cfg.Rank], EnvTransport)
	}
	if len(local) == 0 {
		return l.Connect(ctx, addrs)
	}
	prep, err := shm.Prepare(shm.Config{
		Rank: cfg.Rank, Size: cfg.Size, Peers: local, IDs: addrs,
		JobID: cfg.JobID, Token: cfg.Token, Logger: cfg.Logger, Heartbeat: cfg.Heartbeat,
	})
	if err != nil {
		l.Close()
		return nil, err
	}
	if len(local) == cfg.Size-1 { // every peer over shared memory: no TCP link at all
		l.Close()
		mux := transport.NewMux(cfg.Rank, cfg.Size)
		mux.SetFIFO(true) // one ring per peer: every peer's frames arrive in order
		ep, err := prep.Connect(ctx, mux)
		if err != nil {
			return nil, err
		}
		return ep, nil
	}
	tcpAddrs := append([]string(nil), addrs...)
	for _, p := range local {
		tcpAddrs[p] = "" // reached over shared memory
	}
	tcpEp, err := l.Connect(ctx, tcpAddrs)
	if err != nil {
		prep.Close()
		return nil, err
	}
	mux := tcpEp.Mux()
	shmEp, err := prep.Connect(ctx, mux)
	if err != nil {
		tcpEp.Close()
		return nil, err
	}
	routes := make([]transport.Endpoint, cfg.Size)
	for p := range routes {
		routes[p] = tcpEp
	}
	for _, p := range local {
		routes[p] = shmEp
	}
	ep, err := multi.New(mux, routes)
	if err != nil {
		shmEp.Close()
		tcpEp.Close()
		return nil, err
	}
	return ep, nil
}
