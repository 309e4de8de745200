package rendezvous

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/vmihailenco/msgpack/v5"
)

const (
	// MaxWorldSize bounds Join's size.
	MaxWorldSize = 1 << 20
	// maxMemberField bounds Member.Addr and Member.Host, in bytes.
	maxMemberField = 256
	// maxPrefix leaves room in a key for "rank/" and the rank.
	maxPrefix = MaxKeySize - 32
	// joinBatch bounds the keys of one Wait or get-many in Join: 4096 keys
	// of at most MaxKeySize bytes, or 4096 records of under 600 bytes, fit
	// one frame.
	joinBatch = 4096
)

// Member is one rank of a world, as Join returns it.
type Member struct {
	Rank int
	Addr string // what the rank publishes: its transport's listen address
	Host string
}

// Join registers rank in a world of size ranks under prefix (e.g. "comm/0/")
// in c's namespace and returns every member, indexed by rank, once all size
// ranks have joined. Every rank gets the same list. self.Rank is set to rank;
// self.Addr and self.Host are at most 256 bytes each.
//
// Join detects:
//   - a rank outside [0, size): an error at once, before touching the store;
//   - a world size that differs from the one the first joiner recorded:
//     *WorldSizeError;
//   - a rank claimed by two callers: *DuplicateRankError, to the later one;
//   - ctx ending while it waits for the other ranks: *JoinTimeoutError
//     naming the missing ranks (ctx ending in an earlier step returns that
//     step's error, which wraps ctx's error too).
//
// On a world-size mismatch or a duplicate rank Join aborts the namespace
// (Client.Abort), so that every other Join in it fails at once with an
// error wrapping *AbortError that names the cause. A prefix is good for one
// world: a later world, or a retry after an abort, needs a fresh prefix (and
// after an abort the AbortKey deleted, or a fresh namespace).
//
// Join takes four round trips to the store when size is at most 4096 (one
// Wait and one get-many more per further 4096 ranks):
//  1. CompareAndSet prefix+"size" from absent to size: the first joiner
//     records the size, later ones compare against it.
//  2. CompareAndSet prefix+"rank/<rank>" from absent to the member record
//     with a random nonce: the claim and the record are one key, so a second
//     claimant sees the first one's host and address.
//  3. Wait for every rank's key. The server holds it, watching one missing
//     key at a time, and, when ctx ends, says which keys are missing, which
//     names the missing ranks without a counter or a "complete" key.
//  4. Fetch every record in one request.
func Join(ctx context.Context, c *Client, prefix string, rank, size int, self Member) ([]Member, error) {
	return join(ctx, c, prefix, rank, size, self, joinBatch)
}

// join is Join with the batch size as a parameter, for tests.
func join(ctx context.Context, c *Client, prefix string, rank, size int, self Member, batch int) ([]Member, error) {
	switch {
	case size < 1 || size > MaxWorldSize:
		return nil, fmt.Errorf("rendezvous: join %q: world size %d out of range [1, %d]", prefix, size, MaxWorldSize)
	case rank < 0 || rank >= size:
		return nil, fmt.Errorf("rendezvous: join %q: rank %d out of range [0, %d)", prefix, rank, size)
	case len(prefix) > maxPrefix:
		return nil, fmt.Errorf("rendezvous: join: prefix of %d bytes, limit %d", len(prefix), maxPrefix)
	case len(self.Addr) > maxMemberField || len(self.Host) > maxMemberField:
		return nil, fmt.Errorf("rendezvous: join %q: member address or host longer than %d bytes", prefix, maxMemberField)
	}
	self.Rank = rank
	fail := func(err error) ([]Member, error) {
		return nil, fmt.Errorf("rendezvous: join %q as rank %d: %w", prefix, rank, err)
	}

	ours := strconv.AppendInt(nil, int64(size), 10)
	cur, swapped, err := c.CompareAndSet(ctx, prefix+"size", nil, ours)
	if err != nil {
		return fail(err)
	}
	if !swapped && !bytes.Equal(cur, ours) {
		want, err := strconv.Atoi(string(cur))
		if err != nil {
			return fail(fmt.Errorf("key %q holds %q, not a world size", prefix+"size", cur))
		}
		return nil, abortJoin(ctx, c, prefix, &WorldSizeError{Rank: rank, Size: size, Want: want})
	}

	nonce := rand.Text()
	rec, err := encodeMember(nonce, self)
	if err != nil {
		return fail(err)
	}
	cur, swapped, err = c.CompareAndSet(ctx, rankKey(prefix, rank), nil, rec)
	if err != nil {
		return fail(err)
	}
	if !swapped {
		other, otherNonce, err := decodeMember(cur)
		if err != nil {
			return fail(fmt.Errorf("record of rank %d: %w", rank, err))
		}
		if otherNonce != nonce {
			return nil, abortJoin(ctx, c, prefix, &DuplicateRankError{Rank: rank, Other: other})
		}
	}

	keys := make([]string, size)
	for r := range keys {
		keys[r] = rankKey(prefix, r)
	}
	if err := waitBatches(ctx, c, keys, batch); err != nil {
		if we, ok := errors.AsType[*WaitError](err); ok {
			return nil, &JoinTimeoutError{
				Prefix: prefix, Addr: c.Addr(), Size: size,
				Missing: ranksOf(prefix, we.Missing), Err: we.Err,
			}
		}
		return fail(err)
	}

	members := make([]Member, size)
	for lo := 0; lo < size; lo += batch {
		hi := min(lo+batch, size)
		vals, err := c.getMany(ctx, keys[lo:hi])
		if err != nil {
			return fail(err)
		}
		for i, v := range vals {
			r := lo + i
			if v == nil {
				return fail(fmt.Errorf("record of rank %d deleted while joining", r))
			}
			m, _, err := decodeMember(v)
			if err != nil {
				return fail(fmt.Errorf("record of rank %d: %w", r, err))
			}
			if m.Rank != r {
				return fail(fmt.Errorf("record under rank %d names rank %d", r, m.Rank))
			}
			members[r] = m
		}
	}
	return members, nil
}

// abortJoin aborts c's namespace with cause as the reason and returns cause.
func abortJoin(ctx context.Context, c *Client, prefix string, cause error) error {
	if err := c.Abort(ctx, fmt.Sprintf("join %q: %v", prefix, cause)); err != nil {
		return fmt.Errorf("%w (aborting the other members failed too: %v)", cause, err)
	}
	return cause
}

func rankKey(prefix string, rank int) string {
	return prefix + "rank/" + strconv.Itoa(rank)
}

// ranksOf returns the ranks of rank keys, ascending.
func ranksOf(prefix string, keys []string) []int {
	ranks := make([]int, 0, len(keys))
	for _, k := range keys {
		if r, err := strconv.Atoi(strings.TrimPrefix(k, prefix+"rank/")); err == nil {
			ranks = append(ranks, r)
		}
	}
	slices.Sort(ranks)
	return slices.Compact(ranks)
}

// waitBatches waits for keys, batch keys per Wait, the Waits running
// concurrently so that a timeout names every missing key.
func waitBatches(ctx context.Context, c *Client, keys []string, batch int) error {
	if len(keys) <= batch {
		return c.Wait(ctx, keys...)
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make([]error, (len(keys)+batch-1)/batch)
	var wg sync.WaitGroup
	for i := range errs {
		wg.Go(func() {
			errs[i] = c.Wait(wctx, keys[i*batch:min((i+1)*batch, len(keys))]...)
			if errs[i] != nil {
				cancel() // one batch failing fails the join
			}
		})
	}
	wg.Wait()
	var timeout *WaitError
	var missing []string
	for _, err := range errs {
		if err == nil {
			continue
		}
		we, ok := errors.AsType[*WaitError](err)
		if !ok {
			return err // an abort or a broken connection, not the cancellation it caused
		}
		timeout = we
		missing = append(missing, we.Missing...)
	}
	if timeout == nil {
		return nil
	}
	cause := ctx.Err()
	if cause == nil {
		cause = timeout.Err
	}
	return &WaitError{Namespace: timeout.Namespace, Missing: missing, Err: cause}
}

// A member record is the msgpack array [nonce, rank, addr, host].
const memberFields = 4

func encodeMember(nonce string, m Member) ([]byte, error) {
	var b bytes.Buffer
	e := msgpack.NewEncoder(&b)
	err := errors.Join(
		e.EncodeArrayLen(memberFields),
		e.EncodeString(nonce),
		e.EncodeInt(int64(m.Rank)),
		e.EncodeString(m.Addr),
		e.EncodeString(m.Host),
	)
	if err != nil {
		return nil, fmt.Errorf("encode member record: %w", err)
	}
	return b.Bytes(), nil
}

func decodeMember(b []byte) (m Member, nonce string, err error) {
	d := newDecoder()
	d.Reset(b)
	if err := d.Fields(memberFields); err != nil {
		return Member{}, "", fmt.Errorf("malformed member record: %w", err)
	}
	if nonce, err = d.Str(maxMemberField); err != nil {
		return Member{}, "", fmt.Errorf("member nonce: %w", err)
	}
	r, err := d.Msgpack().DecodeInt64()
	if err != nil {
		return Member{}, "", fmt.Errorf("member rank: %w", err)
	}
	if r < 0 || r >= MaxWorldSize {
		return Member{}, "", fmt.Errorf("member rank %d out of range", r)
	}
	m.Rank = int(r)
	if m.Addr, err = d.Str(maxMemberField); err != nil {
		return Member{}, "", fmt.Errorf("member addr: %w", err)
	}
	if m.Host, err = d.Str(maxMemberField); err != nil {
		return Member{}, "", fmt.Errorf("member host: %w", err)
	}
	if err := d.End(); err != nil {
		return Member{}, "", fmt.Errorf("member record: %w", err)
	}
	return m, nonce, nil
}
