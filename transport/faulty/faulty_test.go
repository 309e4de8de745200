package faulty

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/kizuna-hpc/kizuna/transport"
	"github.com/kizuna-hpc/kizuna/transport/inproc"
)

// pair wraps a two-rank inproc fabric.
func pair(t *testing.T, cfg Config) (*Fabric, []*Endpoint) {
	t.Helper()
	in := inproc.NewFabric(2)
	t.Cleanup(func() { in.Close() })
	f := New(2, cfg)
	eps := make([]*Endpoint, 2)
	for r := range eps {
		e, err := f.Wrap(in.Endpoint(r))
		if err != nil {
			t.Fatal(err)
		}
		eps[r] = e
	}
	return f, eps
}

func exchange(ctx context.Context, eps []*Endpoint, tag uint32, payload []byte) ([]byte, error, error) {
	r := &transport.Recv{Key: transport.Key{Kind: transport.KindP2P, Src: 0, Tag: tag}, Buf: make([]byte, len(payload))}
	if err := eps[1].Mux().Post(r); err != nil {
		return nil, err, nil
	}
	serr := eps[0].Send(ctx, 1, &transport.Header{Kind: transport.KindP2P, Tag: tag}, payload)
	if serr != nil {
		eps[1].Mux().Cancel(r)
		return nil, serr, nil
	}
	return r.Buf, nil, eps[1].Mux().Wait(ctx, r)
}

func TestFaults(t *testing.T) {
	payload := []byte("0123456789abcdef")
	tests := []struct {
		name  string
		cfg   Config
		check func(t *testing.T, f *Fabric, eps []*Endpoint, got []byte, serr, rerr error)
	}{
		{"none", Config{Seed: 1}, func(t *testing.T, f *Fabric, eps []*Endpoint, got []byte, serr, rerr error) {
			if serr != nil || rerr != nil || !bytes.Equal(got, payload) {
				t.Errorf("exchange = %q, %v, %v; want the payload", got, serr, rerr)
			}
		}},
		{"corrupt", Config{Seed: 1, CorruptProb: 1}, func(t *testing.T, f *Fabric, eps []*Endpoint, got []byte, serr, rerr error) {
			if serr != nil || rerr != nil {
				t.Fatalf("exchange: %v, %v", serr, rerr)
			}
			diff := 0
			for i := range got {
				if got[i] != payload[i] {
					diff++
				}
			}
			if diff != 1 || f.Stats().Corrupted != 1 {
				t.Errorf("corrupted exchange differs in %d bytes (stats %+v); want 1", diff, f.Stats())
			}
			if string(payload) != "0123456789abcdef" {
				t.Errorf("the sender's buffer changed to %q", payload)
			}
		}},
		{"drop", Config{Seed: 1, DropProb: 1}, func(t *testing.T, f *Fabric, eps []*Endpoint, got []byte, serr, rerr error) {
			if !errors.Is(serr, ErrDropped) {
				t.Errorf("Send over a dropped link = %v; want ErrDropped", serr)
			}
			if err := eps[1].Mux().PeerErr(0); !errors.Is(err, ErrDropped) {
				t.Errorf("rank 1's link to rank 0 = %v; want ErrDropped", err)
			}
			if err := eps[1].Send(context.Background(), 0, &transport.Header{Kind: transport.KindControl}, nil); !errors.Is(err, ErrDropped) {
				t.Errorf("Send the other way = %v; want ErrDropped", err)
			}
		}},
		{"delay", Config{Seed: 1, DelayProb: 1, MaxDelay: 20 * time.Millisecond}, func(t *testing.T, f *Fabric, eps []*Endpoint, got []byte, serr, rerr error) {
			if serr != nil || rerr != nil || !bytes.Equal(got, payload) || f.Stats().Delayed != 1 {
				t.Errorf("delayed exchange = %q, %v, %v (stats %+v); want the payload, one delay", got, serr, rerr, f.Stats())
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, eps := pair(t, tt.cfg)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			got, serr, rerr := exchange(ctx, eps, 1, payload)
			tt.check(t, f, eps, got, serr, rerr)
		})
	}
}

// TestSeeded: the same seed makes the same decisions.
func TestSeeded(t *testing.T) {
	run := func() Stats {
		f, eps := pair(t, Config{Seed: 42, CorruptProb: 0.3, DelayProb: 0.3, MaxDelay: time.Millisecond})
		ctx := context.Background()
		for i := range 50 {
			if _, serr, rerr := exchange(ctx, eps, uint32(i), []byte("payload")); serr != nil || rerr != nil {
				t.Fatalf("exchange %d: %v, %v", i, serr, rerr)
			}
		}
		return f.Stats()
	}
	a, b := run(), run()
	if a != b || a.Corrupted == 0 || a.Delayed == 0 {
		t.Errorf("two runs with one seed = %+v and %+v; want equal, with some faults", a, b)
	}
}

// TestArmed: a disarmed fabric passes frames untouched.
func TestArmed(t *testing.T) {
	f, eps := pair(t, Config{Seed: 1, CorruptProb: 1, DropProb: 1})
	f.SetArmed(false)
	got, serr, rerr := exchange(context.Background(), eps, 3, []byte("clean"))
	if serr != nil || rerr != nil || string(got) != "clean" {
		t.Errorf("disarmed exchange = %q, %v, %v; want \"clean\"", got, serr, rerr)
	}
}
