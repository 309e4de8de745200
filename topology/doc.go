// Package topology describes the network between nodes and derives plans
// for collectives from it, all as plain data: specs, routes, placements,
// rings, trees and partner lists that can be printed, saved as JSON,
// loaded and compared between ranks (Plan.Digest).
//
// # Networks
//
// Parse reads one grammar: flat, torus:4x4x4 (any number of dimensions,
// any sizes), mesh:4x6, tofu:XxYxZ (Fugaku's Tofu-D, X x Y x Z x 2 x 3 x 2),
// dragonfly:groups=G,routers=A,nodes=P[,global=H] and the presets fugaku
// (tofu:24x23x24) and aurora (166 groups x 32 routers x 2 nodes, two global
// links between every pair of groups). Each Topology routes deterministically
// (dimension order on tori and meshes, minimal local-global-local on a
// dragonfly) and reports Hops and Route, the directed Links a flow crosses.
//
// # Placement and plans
//
// A Placement maps ranks to nodes (Place: linear, random:SEED; PlaceJSON and
// PlaceFile: a placement file; PlaceCoords: per-rank KIZUNA_COORD values;
// PlaceBy: any of them from one spec and every rank's RankInfo, the host
// name and KIZUNA_COORD a communicator gathers at start).
// EmbedRing orders ranks along a Hamiltonian cycle of the network (NodeCycle)
// so that every ring step crosses one link; EmbedRings adds edge-disjoint
// rings, up to both directions of every dimension of a torus from
// DisjointCycles; DoubleTree builds two spanning trees whose groups stay
// connected subtrees. LinkLoad prices one step of flows: the most flows on
// one link, the longest route, the global links crossed.
//
// Every value is immutable once built, and every function may be called
// concurrently; no function retains the slices it is given (Placement and
// plan values returned are the caller's).
package topology
