// Package schedule holds Kizuna's collective algorithms as pure schedules:
// Build maps (collective, algorithm, rank, size, count, root, chunk,
// in-place, layout) to the Steps one rank performs. Schedules never touch a socket;
// the executor in package collective runs any schedule over any transport.
// Validate and Simulate check the very schedules the runtime executes
// (Simulate is the in-memory oracle for executor tests and `kizuna sim`);
// Estimate and Choose model their cost (EstimateOn and ChooseOn with
// per-round hops and link contention); ParseAlgoSpec reads KIZUNA_ALGO.
// Every function in the package is pure and may be called concurrently;
// none retains its arguments.
//
// # Buffers
//
// Counts are in elements; p = Size, r = Rank, n = Count.
//
//	AllReduce      In[n], Out[n] on every rank; Out = reduction of all In.
//	Broadcast      In[n], read only at the root; Out[n] everywhere = root's In.
//	Reduce         In[n] everywhere; Out[n] at the root, zero-length elsewhere.
//	AllGather      In[n]; Out[n*p], block j = rank j's In.
//	ReduceScatter  In[n*p]; Out[n] = reduction over ranks of their In block r.
//	AllToAll       In[n*p], block j goes to rank j; Out[n*p], block j came from rank j.
//	Gather         In[n]; Out[n*p] at the root only.
//	Scatter        In[n*p] at the root only; Out[n] = root's In block r.
//	Barrier        no buffers; zero-length messages.
//
// InPlace means the caller passed one buffer: AllReduce, Broadcast, Reduce
// (root) and AllToAll use one memory for In and Out; for AllGather and
// Gather (root) In is Out[r*n:(r+1)*n]; for ReduceScatter and Scatter (root)
// Out is In[r*n:(r+1)*n]. It means nothing where the other buffer is
// zero-length (non-root Reduce, Gather, Scatter). Schedules skip copies that
// aliasing makes no-ops and never write the caller's In unless it aliases
// Out; in place they overwrite no input they still need (in-place AllToAll
// and ReduceScatter go through Scratch).
//
// Every count works: not divisible by p, smaller than p, zero. Blocks of a
// split count differ by at most one element (larger blocks first); empty
// blocks send nothing (both sides omit the message). Reductions only sum
// (Region = Region op received); averaging is the executor's job.
//
// # Messages and tags
//
// A Send and its Recv carry the same Tag and N; no two messages from one
// rank to another in one operation share a Tag. Tags are built from the
// stage or phase and the chunk index: ring stage s chunk c is s*C+c (C the
// largest chunk count of a stage; the chunk index alone where a pair meets
// in one stage: AllToAll, Broadcast, Reduce; the pass for Barrier); chunk k
// of tree t is 4k+2t+phase (0 up, 1 down); halving-doubling and recursive
// doubling use phase<<28 | chunk; torus, hier and swing use
// phase<<28 | step*C+chunk (phases fold, reduce-scatter, all-gather,
// unfold; C the chunk count of the step kind's largest message); multiring
// ring<<28 | stage*C+chunk. Build fails with ErrInvalid, rather than
// reuse a tag, when a count cut into ChunkElems pieces needs more tags than
// that layout holds (2^32 in all, or 2^28 chunks per phase).
//
// ChunkElems caps every message; with 0 a stage is one message.
//
// # What schedules assume of the executor
//
// The Step semantics of types.go, plus: a step is finished when its
// receives are applied and its sends have been handed off (Send returned,
// so the memory may be written again). An executor may post step i+1's
// receives once step i's sends are issued: a non-reducing receive may then
// land in its region at once; a reducing receive must be staged and applied
// only when step i+1 waits, in Recvs order. Simulate executes exactly that
// way (with one step of look-ahead) and Validate rejects Copies that
// overlap a non-reducing receive of the same step.
//
// # Algorithms
//
// With C(x) the chunk count of x elements (1 when ChunkElems is 0), q the
// largest power of two <= p and lg = log2:
//
//	ring  AllReduce      reduce-scatter then all-gather over p blocks: 2(p-1)
//	                     stages of C(n/p) steps; sends 2(p-1)/p·n, reduces (p-1)/p·n.
//	      Broadcast      pipelined chain from the root: C(n)+1 steps; sends n.
//	      Reduce         pipelined chain ending at the root: C(n)+1 steps;
//	                     sends and reduces n.
//	      AllGather      p-1 stages of C(n) steps; sends (p-1)n.
//	      ReduceScatter  p-1 stages of C(n) steps; sends and reduces (p-1)n.
//	      AllToAll       p-1 pairwise stages (stage s: to r+s, from r-s) of C(n)
//	                     steps; sends (p-1)n.
//	      Gather         pipelined chain to the root: rank v after the root
//	                     runs v stages of C(n) steps, sending v·n; the root
//	                     receives (p-1)n.
//	      Scatter        pipelined chain from the root, farthest block first:
//	                     the root sends (p-1)n; rank v sends (p-1-v)n.
//	      Barrier        two zero-byte passes around the ring: 3 steps.
//	tree  AllReduce      NCCL's double binary tree (ncclGetDtree; Sanders,
//	                     Speck & Träff 2009): two trees, the second the mirror
//	                     (p even) or shift (p odd) of the first, so each rank is
//	                     interior in at most one (for odd p rank 0 also roots
//	                     the first); each carries half the buffer, reduced up
//	                     and broadcast down chunk by chunk on a global clock
//	                     (siblings' chunks arrive in different steps, as two
//	                     receives may not reduce into one region in a step):
//	                     at most C(n/2)+3·lg p steps; sends and receives about 2n.
//	      Broadcast,     the same two trees over the p-1 other ranks, both
//	      Reduce         hung below the root: at most C(n/2)+2·lg p steps;
//	                     sends (Broadcast) or receives (Reduce) at most n.
//	hd    AllReduce      Rabenseifner: fold p onto q ranks (the first 2(p-q)
//	                     pair up; the even one sends its input and gets the
//	                     result back), lg q recursive-halving rounds, lg q
//	                     recursive-doubling rounds, unfold; every round cut into
//	                     chunks; sends 2(q-1)/q·n (plus n each way when folded).
//	rd    AllReduce      fold, then lg q full-buffer exchanges of C(n) steps
//	                     each; sends lg q·n.
//	      AllGather      p a power of two: lg p rounds, round j exchanging the
//	                     2^j blocks gathered so far with rank r^2^j; sends
//	                     (p-1)n. Other p: the ring schedule (blocks.go).
//	hd    ReduceScatter  p a power of two: lg p recursive-halving rounds
//	                     (p/2, p/4, ..., 1 blocks); sends and reduces (p-1)n.
//	                     Other p: the ring schedule.
//
// The topology-aware AllReduce algorithms read Params.Layout (see Layout,
// Needs, AvailableOn); Ring reads Layout.Ring when given, for every
// collective. With a line of d ranks at a level, the shard n_j that level
// works on (n_0 = n, n_{j+1} = n_j/d_j):
//
//	torus      Layout.Dims d_0..d_k (any sizes, odd and 1 included; ranks on
//	           the grid by Layout.Grid): for each dimension in order, a ring
//	           reduce-scatter of the shard along the rank's line, then the
//	           deeper dimensions on the block it owns, then a ring
//	           all-gather; dimensions of 1 are skipped. Σ 2(d_j-1) stages
//	           of C(n_{j+1}) steps; sends 2(p-1)/p·n, reduces (p-1)/p·n,
//	           like ring with Σ(d_j-1) instead of p-1 latencies (Mikami et
//	           al. 2018 for 2-D).
//	hier       Layout.Groups of sizes m_i, m = min m_i, g groups: the members
//	           of a group beyond the first m fold into member i mod m (the
//	           whole buffer, one extra at a time, and get the result back
//	           last); then torus over (m, g): ring reduce-scatter within the
//	           group, ring all-reduce of the 1/m shard across groups among the
//	           members with the same index, ring all-gather within the
//	           group. Equal groups: 2(m-1)+2(g-1) stages, sends 2(p-1)/p·n;
//	           unequal: plus ceil(max m_i/m)-1 fold and unfold stages of n.
//	swing      De Sensi et al. 2024, bandwidth-optimal form: on one line (the
//	           ranks, in Layout.Ring order if given) or over Layout.Dims.
//	           A line of d folds onto q = 2^floor(lg d)
//	           members (position v >= q sends its shard to v-q and gets the
//	           result back); step s of the reduce-scatter pairs position v
//	           with v+rho(s) (v even) or v-rho(s) (v odd), rho(s) =
//	           (1-(-2)^(s+1))/3 = 1, -1, 3, -5, 11, ...; each keeps the half of
//	           their common run of blocks on its side (blocks are laid out so
//	           that every run is contiguous) and reduces it; lg q steps, then
//	           the deeper levels, then lg q all-gather steps in reverse. On one
//	           line: 2 lg q steps of C(n/2^i); sends 2(q-1)/q·n (plus n each
//	           way when folded), as hd; partners are at distance |rho(s)|
//	           instead of 2^s, fewer hops on a torus. On Layout.Dims of two
//	           or more dimensions, all dimensions at once as in the paper's
//	           multidimensional version: first the folds of every dimension
//	           (an extra along d folds onto its core neighbour after the
//	           extras of earlier dimensions folded onto it), then the steps
//	           cycle through the dimensions, step t taking the next Swing
//	           step of the next dimension in turn, over prod q_d blocks whose
//	           index takes each step's slot bit, most significant first; one
//	           dimension's links per step (not the paper's multiport split
//	           of the buffer, which multiring covers).
//	multiring  Layout.Rings (or {Layout.Ring}), k <= MaxRings: Count split
//	           into k slices, slice i ring-all-reduced on ring i, all rings on
//	           one global clock (step = stage, chunk; one message per ring).
//	           2(p-1)·C(n/(kp)) steps; sends 2(p-1)/p·n in all, 2(p-1)/p·n/k
//	           per ring. With one ring it is exactly Ring on Layout.Ring.
//
// # Determinism
//
// A reduction's result depends only on (Algo, Size, Count, Root, Layout) —
// not on ChunkElems, InPlace, or timing — because every schedule fixes the order
// in which each element is combined and the executor applies receives in
// Recvs order. For AllReduce every rank ends with bitwise-identical
// values:
//
//	AllReduce      ring  each block summed once, by the rank after it in the ring, then copied
//	AllReduce      tree  each element summed once, at its tree's root, then copied down
//	AllReduce      hd    each block summed once, by its owner after the halving, then copied
//	AllReduce      torus, hier, swing  each element summed once: along the line at each
//	                     level into the one rank that owns its block at the deepest level
//	                     (folded extras reduced in first), then copied back out
//	AllReduce      multiring  each slice as ring, on its own ring
//	AllReduce      rd    every rank sums, but partners compute a+b and b+a from equal a and b,
//	                     which are bitwise equal since the sum is commutative per element; by
//	                     induction all ranks hold the same association
//	Reduce         ring  summed once at the root, in chain order
//	Reduce         tree  summed once at the root, in tree order
//	ReduceScatter  ring  each block summed once, at its destination, in ring order
//	ReduceScatter  hd    each block summed once, at its destination, pairwise by halving
//
// The tests check this symbolically (the association tree of every element
// on every rank, for every algorithm, over chunk sizes and in-place).
//
// # Scratch
//
// Schedule.Scratch elements, at most:
//
//	ring  AllReduce, Broadcast, AllGather, Barrier   0
//	ring  Reduce          2·ChunkElems (n if ChunkElems is 0), capped at n; 0 at the root and its successor
//	ring  ReduceScatter   n out of place; 2n in place (n when p = 3); 0 when p <= 2
//	ring  AllToAll        floor(p/2)·n in place; 0 otherwise
//	ring  Gather, Scatter 2n at most, on non-root ranks that forward blocks; 0 at the root
//	tree  AllReduce, Broadcast   0
//	tree  Reduce          n at most (about n/2: one half, in rotating chunk slots)
//	hd    AllReduce       0
//	torus, hier, swing, multiring  AllReduce  0
//	rd    AllReduce       n (0 when q = 2 and the rank starts out of place)
//	rd    AllGather       0
//	hd    ReduceScatter   p/2·n when p is a power of two (the kept half); else the ring's
//
// # References
//
// R. Thakur, R. Rabenseifner, W. Gropp, "Optimization of Collective
// Communication Operations in MPICH", IJHPCA 19(1), 2005. P. Sanders,
// J. Speck, J. L. Träff, "Two-tree algorithms for full bandwidth broadcast,
// reduction and scan", Parallel Computing 35(12), 2009. NCCL's
// src/graph/trees.cc for the double binary tree construction. H. Mikami
// et al., "Massively Distributed SGD: ImageNet/ResNet-50 Training in a
// Flash", arXiv 1811.05233, 2018 (2-D torus all-reduce). D. De Sensi et
// al., "Swing: Short-cutting Rings for Higher Bandwidth Allreduce", NSDI
// 2024.
package schedule
