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
