package launch

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
)

// Host is a machine to place ranks on, with the number of ranks it takes.
type Host struct {
	Name  string
	Slots int
}

// ParseHosts parses a -H list: comma-separated names, each optionally
// followed by :slots ("a:2,b,c:4"); a name without slots takes one. An IPv6
// address with slots is written in brackets ("[fd00::1]:2"). A name given
// twice has its slots added.
func ParseHosts(s string) ([]Host, error) {
	var hosts []Host
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		name, slots := item, 1
		if i := strings.LastIndexByte(item, ':'); i >= 0 && (strings.Count(item, ":") == 1 || strings.HasPrefix(item, "[")) {
			n, err := strconv.Atoi(item[i+1:])
			if err != nil || n < 1 {
				return nil, fmt.Errorf("host %q: slots must be a positive number", item)
			}
			name, slots = strings.TrimSuffix(strings.TrimPrefix(item[:i], "["), "]"), n
		}
		if name == "" {
			return nil, fmt.Errorf("host %q: empty name", item)
		}
		hosts = addHost(hosts, Host{Name: name, Slots: slots})
	}
	if len(hosts) == 0 {
		return nil, fmt.Errorf("no hosts in %q", s)
	}
	return hosts, nil
}

// ParseHostfile reads a hostfile: one host per line, as "name",
// "name slots=N" or "name:N"; text after # is a comment. A name given twice
// has its slots added.
func ParseHostfile(r io.Reader) ([]Host, error) {
	var hosts []Host
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line, _, _ := strings.Cut(sc.Text(), "#")
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		hs, err := ParseHosts(fields[0])
		if err != nil || len(hs) != 1 {
			return nil, fmt.Errorf("line %d: bad host %q", n, fields[0])
		}
		h := hs[0]
		for _, f := range fields[1:] {
			k, v, ok := strings.Cut(f, "=")
			switch {
			case ok && (k == "slots" || k == "max_slots" || k == "max-slots"):
				s, err := strconv.Atoi(v)
				if err != nil || s < 1 {
					return nil, fmt.Errorf("line %d: %q: slots must be a positive number", n, f)
				}
				if k == "slots" {
					h.Slots = s
				}
			default:
				return nil, fmt.Errorf("line %d: unknown field %q (want slots=N)", n, f)
			}
		}
		hosts = addHost(hosts, h)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(hosts) == 0 {
		return nil, fmt.Errorf("no hosts")
	}
	return hosts, nil
}

func addHost(hosts []Host, h Host) []Host {
	for i := range hosts {
		if hosts[i].Name == h.Name {
			hosts[i].Slots += h.Slots
			return hosts
		}
	}
	return append(hosts, h)
}

// node is one host of a job with the ranks placed on it.
type node struct {
	host  string
	local bool  // this host: ranks start directly, not through an agent
	ranks []int // consecutive, ascending
	index int   // KIZUNA_NODE_RANK
}

// place fills hosts in order, each up to its slots, with np ranks. With no
// hosts every rank goes on this host.
func place(np int, hosts []Host) ([]node, error) {
	if len(hosts) == 0 {
		hosts = []Host{{Name: "localhost", Slots: np}}
	}
	total := 0
	for _, h := range hosts {
		total += h.Slots
	}
	if np > total {
		return nil, fmt.Errorf("launch: %d ranks but only %d slots on %d hosts", np, total, len(hosts))
	}
	var nodes []node
	for r := 0; r < np; {
		h := hosts[len(nodes)]
		nd := node{host: h.Name, local: isLocalHost(h.Name), index: len(nodes)}
		for i := 0; i < h.Slots && r < np; i++ {
			nd.ranks = append(nd.ranks, r)
			r++
		}
		nodes = append(nodes, nd)
	}
	return nodes, nil
}

// isLocalHost reports whether name is this machine: localhost, a loopback
// address, or this machine's host name.
func isLocalHost(name string) bool {
	if strings.EqualFold(name, "localhost") {
		return true
	}
	if ip := net.ParseIP(name); ip != nil {
		return ip.IsLoopback()
	}
	self, err := os.Hostname()
	if err != nil {
		return false
	}
	short, _, _ := strings.Cut(self, ".")
	return strings.EqualFold(name, self) || strings.EqualFold(name, short)
}
