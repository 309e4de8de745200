package schedule

// aliasKind says how In and Out share memory under Params.InPlace.
type aliasKind uint8

const (
	aliasNone    aliasKind = iota // In and Out are distinct memory
	aliasInInOut                  // In is Out[off : off+in]
	aliasOutInIn                  // Out is In[off : off+out]
)

// layout is the shape of one rank's caller buffers under the package's
// conventions: element counts of In and Out and how they alias.
type layout struct {
	in, out int
	kind    aliasKind
	off     int
}

// layoutOf returns the buffer shape of rank p.Rank for p. It assumes p passed
// checkParams.
func layoutOf(p Params) layout {
	n, r := p.Count, p.Rank
	var l layout
	switch p.Coll {
	case AllReduce, Broadcast:
		l.in, l.out = n, n
		if p.InPlace {
			l.kind = aliasInInOut
		}
	case Reduce:
		l.in = n
		if r == p.Root {
			l.out = n
			if p.InPlace {
				l.kind = aliasInInOut
			}
		}
	case AllGather:
		l.in, l.out = n, n*p.Size
		if p.InPlace {
			l.kind, l.off = aliasInInOut, r*n
		}
	case ReduceScatter:
		l.in, l.out = n*p.Size, n
		if p.InPlace {
			l.kind, l.off = aliasOutInIn, r*n
		}
	case AllToAll:
		l.in, l.out = n*p.Size, n*p.Size
		if p.InPlace {
			l.kind = aliasInInOut
		}
	case Gather:
		l.in = n
		if r == p.Root {
			l.out = n * p.Size
			if p.InPlace {
				l.kind, l.off = aliasInInOut, r*n
			}
		}
	case Scatter:
		l.out = n
		if r == p.Root {
			l.in = n * p.Size
			if p.InPlace {
				l.kind, l.off = aliasOutInIn, r*n
			}
		}
	}
	return l
}

// Memory spaces a Region resolves to: the caller's In memory, the caller's
// Out memory, and the executor's Scratch.
const (
	spaceIn = iota
	spaceOut
	spaceScratch
)

// resolve maps a region to (space, absolute offset), applying aliasing.
func (l layout) resolve(g Region) (space, off int) {
	switch g.Buf {
	case In:
		if l.kind == aliasInInOut {
			return spaceOut, l.off + g.Off
		}
		return spaceIn, g.Off
	case Out:
		if l.kind == aliasOutInIn {
			return spaceIn, l.off + g.Off
		}
		return spaceOut, g.Off
	}
	return spaceScratch, g.Off
}

// spaceLens returns the element counts of the In, Out and Scratch memories.
func (l layout) spaceLens(scratch int) [3]int {
	switch l.kind {
	case aliasInInOut:
		return [3]int{0, l.out, scratch}
	case aliasOutInIn:
		return [3]int{l.in, 0, scratch}
	}
	return [3]int{l.in, l.out, scratch}
}

// bufLen returns the number of elements a region of buf may address.
func (l layout) bufLen(buf Buf, scratch int) int {
	switch buf {
	case In:
		return l.in
	case Out:
		return l.out
	}
	return scratch
}

// same reports whether two regions name the same memory (so that a copy
// between them is a no-op under aliasing).
func (l layout) same(a, b Region) bool {
	sa, oa := l.resolve(a)
	sb, ob := l.resolve(b)
	return sa == sb && oa == ob && a.N == b.N
}

// overlaps reports whether two non-empty regions share an element.
func (l layout) overlaps(a, b Region) bool {
	if a.N == 0 || b.N == 0 {
		return false
	}
	sa, oa := l.resolve(a)
	sb, ob := l.resolve(b)
	return sa == sb && oa < ob+b.N && ob < oa+a.N
}

// blockOff returns the offset of block i when n elements are split into p
// blocks whose sizes differ by at most one, the larger ones first.
func blockOff(n, p, i int) int {
	q, rem := n/p, n%p
	return i*q + min(i, rem)
}

// blockLen returns the size of block i of blockOff's split.
func blockLen(n, p, i int) int {
	if i < n%p {
		return n/p + 1
	}
	return n / p
}

// nchunks returns how many messages of at most chunk elements carry n
// elements (chunk 0: no cap).
func nchunks(n, chunk int) int {
	switch {
	case n <= 0:
		return 0
	case chunk <= 0 || chunk >= n:
		return 1
	}
	return (n + chunk - 1) / chunk
}

// chunkOf returns chunk c of g when g is cut into pieces of chunk elements.
func chunkOf(g Region, c, chunk int) Region {
	if chunk <= 0 {
		return g
	}
	off := c * chunk
	return Region{Buf: g.Buf, Off: g.Off + off, N: min(chunk, g.N-off)}
}

func mod(a, p int) int {
	a %= p
	if a < 0 {
		a += p
	}
	return a
}
