// Package bucket fuses many small gradient all-reduces into a few large
// ones, as PyTorch DDP's reducer and Horovod's tensor fusion do.
//
// A Bucketer packs the gradients of a model into buckets of about
// Config.BucketBytes (25 MiB by default), in reverse order of the
// parameters: backpropagation produces the last layers' gradients first,
// so the first bucket fills first. As the training loop marks each
// gradient final (MarkReady), a bucket whose gradients are all final is
// copied into one flat buffer and its all-reduce starts asynchronously on
// the communicator, overlapping with the rest of the backward pass. Wait
// waits for every bucket and copies the reduced (optionally averaged)
// values back into the gradients; the Bucketer is then ready for the next
// step.
//
// Buckets start in bucket order on every rank, whatever order the
// gradients become ready in (a bucket that completes early waits for the
// ones before it), so ranks always issue the same sequence of all-reduces.
package bucket
