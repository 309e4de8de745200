package launch

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"
)

const (
	// probeTimeout bounds an agent's attempt to reach one store address.
	probeTimeout = 3 * time.Second
	// lookupTimeout bounds the launcher's look-up of the first remote host.
	lookupTimeout = time.Second
)

// masterCandidates lists the addresses, best first, at which other hosts
// may reach a store listening on every interface at port: this machine's
// source address toward the host toward (when it resolves), then its other
// addresses, IPv4 before IPv6, loopback last.
func masterCandidates(port string, toward string) []string {
	var ips []net.IP
	if toward != "" {
		// A UDP "dial" sends nothing; it only asks the kernel for the route.
		// The name lookup is bounded: a host name may resolve nowhere (a
		// network namespace's name, say) and a resolver may be unreachable.
		ctx, cancel := context.WithTimeout(context.Background(), lookupTimeout)
		var d net.Dialer
		if c, err := d.DialContext(ctx, "udp", net.JoinHostPort(toward, "9")); err == nil {
			if a, ok := c.LocalAddr().(*net.UDPAddr); ok {
				ips = append(ips, a.IP)
			}
			c.Close()
		}
		cancel()
	}
	var v4, v6, lo []net.IP
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			ip := ipn.IP
			switch {
			case ip.IsLoopback():
				lo = append(lo, ip)
			case ip.IsLinkLocalUnicast(), ip.IsMulticast(), ip.IsUnspecified():
			case ip.To4() != nil:
				v4 = append(v4, ip)
			default:
				v6 = append(v6, ip)
			}
		}
	}
	if len(lo) == 0 {
		lo = []net.IP{net.IPv4(127, 0, 0, 1)}
	}
	var out []string
	for _, ip := range slices.Concat(ips, v4, v6, lo) {
		a := net.JoinHostPort(ip.String(), port)
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}

// probeMaster dials every candidate store address at once and returns the
// first in the list's order that answered, with this host's address on
// that connection (what ranks here should listen on so that the other
// hosts can reach them). It returns when that choice is certain, after
// cancelling and waiting for the other attempts.
func probeMaster(ctx context.Context, candidates []string) (master, local string, err error) {
	if len(candidates) == 0 {
		return "", "", errors.New("launch: no store address to try")
	}
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	type result struct {
		i     int
		local string
		err   error
	}
	results := make(chan result, len(candidates)) // one per attempt, never blocks
	var d net.Dialer
	for i, addr := range candidates {
		go func() {
			c, err := d.DialContext(ctx, "tcp", addr)
			if err != nil {
				results <- result{i: i, err: err}
				return
			}
			host, _, _ := net.SplitHostPort(c.LocalAddr().String())
			c.Close()
			results <- result{i: i, local: host}
		}()
	}
	got := make([]*result, len(candidates))
	pending := len(candidates)
	defer func() {
		cancel()
		for ; pending > 0; pending-- {
			<-results
		}
	}()
	for pending > 0 {
		r := <-results
		pending--
		got[r.i] = &r
		// The first candidate decides once every one before it failed.
		for _, g := range got {
			if g == nil {
				break
			}
			if g.err == nil {
				return candidates[g.i], g.local, nil
			}
		}
	}
	var msgs []string
	for _, g := range got {
		msgs = append(msgs, g.err.Error())
	}
	return "", "", fmt.Errorf("launch: cannot reach the launcher's store at any of %s: %s",
		strings.Join(candidates, ", "), strings.Join(msgs, "; "))
}
