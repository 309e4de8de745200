package rendezvous

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func member(rank int) Member {
	return Member{Rank: rank, Addr: fmt.Sprintf("10.0.0.%d:%d", rank, 5000+rank), Host: fmt.Sprintf("node%02d", rank)}
}

// joined is what one Join call returned.
type joined struct {
	members []Member
	err     error
}

// joinAll runs one join per rank in ranks, each on its own client, in
// goroutines, and returns a channel per rank that yields its outcome.
func joinAll(t *testing.T, ctx context.Context, s *Server, ns, prefix string, size, batch int, ranks ...int) map[int]<-chan joined {
	t.Helper()
	out := make(map[int]<-chan joined)
	for _, r := range ranks {
		c := dial(t, s, ns)
		ch := make(chan joined, 1) // the goroutine never blocks on send
		out[r] = ch
		go func() {
			m, err := join(ctx, c, prefix, r, size, member(r), batch)
			ch <- joined{m, err}
		}()
	}
	return out
}

// claimed polls, through c, until ranks have claimed their keys.
func claimed(t *testing.T, ctx context.Context, c *Client, prefix string, ranks ...int) {
	t.Helper()
	keys := make([]string, len(ranks))
	for i, r := range ranks {
		keys[i] = rankKey(prefix, r)
	}
	if err := c.Wait(ctx, keys...); err != nil {
		t.Fatalf("waiting for ranks %v to claim: %v", ranks, err)
	}
}

func TestJoin(t *testing.T) {
	s, _ := startServer(t)
	tests := []struct {
		name  string
		size  int
		batch int
	}{
		{"1 member", 1, joinBatch},
		{"2 members", 2, joinBatch},
		{"5 members", 5, joinBatch},
		{"16 members", 16, joinBatch},
		{"5 members in batches of 2", 5, 2},
		{"16 members in batches of 3", 16, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testContext(t)
			want := make([]Member, tt.size)
			for r := range want {
				want[r] = member(r)
			}
			// Join in reverse order so the last joiner is rank 0.
			ranks := make([]int, tt.size)
			for i := range ranks {
				ranks[i] = tt.size - 1 - i
			}
			for r, ch := range joinAll(t, ctx, s, t.Name(), "comm/0/", tt.size, tt.batch, ranks...) {
				got := <-ch
				if got.err != nil || !reflect.DeepEqual(got.members, want) {
					t.Errorf("rank %d: Join = %v, %v; want %v", r, got.members, got.err, want)
				}
			}
		})
	}
}

func TestJoinSetsSelfRank(t *testing.T) {
	s, _ := startServer(t)
	c := dial(t, s, "ns")
	got, err := Join(testContext(t), c, "p/", 0, 1, Member{Rank: 7, Addr: "a", Host: "h"})
	if want := []Member{{Rank: 0, Addr: "a", Host: "h"}}; err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("Join(rank 0, self.Rank 7) = %v, %v; want %v", got, err, want)
	}
}

func TestJoinWorldSizeMismatch(t *testing.T) {
	s, _ := startServer(t)
	ctx := testContext(t)
	const prefix = "comm/0/"
	observer := dial(t, s, "job")
	// Ranks 0, 1, 2 of a world of 8 join and wait.
	early := joinAll(t, ctx, s, "job", prefix, 8, joinBatch, 0, 1, 2)
	claimed(t, ctx, observer, prefix, 0, 1, 2)

	// Rank 3 believes the world has 4 ranks.
	offender := dial(t, s, "job")
	_, err := Join(ctx, offender, prefix, 3, 4, member(3))
	want := &WorldSizeError{Rank: 3, Size: 4, Want: 8}
	if !reflect.DeepEqual(err, want) {
		t.Fatalf("Join(rank 3, size 4) = %v; want %v", err, want)
	}
	if got, text := err.Error(), "rank 3 says world size 4 but rank(s) already joined with world size 8"; got != text {
		t.Fatalf("WorldSizeError = %q; want %q", got, text)
	}
	// Everyone else fails at once, told why.
	late := joinAll(t, ctx, s, "job", prefix, 8, joinBatch, 4)
	for r, ch := range mergeJoins(early, late) {
		got := <-ch
		if _, ok := errors.AsType[*AbortError](got.err); !ok || !strings.Contains(got.err.Error(), want.Error()) {
			t.Errorf("rank %d: Join = %v, %v; want an *AbortError naming %q", r, got.members, got.err, want)
		}
	}
}

func TestJoinDuplicateRank(t *testing.T) {
	s, _ := startServer(t)
	ctx := testContext(t)
	const prefix = "comm/1/"
	observer := dial(t, s, "job")
	early := joinAll(t, ctx, s, "job", prefix, 4, joinBatch, 0, 1, 2)
	claimed(t, ctx, observer, prefix, 0, 1, 2)

	// A second process claims rank 2 from another host.
	impostor := dial(t, s, "job")
	_, err := Join(ctx, impostor, prefix, 2, 4, Member{Addr: "10.9.9.9:1", Host: "other"})
	want := &DuplicateRankError{Rank: 2, Other: member(2)}
	if !reflect.DeepEqual(err, want) {
		t.Fatalf("second Join(rank 2) = %v; want %v", err, want)
	}
	if !strings.Contains(err.Error(), `rank 2 claimed twice: already held by host "node02" (addr "10.0.0.2:5002")`) {
		t.Fatalf("DuplicateRankError = %q; want it to name the first claimant", err)
	}
	late := joinAll(t, ctx, s, "job", prefix, 4, joinBatch, 3)
	for r, ch := range mergeJoins(early, late) {
		got := <-ch
		if _, ok := errors.AsType[*AbortError](got.err); !ok || !strings.Contains(got.err.Error(), "rank 2 claimed twice") {
			t.Errorf("rank %d: Join = %v, %v; want an *AbortError naming the duplicate rank", r, got.members, got.err)
		}
	}
}

func TestJoinTimeoutNamesMissingRanks(t *testing.T) {
	s, _ := startServer(t)
	tests := []struct {
		name  string
		batch int
	}{
		{"one wait", joinBatch},
		{"batched waits", 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testContext(t)
			prefix := "comm/" + tt.name + "/"
			observer := dial(t, s, "job"+tt.name)
			jctx, cancel := context.WithCancel(ctx)
			defer cancel()
			joins := joinAll(t, jctx, s, "job"+tt.name, prefix, 8, tt.batch, 0, 3, 6)
			claimed(t, ctx, observer, prefix, 0, 3, 6)
			// Cancel once every joiner waits for the others (one wait per batch).
			waitersReach(t, s, 3*((8+tt.batch-1)/tt.batch))
			cancel()
			text := fmt.Sprintf("waiting for ranks 1, 2, 4, 5, 7 of 8 to join at %s", s.Addr())
			for r, ch := range joins {
				got := <-ch
				jte, ok := errors.AsType[*JoinTimeoutError](got.err)
				if !ok || !slices.Equal(jte.Missing, []int{1, 2, 4, 5, 7}) || !errors.Is(got.err, context.Canceled) {
					t.Fatalf("rank %d: Join = %v; want a *JoinTimeoutError missing ranks 1, 2, 4, 5, 7", r, got.err)
				}
				if !strings.Contains(got.err.Error(), text) {
					t.Fatalf("rank %d: Join = %q; want it to contain %q", r, got.err, text)
				}
			}
			waitersReach(t, s, 0)
		})
	}
}

func TestJoinInvalidArguments(t *testing.T) {
	s, _ := startServer(t)
	ctx := testContext(t)
	c := dial(t, s, "job")
	tests := []struct {
		name       string
		rank, size int
		self       Member
		want       string
	}{
		{"negative rank", -1, 4, member(0), "rank -1 out of range [0, 4)"},
		{"rank equals size", 4, 4, member(0), "rank 4 out of range [0, 4)"},
		{"zero size", 0, 0, member(0), "world size 0 out of range"},
		{"huge size", 0, MaxWorldSize + 1, member(0), "out of range"},
		{"long address", 0, 4, Member{Addr: strings.Repeat("a", 257)}, "longer than 256 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Join(ctx, c, "p/", tt.rank, tt.size, tt.self)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Join(rank %d, size %d) = %v; want error containing %q", tt.rank, tt.size, err, tt.want)
			}
			if _, err := c.Get(ctx, "p/size"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("Get(p/size) after a rejected Join = %v; want ErrNotFound (store untouched)", err)
			}
		})
	}
}

func TestJoinConcurrentWorlds(t *testing.T) {
	// Two jobs share a store and a prefix: namespaces keep them apart, and
	// jobB's abort does not reach jobA's waiting members.
	s, _ := startServer(t)
	ctx := testContext(t)
	a := joinAll(t, ctx, s, "jobA", "comm/", 3, joinBatch, 0, 1)
	claimed(t, ctx, dial(t, s, "jobA"), "comm/", 0, 1)
	b := joinAll(t, ctx, s, "jobB", "comm/", 2, joinBatch, 0, 1)
	for r, ch := range b {
		if got := <-ch; got.err != nil || len(got.members) != 2 {
			t.Fatalf("jobB rank %d: Join = %v, %v; want 2 members", r, got.members, got.err)
		}
	}
	if _, err := Join(ctx, dial(t, s, "jobB"), "comm/", 0, 5, member(0)); !errors.As(err, new(*WorldSizeError)) {
		t.Fatalf("jobB Join(size 5) = %v; want *WorldSizeError", err)
	}
	for r, ch := range mergeJoins(a, joinAll(t, ctx, s, "jobA", "comm/", 3, joinBatch, 2)) {
		if got := <-ch; got.err != nil || len(got.members) != 3 {
			t.Fatalf("jobA rank %d: Join = %v, %v; want 3 members", r, got.members, got.err)
		}
	}
}

func mergeJoins(ms ...map[int]<-chan joined) map[int]<-chan joined {
	out := make(map[int]<-chan joined)
	for _, m := range ms {
		for r, ch := range m {
			out[r] = ch
		}
	}
	return out
}

func TestListed(t *testing.T) {
	many := make([]string, 40)
	for i := range many {
		many[i] = fmt.Sprint(i)
	}
	tests := []struct {
		items []string
		want  string
	}{
		{[]string{"2"}, "rank 2"},
		{[]string{"2", "5"}, "ranks 2, 5"},
		{many, "ranks " + strings.Join(many[:32], ", ") + " and 8 more"},
	}
	for _, tt := range tests {
		if got := listed("rank", "ranks", tt.items); got != tt.want {
			t.Errorf("listed(%q) = %q; want %q", tt.items, got, tt.want)
		}
	}
}

func TestJoinCorruptRecords(t *testing.T) {
	s, _ := startServer(t)
	tests := []struct {
		name  string
		steps []step
		want  string
	}{
		{"size not a number", []step{set("p/size", "eight")}, `holds "eight", not a world size`},
		{"claim not a record", []step{set("p/size", "2"), set("p/rank/1", "\xc1")}, "record of rank 1: malformed member record"},
		{"other's record not a record", []step{set("p/size", "2"), set("p/rank/0", "junk")}, "record of rank 0: malformed member record"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testContext(t)
			c := dial(t, s, t.Name())
			run(t, ctx, c, tt.steps)
			_, err := Join(ctx, c, "p/", 1, 2, member(1))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Join(rank 1 of 2) = %v; want error containing %q", err, tt.want)
			}
		})
	}
}
