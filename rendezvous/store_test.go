package rendezvous

import (
	"fmt"
	"net"
	"strings"
	"testing"
)

// TestPendingWaitLimits checks the bounds on what one connection may leave
// pending, directly on the store.
func TestPendingWaitLimits(t *testing.T) {
	p1, p2 := net.Pipe()
	defer p1.Close()
	defer p2.Close()
	st := newStore()
	c := newServerConn(p1)
	for i := range maxWaitsPerConn {
		req := &request{ID: uint64(i), Op: opWait, NS: "ns", Keys: []string{fmt.Sprint("k", i)}}
		if resp, reply := st.handle(c, req); reply {
			t.Fatalf("handle(wait %d) = %+v; want it held", i, resp)
		}
	}
	tests := []struct {
		name string
		req  request
		want string
	}{
		{"one wait too many", request{ID: 1 << 20, Op: opWait, NS: "ns", Keys: []string{"x"}}, "too many pending waits"},
		{"duplicate id", request{ID: 7, Op: opWait, NS: "ns", Keys: []string{"x"}}, "already names a pending wait"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, reply := st.handle(c, &tt.req)
			if !reply || resp.Status != statusError || !strings.Contains(resp.Msg, tt.want) {
				t.Fatalf("handle(%+v) = %+v, %t; want an error containing %q", tt.req, resp, reply, tt.want)
			}
		})
	}
	// A wait whose keys exist is answered at once, whatever the limit.
	st.handle(c, &request{ID: 1 << 21, Op: opSet, NS: "ns", Keys: []string{"x"}})
	if resp, reply := st.handle(c, &request{ID: 1 << 22, Op: opWait, NS: "ns", Keys: []string{"x"}}); !reply || resp.Status != statusOK {
		t.Fatalf("handle(wait for existing key at the limit) = %+v, %t; want ok", resp, reply)
	}
	st.dropConn(c)
	if n := st.numWaiters(); n != 0 {
		t.Fatalf("numWaiters after dropConn = %d; want 0", n)
	}
	if len(st.spaces["ns"].kv) != 1 || len(st.spaces) != 1 {
		t.Fatalf("store after dropConn has %d namespaces; want only ns with its key", len(st.spaces))
	}
}
