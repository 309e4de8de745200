// Command tpmlp trains a Megatron-style two-layer MLP with tensor and data
// parallelism on Kizuna, and prints the same losses whatever the layout.
//
//	kizuna run -np 4 -- ./tpmlp -tp 2 -dp 2 -steps 50
//	kizuna run -np 1 -- ./tpmlp -tp 1 -dp 1 -steps 50   # the same losses
//
// The model maps x (-in features) to z (-out features):
//
//	u = g ⊙ x                  g: a gain, like a LayerNorm's, replicated
//	a = W1 u + b1              W1, b1: column-parallel (rows split over TP)
//	z = W2 gelu(a) + b2        W2: row-parallel (columns split over TP); b2 replicated
//
// and is trained by SGD on the mean squared error against a fixed random
// teacher, y = tanh(T x), with inputs drawn from -seed. Each TP rank holds
// -hidden/TP of the hidden units: its rows of W1 and b1 and its columns of
// W2, so it computes a partial z that one all-reduce over the TP group
// completes (the forward all-reduce, Megatron's g). In the backward pass
// each TP rank gets a partial gradient of u from its hidden units, which one
// all-reduce over the TP group completes (Megatron's f) to give the gain's
// gradient. The global batch (-batch) is split across the DP groups; each
// DP group's gradients are summed by a bucketer (package collective/bucket)
// whose bucket all-reduces start during the backward pass as soon as their
// gradients are final, overlapping with the rest of it. The loss is averaged
// over the global batch.
//
// Ranks form a collective.Mesh: rank = dp*TP + tp. Every rank draws the
// same parameters and samples from -seed, by index (a counter-based
// generator), and keeps its own shard, so the data and the initial model
// are the same for every layout, and the losses agree with one process's to
// rounding (float64 throughout; sums are only associated differently).
//
// Rank 0 prints one line per step, "step N loss X", X with 12 significant
// digits, after a "#" header line. Outside any launcher tpmlp runs alone,
// as a job of one rank.
package main
