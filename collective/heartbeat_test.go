package collective

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kizuna-hpc/kizuna/transport"
	"github.com/kizuna-hpc/kizuna/transport/faulty"
)

// TestLostPeerBreaksIdle: a link that breaks while no operation is running
// (here rank 1's link to rank 2, dropped) breaks the communicator on every
// rank at once, the ones without that link included, so that their next
// operation fails at once with an error naming a rank of the broken link
// instead of waiting for it.
func TestLostPeerBreaksIdle(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const n = 4
	fab := faulty.New(n, faulty.Config{Seed: 1})
	comms, err := NewLocalWrapped(ctx, n, nil, func(ep transport.Endpoint) (transport.Endpoint, error) { return fab.Wrap(ep) })
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		for _, c := range comms {
			c.Close()
		}
	}()
	fab.Drop(1, 2)
	deadline := time.Now().Add(20 * time.Second)
	for r, c := range comms {
		for c.Err() == nil && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		err := c.Err()
		if err == nil {
			t.Fatalf("rank %d: communicator still healthy 20 s after a link broke", r)
		}
		if !strings.Contains(err.Error(), "rank 1") && !strings.Contains(err.Error(), "rank 2") {
			t.Errorf("rank %d: Err() = %v; want it to name rank 1 or 2", r, err)
		}
		var re *RemoteError
		if !errors.As(err, &re) || re.Lost != 1 && re.Lost != 2 {
			t.Errorf("rank %d: Err() = %v; want a *RemoteError with Lost 1 or 2", r, err)
		}
	}
	start := time.Now()
	for r, c := range comms {
		buf := []float32{1}
		if err := AllReduce(ctx, c, buf, buf, Sum); !errors.Is(err, ErrBroken) {
			t.Errorf("rank %d: AllReduce after the loss = %v; want ErrBroken", r, err)
		}
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("operations after the loss took %v to fail; want at once", d)
	}
}

// TestLostPeerConnectionGauge: a link found broken while idle takes the
// peer's kizuna_peer_connection_up to 0 on the rank that found it, with no
// operation having failed on it, and leaves the other peers at 1.
func TestLostPeerConnectionGauge(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const n = 3
	fab := faulty.New(n, faulty.Config{Seed: 1})
	comms, err := NewLocalWrapped(ctx, n, func(_ int, cfg *Config) { cfg.Metrics = true },
		func(ep transport.Endpoint) (transport.Endpoint, error) { return fab.Wrap(ep) })
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		for _, c := range comms {
			c.Close()
		}
	}()
	fab.Drop(1, 2)
	c := comms[1]
	for c.Err() == nil && ctx.Err() == nil {
		time.Sleep(time.Millisecond)
	}
	var re *RemoteError
	if !errors.As(c.Err(), &re) || re.Origin != 1 || re.Lost != 2 {
		t.Skipf("rank 1 did not detect the loss itself (Err() = %v); nothing to check", c.Err())
	}
	mfs, err := c.Metrics().Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "kizuna_peer_connection_up" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "peer" {
					got[l.GetValue()] = m.GetGauge().GetValue()
				}
			}
		}
	}
	if got["0"] != 1 || got["2"] != 0 || len(got) != 2 {
		t.Errorf("kizuna_peer_connection_up on rank 1 after its link to rank 2 broke = %v; want peer 0: 1, peer 2: 0", got)
	}
}
