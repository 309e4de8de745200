package schedule

// ring dispatches the Ring schedules. Every ring sends to r+1 and receives
// from r-1, except AllToAll, whose step s pairs r with r+s and r-s. Here r
// is the rank's position in the ring (Layout.Ring; rank order without one)
// and "rank r+1" means the rank at position r+1 (b.rankAt): blocks that
// belong to a rank by the buffer conventions stay that rank's, so only the
// order of the traffic changes.
func (b *builder) ring() {
	switch b.p.Coll {
	case AllReduce:
		b.ringAllReduce()
	case Broadcast:
		b.ringBroadcast()
	case Reduce:
		b.ringReduce()
	case AllGather:
		b.ringAllGather()
	case ReduceScatter:
		b.ringReduceScatter()
	case AllToAll:
		b.ringAllToAll()
	case Gather:
		b.ringGather()
	case Scatter:
		b.ringScatter()
	case Barrier:
		b.ringBarrier()
	}
}

// ringLeg is a leg whose tags only need to fit in 32 bits.
func ringLeg(peer int, reg Region, tag int64, reduce bool) *leg {
	return &leg{peer: peer, reg: reg, tag: tag, lim: tagLimit, reduce: reduce}
}

// ringAllReduce is a ring reduce-scatter then a ring all-gather over p blocks
// of Count (sizes differ by at most one). Stage s of the reduce-scatter sends
// block r-s and reduces block r-s-1 received from r-1; after p-1 stages rank r
// holds the final block r+1, which the all-gather passes on. Each stage is cut
// into steps of one chunk each, so chunk c+1 travels while chunk c is reduced.
// Tag of stage s chunk c: s*C+c, C the chunk count of the largest block.
//
// Block b's final value is ((x_b + x_{b+1}) + x_{b+2}) + ... + x_{b-1} in ring
// order, computed once by rank b-1 and copied everywhere else: every rank ends
// with the same bits, and the association depends on (Size, Count) only.
func (b *builder) ringAllReduce() {
	p, r, n := b.p.Size, b.vpos, b.p.Count
	blk := func(buf Buf, i int) Region { return Region{buf, blockOff(n, p, i), blockLen(n, p, i)} }
	c := int64(nchunks(blockLen(n, p, 0), b.chunk))
	next, prev := b.rankAt(r+1), b.rankAt(r-1)
	for s := range p - 1 {
		sb, rb := mod(r-s, p), mod(r-s-1, p)
		src := Out
		var fill *Region
		if !b.p.InPlace {
			f := blk(In, rb)
			fill = &f
			if s == 0 {
				src = In
			}
		}
		t := int64(s) * c
		b.stage(ringLeg(next, blk(src, sb), t, false), ringLeg(prev, blk(Out, rb), t, true), fill, nil)
	}
	for s := range p - 1 {
		sb, rb := mod(r+1-s, p), mod(r-s, p)
		t := int64(p-1+s) * c
		b.stage(ringLeg(next, blk(Out, sb), t, false), ringLeg(prev, blk(Out, rb), t, false), nil, nil)
	}
}

// ringReduceScatter reduces block b of every rank's In along the ring
// b+1, b+2, ..., b: stage s sends block r-s-1 and reduces block r-s-2, so
// the last stage reduces block r into Out. Partial sums live in two slots
// that alternate between stages (a slot received into at stage s is sent at
// s+1 and refilled at s+2): Out and Scratch[0:n] out of place; Scratch[0:n]
// and Scratch[n:2n] in place, where Out is the caller's block r of In, which
// must stay intact until the last stage. Each block is computed once.
func (b *builder) ringReduceScatter() {
	p, r, n := b.p.Size, b.vpos, b.p.Count
	in := func(i int) Region { return Region{In, b.rankAt(i) * n, n} }
	slot := func(s int) Region {
		switch {
		case s == p-2:
			return Region{Out, 0, n}
		case (p-2-s)%2 == 1:
			b.use(n)
			return Region{Scratch, 0, n}
		case b.p.InPlace:
			b.use(2 * n)
			return Region{Scratch, n, n}
		}
		return Region{Out, 0, n}
	}
	if n == 0 {
		return
	}
	c := int64(nchunks(n, b.chunk))
	next, prev := b.rankAt(r+1), b.rankAt(r-1)
	for s := range p - 1 {
		sb, rb := r-s-1, r-s-2
		src := in(sb)
		if s > 0 {
			src = slot(s - 1)
		}
		dst := slot(s)
		var fill *Region
		if f := in(rb); !b.l.same(f, dst) {
			fill = &f
		}
		t := int64(s) * c
		b.stage(ringLeg(next, src, t, false), ringLeg(prev, dst, t, true), fill, nil)
	}
}

// ringAllGather passes blocks around the ring: stage s sends block r-s and
// receives block r-s-1.
func (b *builder) ringAllGather() {
	p, r, n := b.p.Size, b.vpos, b.p.Count
	out := func(i int) Region { return Region{Out, b.rankAt(i) * n, n} }
	if n == 0 {
		return
	}
	pre := b.copies(Region{In, 0, n}, out(r))
	c := int64(nchunks(n, b.chunk))
	next, prev := b.rankAt(r+1), b.rankAt(r-1)
	for s := range p - 1 {
		src := out(r - s)
		if s == 0 {
			src = Region{In, 0, n}
		}
		t := int64(s) * c
		b.stage(ringLeg(next, src, t, false), ringLeg(prev, out(r-s-1), t, false), nil, pre)
		pre = nil
	}
}

// ringBroadcast pipelines Count along the chain root, root+1, ..., root-1:
// step k of an interior rank forwards chunk k-1 and receives chunk k
// (tag k). The root sends from In and copies In to Out in its first step.
func (b *builder) ringBroadcast() {
	p, r, n := b.p.Size, b.vpos, b.p.Count
	v := mod(r-b.posOf(b.p.Root), p)
	k := nchunks(n, b.chunk)
	next, prev := b.rankAt(r+1), b.rankAt(r-1)
	all := func(buf Buf) Region { return Region{buf, 0, n} }
	if k == 0 {
		return
	}
	switch v {
	case 0:
		b.stage(ringLeg(next, all(In), 0, false), nil, nil, b.copies(all(In), all(Out)))
	case p - 1:
		b.stage(nil, ringLeg(prev, all(Out), 0, false), nil, nil)
	default:
		for i := range k + 1 {
			var st Step
			if i < k {
				st.Recvs = []Xfer{{Peer: prev, Tag: b.tag(int64(i), tagLimit), Region: chunkOf(all(Out), i, b.chunk)}}
			}
			if i > 0 {
				st.Sends = []Xfer{{Peer: next, Tag: b.tag(int64(i-1), tagLimit), Region: chunkOf(all(Out), i-1, b.chunk)}}
			}
			b.steps = append(b.steps, st)
		}
	}
}

// ringReduce pipelines Count along the chain root+1, root+2, ..., root: the
// first rank sends its In chunk by chunk; every later rank copies its In
// chunk k into an accumulator, reduces chunk k from r-1 into it and forwards
// chunk k-1 (tag k). The root accumulates into Out; other ranks into two
// chunk slots of Scratch. The one result is computed at the root in chain
// order, so it depends on (Size, Root, Count) only.
func (b *builder) ringReduce() {
	p, r, n := b.p.Size, b.vpos, b.p.Count
	v := mod(r-b.posOf(b.p.Root), p)
	k := nchunks(n, b.chunk)
	next, prev := b.rankAt(r+1), b.rankAt(r-1)
	all := func(buf Buf) Region { return Region{buf, 0, n} }
	if k == 0 {
		return
	}
	switch v {
	case 1:
		b.stage(ringLeg(next, all(In), 0, false), nil, nil, nil)
		return
	case 0:
		var fill *Region
		if !b.p.InPlace {
			f := all(In)
			fill = &f
		}
		b.stage(nil, ringLeg(prev, all(Out), 0, true), fill, nil)
		return
	}
	// acc is where chunk i accumulates: two alternating chunk slots when
	// that is smaller than the buffer.
	acc := func(i int) Region {
		g := chunkOf(Region{Scratch, 0, n}, i, b.chunk)
		if k > 2 {
			g.Off = (i % 2) * b.chunk
		}
		b.use(g.Off + g.N)
		return g
	}
	for i := range k + 1 {
		var st Step
		if i < k {
			g := acc(i)
			st.Copies = []Copy{{Src: chunkOf(all(In), i, b.chunk), Dst: g}}
			st.Recvs = []Xfer{{Peer: prev, Tag: b.tag(int64(i), tagLimit), Region: g, Reduce: true}}
		}
		if i > 0 {
			st.Sends = []Xfer{{Peer: next, Tag: b.tag(int64(i-1), tagLimit), Region: acc(i - 1)}}
		}
		b.steps = append(b.steps, st)
	}
}

// ringAllToAll is p-1 pairwise stages: stage s sends block r+s to rank r+s
// and receives block r-s from rank r-s (tag: chunk index; each ordered pair
// meets in one stage only). In place, a block received at stage s <= p/2
// would overwrite a block not yet sent (it leaves at stage p-s), so it lands
// in Scratch slot s-1 and is copied home at the start of stage p-s+1, or in
// a final copy step for s = 1.
func (b *builder) ringAllToAll() {
	p, r, n := b.p.Size, b.vpos, b.p.Count
	blk := func(buf Buf, i int) Region { return Region{buf, b.rankAt(i) * n, n} }
	if n == 0 {
		return
	}
	ip := b.p.InPlace
	src := In
	if ip {
		src = Out
	}
	held := func(s int) bool { return ip && 2*s <= p }
	slot := func(s int) Region {
		b.use(s * n)
		return Region{Scratch, (s - 1) * n, n}
	}
	pre := b.copies(blk(In, r), blk(Out, r))
	for s := 1; s < p; s++ {
		to, from := r+s, r-s
		if back := p - s + 1; s >= 2 && back >= 2 && held(back) {
			pre = append(pre, Copy{Src: slot(back), Dst: blk(Out, r-back)})
		}
		dst := blk(Out, from)
		if held(s) {
			dst = slot(s)
		}
		b.stage(&leg{peer: b.rankAt(to), reg: blk(src, to), lim: tagLimit},
			&leg{peer: b.rankAt(from), reg: dst, lim: tagLimit}, nil, pre)
		pre = nil
	}
	if held(1) {
		b.copyStep(slot(1), blk(Out, r-1))
	}
}

// ringGather pipelines blocks along the chain root+1, ..., root-1, root:
// stage t of rank v (v-th after the root) sends the block of rank v-t (its
// own at t = 0) and receives the block of rank v-1-t, which it forwards at
// t+1; the root receives the block of rank root-1-t (tag t*C+c). Forwarded
// blocks wait in two alternating Scratch slots of Count.
func (b *builder) ringGather() {
	p, r, n, root := b.p.Size, b.vpos, b.p.Count, b.p.Root
	rootPos := b.posOf(root)
	v := mod(r-rootPos, p)
	if n == 0 {
		return
	}
	c := int64(nchunks(n, b.chunk))
	next, prev := b.rankAt(r+1), b.rankAt(r-1)
	slot := func(t int) Region {
		g := Region{Scratch, (t % 2) * n, n}
		b.use(g.Off + n)
		return g
	}
	if v == 0 {
		pre := b.copies(Region{In, 0, n}, Region{Out, root * n, n})
		for t := range p - 1 {
			from := b.rankAt(p - 1 - t + rootPos)
			b.stage(nil, ringLeg(prev, Region{Out, from * n, n}, int64(t)*c, false), nil, pre)
			pre = nil
		}
		return
	}
	for t := range v {
		src := Region{In, 0, n}
		if t > 0 {
			src = slot(t - 1)
		}
		var recv *leg
		if t <= v-2 {
			recv = ringLeg(prev, slot(t), int64(t)*c, false)
		}
		b.stage(ringLeg(next, src, int64(t)*c, false), recv, nil, nil)
	}
}

// ringScatter pipelines blocks along the chain root, root+1, ..., root-1,
// farthest destination first: the root sends at stage t the block of the
// rank p-1-t places after it; rank v receives at stage t the block of rank
// v+p-2-t (its own at t = p-2, into Out) and forwards it at t+1 (tag t*C+c).
// Blocks in transit wait in two alternating Scratch slots of Count.
func (b *builder) ringScatter() {
	p, r, n, root := b.p.Size, b.vpos, b.p.Count, b.p.Root
	rootPos := b.posOf(root)
	v := mod(r-rootPos, p)
	if n == 0 {
		return
	}
	c := int64(nchunks(n, b.chunk))
	next, prev := b.rankAt(r+1), b.rankAt(r-1)
	slot := func(t int) Region {
		g := Region{Scratch, (t % 2) * n, n}
		b.use(g.Off + n)
		return g
	}
	if v == 0 {
		pre := b.copies(Region{In, root * n, n}, Region{Out, 0, n})
		for t := range p - 1 {
			to := b.rankAt(p - 1 - t + rootPos)
			b.stage(ringLeg(next, Region{In, to * n, n}, int64(t)*c, false), nil, nil, pre)
			pre = nil
		}
		return
	}
	for t := v - 1; t <= p-2; t++ {
		dst := Region{Out, 0, n}
		if t < p-2 {
			dst = slot(t)
		}
		var send *leg
		if t >= v {
			send = ringLeg(next, slot(t-1), int64(t)*c, false)
		}
		b.stage(send, ringLeg(prev, dst, int64(t)*c, false), nil, nil)
	}
}

// ringBarrier passes a zero-byte token around the ring twice, starting at
// rank 0 (tag = pass). When rank 0 gets the first token back every rank has
// entered; the second pass carries that news, so no rank leaves before all
// entered.
func (b *builder) ringBarrier() {
	r := b.vpos
	next, prev := b.rankAt(r+1), b.rankAt(r-1)
	send := func(t uint32) []Xfer { return []Xfer{{Peer: next, Tag: t}} }
	recv := func(t uint32) []Xfer { return []Xfer{{Peer: prev, Tag: t}} }
	if r == 0 {
		b.steps = append(b.steps,
			Step{Sends: send(0)},
			Step{Recvs: recv(0)},
			Step{Sends: send(1), Recvs: recv(1)})
		return
	}
	b.steps = append(b.steps,
		Step{Recvs: recv(0)},
		Step{Sends: send(0), Recvs: recv(1)},
		Step{Sends: send(1)})
}
