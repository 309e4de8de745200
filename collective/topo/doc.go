// Package topo bridges package topology and package schedule: LayoutFor
// turns a network and a placement into the schedule.Layout that the
// topology-aware algorithms read (embedded rings, the rank grid of a
// torus, the groups of a dragonfly, the double trees), and Analyze builds
// every rank's schedule of a collective, routes each step's messages over
// the network and reports hops, link load, global-link crossings and a
// predicted time from schedule.EstimateOn. Chooser is the runtime's
// automatic algorithm choice on a topology: each algorithm priced with the
// hops and link loads of its own steps, analysed once per (collective,
// algorithm).
//
// Everything here but Chooser is a pure function of its arguments: it may
// be called concurrently, retains none of the slices it is given, and the
// values it returns are the caller's. A Chooser is safe for concurrent use
// and retains its topology, placement and layout. Analyze builds one
// schedule per rank and routes every message, so its cost grows with ranks
// times steps; MaxRanks bounds the ranks it accepts.
package topo
