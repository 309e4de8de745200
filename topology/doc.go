// Package topology describes the network between nodes as data: how many
// nodes, and how many hops a message between two of them crosses. The cost
// model prices a schedule's messages with it.
//
// For now it has the flat topology (every node one hop from every other,
// as behind one switch or on loopback); tori, Tofu-D and dragonflies come
// with their own models.
//
// Values are immutable and safe for concurrent use.
package topology
