package rendezvous

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// step is one call made before the call under test.
type step func(ctx context.Context, c *Client) error

func set(key, value string) step {
	return func(ctx context.Context, c *Client) error { return c.Set(ctx, key, []byte(value)) }
}

func setBytes(key string, value []byte) step {
	return func(ctx context.Context, c *Client) error { return c.Set(ctx, key, value) }
}

func del(key string) step {
	return func(ctx context.Context, c *Client) error { return c.Delete(ctx, key) }
}

func add(key string, delta int64) step {
	return func(ctx context.Context, c *Client) error {
		_, err := c.Add(ctx, key, delta)
		return err
	}
}

func run(t *testing.T, ctx context.Context, c *Client, steps []step) {
	t.Helper()
	for i, st := range steps {
		if err := st(ctx, c); err != nil {
			t.Fatalf("step %d = %v", i, err)
		}
	}
}

func TestSetGetDelete(t *testing.T) {
	s, _ := startServer(t)
	big := bytes.Repeat([]byte{0xab}, MaxValueSize)
	longKey := strings.Repeat("k", MaxKeySize)
	tests := []struct {
		name    string
		steps   []step
		key     string
		want    []byte
		wantErr error
	}{
		{name: "absent", key: "k", wantErr: ErrNotFound},
		{name: "set", steps: []step{set("k", "v")}, key: "k", want: []byte("v")},
		{name: "other key", steps: []step{set("k", "v")}, key: "j", wantErr: ErrNotFound},
		{name: "overwrite", steps: []step{set("k", "v1"), set("k", "v2")}, key: "k", want: []byte("v2")},
		{name: "empty value", steps: []step{set("k", "")}, key: "k", want: []byte{}},
		{name: "nil value stored empty", steps: []step{setBytes("k", nil)}, key: "k", want: []byte{}},
		{name: "deleted", steps: []step{set("k", "v"), del("k")}, key: "k", wantErr: ErrNotFound},
		{name: "delete absent", steps: []step{del("k")}, key: "k", wantErr: ErrNotFound},
		{name: "set after delete", steps: []step{set("k", "v"), del("k"), set("k", "w")}, key: "k", want: []byte("w")},
		{name: "largest value", steps: []step{setBytes("k", big)}, key: "k", want: big},
		{name: "longest key", steps: []step{set(longKey, "v")}, key: longKey, want: []byte("v")},
		{name: "binary value", steps: []step{set("k", "\x00\xff\xc1")}, key: "k", want: []byte("\x00\xff\xc1")},
		{name: "counter reads as decimal", steps: []step{add("n", 40), add("n", 2)}, key: "n", want: []byte("42")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testContext(t)
			c := dial(t, s, t.Name())
			run(t, ctx, c, tt.steps)
			got, err := c.Get(ctx, tt.key)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Get(%.20q) error = %v; want %v", tt.key, err, tt.wantErr)
			}
			if !bytes.Equal(got, tt.want) || (tt.want != nil) != (got != nil) {
				t.Fatalf("Get(%.20q) = %.20q (nil %t); want %.20q (nil %t)", tt.key, got, got == nil, tt.want, tt.want == nil)
			}
		})
	}
}

func TestAdd(t *testing.T) {
	s, _ := startServer(t)
	tests := []struct {
		name    string
		steps   []step
		delta   int64
		want    int64
		wantErr string
	}{
		{name: "absent counts as zero", delta: 5, want: 5},
		{name: "accumulates", steps: []step{add("n", 5)}, delta: -7, want: -2},
		{name: "zero delta reads", steps: []step{add("n", 9)}, delta: 0, want: 9},
		{name: "decimal value set by Set", steps: []step{set("n", "100")}, delta: 1, want: 101},
		{name: "not an integer", steps: []step{set("n", "ten")}, delta: 1, wantErr: "not a decimal integer"},
		{name: "overflow", steps: []step{add("n", 1<<62), add("n", 1<<62-1)}, delta: 1 << 62, wantErr: "overflow"},
		{name: "negative overflow", steps: []step{add("n", -1<<62), add("n", -1<<62)}, delta: -1, wantErr: "overflow"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testContext(t)
			c := dial(t, s, t.Name())
			run(t, ctx, c, tt.steps)
			got, err := c.Add(ctx, "n", tt.delta)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Add(n, %d) = %d, %v; want error containing %q", tt.delta, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Add(n, %d) = %d, %v; want %d", tt.delta, got, err, tt.want)
			}
			v, err := c.Get(ctx, "n")
			if want := fmt.Sprint(tt.want); err != nil || string(v) != want {
				t.Fatalf("Get(n) = %q, %v; want %q", v, err, want)
			}
		})
	}
}

// TestAddConcurrent checks that Add is atomic: every returned value is
// distinct, so together they are exactly 1..total.
func TestAddConcurrent(t *testing.T) {
	s, _ := startServer(t)
	ctx := testContext(t)
	const clients, goroutines, adds = 4, 8, 50
	var mu sync.Mutex
	var got []int64
	var wg sync.WaitGroup
	for range clients {
		c := dial(t, s, "ns")
		for range goroutines {
			wg.Go(func() {
				for range adds {
					n, err := c.Add(ctx, "counter", 1)
					if err != nil {
						t.Errorf("Add(counter, 1) = %v", err)
						return
					}
					mu.Lock()
					got = append(got, n)
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	const total = clients * goroutines * adds
	slices.Sort(got)
	for i, n := range got {
		if n != int64(i+1) {
			t.Fatalf("sorted Add results[%d] = %d; want %d (a value returned twice means Add is not atomic)", i, n, i+1)
		}
	}
	if len(got) != total {
		t.Fatalf("got %d Add results; want %d", len(got), total)
	}
	c := dial(t, s, "ns")
	if v, err := c.Get(ctx, "counter"); err != nil || string(v) != fmt.Sprint(total) {
		t.Fatalf("Get(counter) = %q, %v; want %d", v, err, total)
	}
}

func TestCompareAndSet(t *testing.T) {
	s, _ := startServer(t)
	tests := []struct {
		name        string
		steps       []step
		old, new    []byte
		wantCurrent []byte
		wantSwapped bool
	}{
		{name: "absent, set if absent", old: nil, new: []byte("a"), wantCurrent: []byte("a"), wantSwapped: true},
		{name: "present, set if absent", steps: []step{set("k", "x")}, old: nil, new: []byte("a"), wantCurrent: []byte("x")},
		{name: "present, match", steps: []step{set("k", "x")}, old: []byte("x"), new: []byte("a"), wantCurrent: []byte("a"), wantSwapped: true},
		{name: "present, mismatch", steps: []step{set("k", "x")}, old: []byte("y"), new: []byte("a"), wantCurrent: []byte("x")},
		{name: "absent, expected a value", old: []byte("x"), new: []byte("a"), wantCurrent: nil},
		{name: "absent, expected empty value", old: []byte{}, new: []byte("a"), wantCurrent: nil},
		{name: "empty value matches empty old", steps: []step{set("k", "")}, old: []byte{}, new: []byte("a"), wantCurrent: []byte("a"), wantSwapped: true},
		{name: "empty value is not absent", steps: []step{set("k", "")}, old: nil, new: []byte("a"), wantCurrent: []byte{}},
		{name: "deleted is absent", steps: []step{set("k", "x"), del("k")}, old: nil, new: []byte("a"), wantCurrent: []byte("a"), wantSwapped: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testContext(t)
			c := dial(t, s, t.Name())
			run(t, ctx, c, tt.steps)
			cur, swapped, err := c.CompareAndSet(ctx, "k", tt.old, tt.new)
			if err != nil || swapped != tt.wantSwapped || !bytes.Equal(cur, tt.wantCurrent) || (cur == nil) != (tt.wantCurrent == nil) {
				t.Fatalf("CompareAndSet(k, %q, %q) = %q, %t, %v; want %q, %t", tt.old, tt.new, cur, swapped, err, tt.wantCurrent, tt.wantSwapped)
			}
			v, err := c.Get(ctx, "k")
			if tt.wantCurrent == nil {
				if !errors.Is(err, ErrNotFound) {
					t.Fatalf("Get(k) = %q, %v; want ErrNotFound", v, err)
				}
			} else if err != nil || !bytes.Equal(v, tt.wantCurrent) {
				t.Fatalf("Get(k) = %q, %v; want %q", v, err, tt.wantCurrent)
			}
		})
	}
}

// TestCompareAndSetRace has many clients race to claim one key: exactly one
// wins and all see the winner's value.
func TestCompareAndSetRace(t *testing.T) {
	s, _ := startServer(t)
	ctx := testContext(t)
	const n = 16
	cur := make([][]byte, n)
	swapped := make([]bool, n)
	var wg sync.WaitGroup
	for i := range n {
		c := dial(t, s, "ns")
		wg.Go(func() {
			var err error
			cur[i], swapped[i], err = c.CompareAndSet(ctx, "leader", nil, []byte(fmt.Sprint(i)))
			if err != nil {
				t.Errorf("CompareAndSet(leader) = %v", err)
			}
		})
	}
	wg.Wait()
	winners := 0
	for i := range n {
		if swapped[i] {
			winners++
		}
		if !bytes.Equal(cur[i], cur[0]) {
			t.Errorf("client %d sees leader %q; client 0 sees %q", i, cur[i], cur[0])
		}
	}
	if winners != 1 {
		t.Fatalf("%d clients swapped; want 1", winners)
	}
}

func TestInvalidArguments(t *testing.T) {
	s, _ := startServer(t)
	ctx := testContext(t)
	c := dial(t, s, "ns")
	tooLongKey := strings.Repeat("k", MaxKeySize+1)
	tooBig := make([]byte, MaxValueSize+1)
	tests := []struct {
		name string
		call func() error
		want string
	}{
		{"Set empty key", func() error { return c.Set(ctx, "", nil) }, "empty key"},
		{"Set long key", func() error { return c.Set(ctx, tooLongKey, nil) }, "key of 1025 bytes"},
		{"Set big value", func() error { return c.Set(ctx, "k", tooBig) }, "value of 4194305 bytes"},
		{"Get empty key", func() error { _, err := c.Get(ctx, ""); return err }, "empty key"},
		{"Add long key", func() error { _, err := c.Add(ctx, tooLongKey, 1); return err }, "key of 1025 bytes"},
		{"CompareAndSet big old", func() error { _, _, err := c.CompareAndSet(ctx, "k", tooBig, nil); return err }, "old value of 4194305 bytes"},
		{"CompareAndSet big new", func() error { _, _, err := c.CompareAndSet(ctx, "k", nil, tooBig); return err }, "value of 4194305 bytes"},
		{"Delete empty key", func() error { return c.Delete(ctx, "") }, "empty key"},
		{"Wait empty key", func() error { return c.Wait(ctx, "a", "") }, "empty key"},
		{"Wait too many keys", func() error { return c.Wait(ctx, make([]string, MaxKeysPerRequest+1)...) }, "65537 keys"},
		{"Dial long namespace", func() error { _, err := Dial(ctx, s.Addr(), tooLongKey); return err }, "namespace of 1025 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("%s = %v; want error containing %q", tt.name, err, tt.want)
			}
			// The connection is still good.
			if err := c.Set(ctx, "ok", []byte("1")); err != nil {
				t.Fatalf("Set(ok) after %s = %v", tt.name, err)
			}
		})
	}
}

func TestWaitWakesOnSetFromAnotherClient(t *testing.T) {
	s, _ := startServer(t)
	ctx := testContext(t)
	waiter, setter := dial(t, s, "ns"), dial(t, s, "ns")
	done := goWait(ctx, waiter, "a", "b")
	waitersReach(t, s, 1)
	if err := setter.Set(ctx, "a", []byte("1")); err != nil {
		t.Fatal(err)
	}
	// Still held: now for "b".
	waitersReach(t, s, 1)
	if err := setter.Set(ctx, "b", []byte("2")); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Wait(a, b) = %v; want nil", err)
	}
	if n := s.store.numWaiters(); n != 0 {
		t.Fatalf("server holds %d waits after Wait returned; want 0", n)
	}
}

func TestWaitDoesNotBlockSameClient(t *testing.T) {
	s, _ := startServer(t)
	ctx := testContext(t)
	c := dial(t, s, "ns")
	done := goWait(ctx, c, "a", "b", "c")
	waitersReach(t, s, 1)
	// The same client, hence the same connection, completes the wait. Were
	// requests answered in order, these would queue behind the Wait forever.
	for _, k := range []string{"c", "a", "b"} {
		if err := c.Set(ctx, k, []byte(k)); err != nil {
			t.Fatalf("Set(%s) while Wait pending = %v", k, err)
		}
	}
	if err := <-done; err != nil {
		t.Fatalf("Wait(a, b, c) = %v; want nil", err)
	}
	for _, k := range []string{"a", "b", "c"} {
		if _, err := c.Get(ctx, k); err != nil {
			t.Fatalf("Get(%s) after Wait = %v", k, err)
		}
	}
}

func TestWaitPresentKeysReturnsAtOnce(t *testing.T) {
	s, _ := startServer(t)
	ctx := testContext(t)
	c := dial(t, s, "ns")
	run(t, ctx, c, []step{set("a", "1"), set("b", "")})
	if err := c.Wait(ctx, "a", "b", "a"); err != nil {
		t.Fatalf("Wait(a, b, a) = %v; want nil", err)
	}
	if err := c.Wait(ctx); err != nil {
		t.Fatalf("Wait() = %v; want nil", err)
	}
}

func TestWaitCancelledNamesMissingKeys(t *testing.T) {
	s, _ := startServer(t)
	c := dial(t, s, "job")
	run(t, testContext(t), c, []step{set("a", "1"), set("c", "3")})
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	expired, cancel2 := context.WithTimeout(t.Context(), 0)
	defer cancel2()
	tests := []struct {
		name     string
		ctx      context.Context
		keys     []string
		want     []string
		wantErr  error
		wantText string
	}{
		{"cancelled", cancelled, []string{"a", "b", "c", "d", "b"}, []string{"b", "d"}, context.Canceled, `keys "b", "d" still missing`},
		{"deadline", expired, []string{"x"}, []string{"x"}, context.DeadlineExceeded, `key "x" still missing`},
		{"first key missing", cancelled, []string{"z", "a"}, []string{"z"}, context.Canceled, `namespace "job"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := c.Wait(tt.ctx, tt.keys...)
			we, ok := errors.AsType[*WaitError](err)
			if !ok {
				t.Fatalf("Wait(%q) = %v; want *WaitError", tt.keys, err)
			}
			if !slices.Equal(we.Missing, tt.want) || we.Namespace != "job" {
				t.Fatalf("Wait(%q) missing %q in %q; want %q in job", tt.keys, we.Missing, we.Namespace, tt.want)
			}
			if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), tt.wantText) {
				t.Fatalf("Wait(%q) = %v; want it to wrap %v and contain %q", tt.keys, err, tt.wantErr, tt.wantText)
			}
			// Withdrawn on both sides: nothing left to leak.
			if n := s.store.numWaiters(); n != 0 {
				t.Fatalf("server holds %d waits after a cancelled Wait; want 0", n)
			}
			if n := c.cc.numPending(); n != 0 {
				t.Fatalf("client has %d pending calls after a cancelled Wait; want 0", n)
			}
		})
	}
}

func TestNamespacesIsolated(t *testing.T) {
	s, _ := startServer(t)
	ctx := testContext(t)
	job1, job2 := dial(t, s, "job1"), dial(t, s, "job2")
	view := job1.Namespace("job2") // job2 seen through job1's connection
	run(t, ctx, job1, []step{set("k", "one"), add("n", 1), set("only1", "x")})
	run(t, ctx, job2, []step{set("k", "two"), add("n", 10)})

	tests := []struct {
		name    string
		c       *Client
		key     string
		want    string
		wantErr error
	}{
		{"job1 k", job1, "k", "one", nil},
		{"job2 k", job2, "k", "two", nil},
		{"view k", view, "k", "two", nil},
		{"job1 n", job1, "n", "1", nil},
		{"job2 n", job2, "n", "10", nil},
		{"job2 lacks job1's key", job2, "only1", "", ErrNotFound},
		{"view lacks job1's key", view, "only1", "", ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.c.Get(ctx, tt.key)
			if !errors.Is(err, tt.wantErr) || string(got) != tt.want {
				t.Fatalf("Get(%s) = %q, %v; want %q, %v", tt.key, got, err, tt.want, tt.wantErr)
			}
		})
	}

	// A key set in job1 does not satisfy a Wait in job2.
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	err := job2.Wait(cancelled, "only1")
	if we, ok := errors.AsType[*WaitError](err); !ok || !slices.Equal(we.Missing, []string{"only1"}) {
		t.Fatalf("job2.Wait(only1) = %v; want a *WaitError missing only1", err)
	}
	// An abort in job1 leaves job2 alone.
	if err := job1.Abort(ctx, "job1 failed"); err != nil {
		t.Fatal(err)
	}
	if err := job2.Wait(ctx, "k"); err != nil {
		t.Fatalf("job2.Wait(k) after job1 aborted = %v; want nil", err)
	}
	if err := job1.Wait(ctx, "k"); !errors.As(err, new(*AbortError)) {
		t.Fatalf("job1.Wait(k) after job1 aborted = %v; want *AbortError", err)
	}
	// Deleting in the view deletes in job2 only.
	if err := view.Delete(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if _, err := job2.Get(ctx, "k"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("job2.Get(k) after view.Delete(k) = %v; want ErrNotFound", err)
	}
	if v, err := job1.Get(ctx, "k"); err != nil || string(v) != "one" {
		t.Fatalf("job1.Get(k) after view.Delete(k) = %q, %v; want one", v, err)
	}
}

func TestAbortWakesWaiters(t *testing.T) {
	s, _ := startServer(t)
	ctx := testContext(t)
	w1, w2, aborter := dial(t, s, "job"), dial(t, s, "job"), dial(t, s, "job")
	done1 := goWait(ctx, w1, "never")
	done2 := goWait(ctx, w2, "a", "never")
	waitersReach(t, s, 2)
	if err := aborter.Abort(ctx, "rank 3 crashed"); err != nil {
		t.Fatal(err)
	}
	for i, done := range []<-chan error{done1, done2} {
		err := <-done
		if ae, ok := errors.AsType[*AbortError](err); !ok || ae.Reason != "rank 3 crashed" {
			t.Fatalf("waiter %d: Wait = %v; want *AbortError{rank 3 crashed}", i+1, err)
		}
	}
	// Later waits fail at once, even on keys that exist; a second abort keeps
	// the first reason.
	run(t, ctx, aborter, []step{set("a", "1")})
	if err := aborter.Abort(ctx, "second"); err != nil {
		t.Fatal(err)
	}
	if err := w1.Wait(ctx, "a"); err == nil || err.Error() != "rendezvous: aborted: rank 3 crashed" {
		t.Fatalf("Wait(a) after abort = %v; want rendezvous: aborted: rank 3 crashed", err)
	}
	if v, err := w1.Get(ctx, AbortKey); err != nil || string(v) != "rank 3 crashed" {
		t.Fatalf("Get(AbortKey) = %q, %v; want rank 3 crashed", v, err)
	}
	// Deleting the abort key lifts it.
	if err := w1.Delete(ctx, AbortKey); err != nil {
		t.Fatal(err)
	}
	if err := w1.Wait(ctx, "a"); err != nil {
		t.Fatalf("Wait(a) after Delete(AbortKey) = %v; want nil", err)
	}
}

func TestServerCloseFailsPendingWaits(t *testing.T) {
	s, err := Listen("127.0.0.1:0", WithLogger(discardLogger()))
	if err != nil {
		t.Fatal(err)
	}
	ctx := testContext(t)
	c1, c2 := dialAddr(t, s.Addr(), "a"), dialAddr(t, s.Addr(), "b")
	done1 := goWait(ctx, c1, "never")
	done2 := goWait(ctx, c2, "x", "y")
	waitersReach(t, s, 2)
	if err := s.Close(); err != nil {
		t.Fatalf("Server.Close() = %v", err)
	}
	for i, done := range []<-chan error{done1, done2} {
		if err := <-done; !errors.Is(err, ErrClosed) {
			t.Fatalf("client %d: Wait = %v; want ErrClosed", i+1, err)
		}
	}
	if _, err := c1.Get(ctx, "k"); err == nil {
		t.Fatal("Get after Server.Close = nil; want an error")
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Server.Close() = %v; want nil", err)
	}
}

func TestClientCloseFailsPendingCalls(t *testing.T) {
	s, _ := startServer(t)
	ctx := testContext(t)
	c := dial(t, s, "ns")
	view := c.Namespace("other")
	done := goWait(ctx, view, "never")
	waitersReach(t, s, 1)
	if err := c.Close(); err != nil {
		t.Fatalf("Client.Close() = %v", err)
	}
	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Fatalf("Wait on a view after Close = %v; want ErrClosed", err)
	}
	if err := view.Set(ctx, "k", nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("Set on a view after Close = %v; want ErrClosed", err)
	}
	// The server forgets the dropped connection's wait.
	waitersReach(t, s, 0)
	if err := c.Close(); err != nil {
		t.Fatalf("second Client.Close() = %v", err)
	}
}

func TestDialRetriesUntilServerStarts(t *testing.T) {
	// A listener that hangs up on every connection holds the port until
	// Dial has failed at least once; then the real server takes the port.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	attempted := make(chan struct{})
	hungUp := make(chan struct{})
	go func() {
		defer close(hungUp)
		for i := 0; ; i++ {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			conn.Close()
			if i == 0 {
				close(attempted)
			}
		}
	}()
	ctx := testContext(t)
	type dialed struct {
		c   *Client
		err error
	}
	ch := make(chan dialed, 1) // the goroutine never blocks on send
	go func() {
		c, err := Dial(ctx, addr, "ns")
		ch <- dialed{c, err}
	}()
	<-attempted
	ln.Close()
	<-hungUp
	s, err := Listen(addr, WithLogger(discardLogger()))
	if err != nil {
		t.Fatalf("Listen(%s) again = %v", addr, err)
	}
	defer s.Close()
	d := <-ch
	if d.err != nil {
		t.Fatalf("Dial(%s) = %v; want a client once the server started", addr, d.err)
	}
	defer d.c.Close()
	if err := d.c.Set(ctx, "k", []byte("v")); err != nil {
		t.Fatalf("Set after Dial = %v", err)
	}
}

func TestDialDuringHandshakeTimeout(t *testing.T) {
	// A listener that accepts and never answers the hello: Dial gives up when
	// ctx ends, naming the address.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var conns []net.Conn
	accepted := make(chan struct{})
	go func() {
		defer close(accepted)
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, conn)
		}
	}()
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	_, err = Dial(ctx, ln.Addr().String(), "ns")
	ln.Close()
	<-accepted
	for _, c := range conns {
		c.Close()
	}
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), ln.Addr().String()) {
		t.Fatalf("Dial to a silent server = %v; want an error naming it and wrapping the deadline", err)
	}
}

func TestDialErrorNamesAddress(t *testing.T) {
	addr := freeAddr(t)
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	_, err := Dial(ctx, addr, "ns")
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), addr) {
		t.Fatalf("Dial(%s) with nothing listening = %v; want an error naming %s and wrapping the deadline", addr, err, addr)
	}
}

func TestDialRefusedFailsAtOnce(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	served := make(chan struct{})
	go func() { // a server that refuses every hello
		defer close(served)
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		fr := newFrameReader()
		if _, err := fr.Read(conn, maxHelloFrame); err != nil {
			return
		}
		fw := newFrameWriter()
		encodeHelloAck(fw.Begin(), &helloAck{Version: 7, Err: "protocol version 1 not supported"})
		b, _ := fw.Finish(maxHelloFrame)
		conn.Write(b)
	}()
	ctx := testContext(t)
	_, err = Dial(ctx, ln.Addr().String(), "ns")
	<-served
	if err == nil || errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "protocol version 1 not supported") {
		t.Fatalf("Dial to a refusing server = %v; want the refusal, without retrying until the deadline", err)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func dialAddr(t *testing.T, addr, ns string) *Client {
	t.Helper()
	c, err := Dial(testContext(t), addr, ns)
	if err != nil {
		t.Fatalf("Dial(%s, %q) = %v", addr, ns, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestCallAbandonedWhenContextEnds(t *testing.T) {
	s, _ := startServer(t)
	c := dial(t, s, "ns")
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	tests := []struct {
		name string
		call func() error
	}{
		{"Set", func() error { return c.Set(cancelled, "k", nil) }},
		{"Get", func() error { _, err := c.Get(cancelled, "k"); return err }},
		{"Add", func() error { _, err := c.Add(cancelled, "k", 1); return err }},
		{"Abort", func() error { return c.Abort(cancelled, "no") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); !errors.Is(err, context.Canceled) {
				t.Fatalf("%s(cancelled ctx) = %v; want context.Canceled", tt.name, err)
			}
			if n := c.cc.numPending(); n != 0 {
				t.Fatalf("%d calls pending after %s; want 0", n, tt.name)
			}
		})
	}
	// None of them reached the store.
	ctx := testContext(t)
	for _, k := range []string{"k", AbortKey} {
		if _, err := c.Get(ctx, k); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Get(%s) = %v; want ErrNotFound", k, err)
		}
	}
}

// fakeServer accepts one connection, answers its hello and hands it to
// handle; it stops when the test ends.
func fakeServer(t *testing.T, handle func(conn net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	accepted := make(chan net.Conn, 1) // the goroutine never blocks on send
	go func() {
		defer close(done)
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		accepted <- conn
		if answerHello(conn, "") != nil {
			return
		}
		handle(conn)
	}()
	t.Cleanup(func() {
		ln.Close()
		select {
		case conn := <-accepted:
			conn.Close()
			<-done
		case <-done:
			select {
			case conn := <-accepted:
				conn.Close()
			default:
			}
		}
	})
	return ln.Addr().String()
}

func TestWaitGivesUpOnSilentServer(t *testing.T) {
	addr := fakeServer(t, func(conn net.Conn) {
		io.Copy(io.Discard, conn) // reads every request, answers none
	})
	c := dialAddr(t, addr, "ns")
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	err := c.Wait(cancelled, "a", "b", "a")
	we, ok := errors.AsType[*WaitError](err)
	if !ok || !slices.Equal(we.Missing, []string{"a", "b"}) || !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait(a, b, a) on a silent server = %v; want a *WaitError naming a, b", err)
	}
	if n := c.cc.numPending(); n != 0 {
		t.Fatalf("%d calls pending after Wait gave up; want 0", n)
	}
}

func TestMalformedResponseEndsConnection(t *testing.T) {
	addr := fakeServer(t, func(conn net.Conn) {
		fr := newFrameReader()
		if _, err := fr.Read(conn, MaxFrameSize); err == nil {
			conn.Write(framed([]byte{0xc1}))
		}
		io.Copy(io.Discard, conn)
	})
	c := dialAddr(t, addr, "ns")
	ctx := testContext(t)
	for i := range 2 {
		if _, err := c.Get(ctx, "k"); err == nil || !strings.Contains(err.Error(), "malformed response") {
			t.Fatalf("Get #%d after a malformed response = %v; want an error naming it", i+1, err)
		}
	}
}
