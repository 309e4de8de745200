// Package ntstore copies memory with non-temporal stores, which write
// around the caches instead of first taking each line into this
// processor's cache. That is faster when the lines written are held by
// another processor that is far away (the shared-memory transport's
// rings, transport/shm/copy.go), and slower when a nearby processor reads
// them next from its cache. Copy is safe for concurrent use on disjoint
// destinations and retains nothing.
package ntstore
