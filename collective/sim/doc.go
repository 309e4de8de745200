// Package sim prices Kizuna's collective schedules on a network model: the
// engine behind `kizuna sim`.
//
// A Pricer takes a Machine (a topology.Topology, a Placement of ranks on
// its nodes, the schedule.Layout the runtime would derive there, and a Net
// of link figures) and prices a Query (collective, algorithm, count) by
// running the very schedules package schedule builds for the executor:
//
//   - Lock-step rounds: step i of every rank's schedule is one round.
//   - Each round's messages are routed together with the topology's
//     deterministic routing. Link sharing is bottleneck-link: a link's
//     bandwidth is split evenly among the messages that cross it in the
//     round, and a message moves at the rate of the most shared link on its
//     route, so it arrives Alpha + hops·HopLatency + load·bytes/LinkBW after
//     the round starts. With equal-sized messages (as in every schedule
//     here) the round's completion time is the max-min fair one.
//   - Each rank applies its receives in schedule order, waiting for each
//     and reducing it at Gamma per byte; local copies cost Gamma per byte
//     before the sends. A round ends when its slowest rank is done; a call
//     costs the sum of its rounds.
//
// Rounds whose messages follow the same pattern are routed once: the full
// evaluator (every rank's schedule) caches patterns by their flows, and the
// symmetric evaluator (ring all-reduce, all-gather and reduce-scatter;
// torus and hierarchical all-reduce) builds one
// representative rank's schedule, derives every other rank's messages by
// translation along the ring, the torus grid or the dragonfly groups, and
// keys patterns by the representative's relations to its peers: every step
// of a ring is one pattern. The symmetric evaluator first checks the real
// schedules of a spread of ranks against the translation (ErrAsymmetric if
// one differs); the package tests check it against the full evaluator.
//
// A Pricer is not safe for concurrent use; separate Pricers are
// independent. Nothing retains the caller's slices beyond the Machine,
// which must not change while the Pricer is used.
package sim
