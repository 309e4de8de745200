package rendezvous

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

var (
	// ErrNotFound is returned by Get for a key that does not exist.
	ErrNotFound = errors.New("rendezvous: key not found")
	// ErrClosed reports a closed Client, or a Server that closed while a
	// request waited on it.
	ErrClosed = errors.New("rendezvous: closed")
)

var (
	_ error = (*AbortError)(nil)
	_ error = (*WaitError)(nil)
	_ error = (*WorldSizeError)(nil)
	_ error = (*DuplicateRankError)(nil)
	_ error = (*JoinTimeoutError)(nil)
)

// AbortError is returned by Wait, and by Join, when the namespace was aborted
// (see Client.Abort).
type AbortError struct {
	Reason string
}

func (e *AbortError) Error() string {
	return "rendezvous: aborted: " + e.Reason
}

// WaitError is returned by Wait when its ctx ended before every key existed.
// It wraps ctx's error.
type WaitError struct {
	Namespace string
	Missing   []string // the keys that did not exist when the wait was withdrawn
	Err       error
}

func (e *WaitError) Error() string {
	quoted := make([]string, len(e.Missing))
	for i, k := range e.Missing {
		quoted[i] = strconv.Quote(k)
	}
	return fmt.Sprintf("rendezvous: wait in namespace %q: %s still missing: %v",
		e.Namespace, listed("key", "keys", quoted), e.Err)
}

func (e *WaitError) Unwrap() error { return e.Err }

// WorldSizeError is returned by Join to a rank whose world size differs from
// the one the first joiner recorded.
type WorldSizeError struct {
	Rank int // the rank that disagrees
	Size int // the world size it asked for
	Want int // the world size recorded before it
}

func (e *WorldSizeError) Error() string {
	return fmt.Sprintf("rank %d says world size %d but rank(s) already joined with world size %d",
		e.Rank, e.Size, e.Want)
}

// DuplicateRankError is returned by Join to the second of two callers that
// claim the same rank.
type DuplicateRankError struct {
	Rank  int
	Other Member // the member that claimed Rank first
}

func (e *DuplicateRankError) Error() string {
	return fmt.Sprintf("rank %d claimed twice: already held by host %q (addr %q)",
		e.Rank, e.Other.Host, e.Other.Addr)
}

// JoinTimeoutError is returned by Join when its ctx ended before every rank
// joined. It wraps ctx's error.
type JoinTimeoutError struct {
	Prefix  string
	Addr    string // the store's address
	Size    int
	Missing []int // the ranks that had not joined, ascending
	Err     error
}

func (e *JoinTimeoutError) Error() string {
	ranks := make([]string, len(e.Missing))
	for i, r := range e.Missing {
		ranks[i] = strconv.Itoa(r)
	}
	return fmt.Sprintf("rendezvous: join %q: waiting for %s of %d to join at %s: %v",
		e.Prefix, listed("rank", "ranks", ranks), e.Size, e.Addr, e.Err)
}

func (e *JoinTimeoutError) Unwrap() error { return e.Err }

// maxListed bounds how many items an error message lists.
const maxListed = 32

// listed renders items as "rank 2" or "ranks 2, 5", eliding past maxListed.
func listed(one, many string, items []string) string {
	if len(items) == 1 {
		return one + " " + items[0]
	}
	if len(items) <= maxListed {
		return many + " " + strings.Join(items, ", ")
	}
	return fmt.Sprintf("%s %s and %d more", many, strings.Join(items[:maxListed], ", "), len(items)-maxListed)
}
