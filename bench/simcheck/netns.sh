#!/usr/bin/env bash
# Kernel-level check of `kizuna sim`: N network namespaces joined in a ring
# (torus:N), every directed link a veth whose egress is shaped by a tbf
# qdisc at RATE, routed shortest-direction (ties upward, as
# topology.Route); N kizuna ranks, one per namespace, run a ring all-reduce
# over real TCP; then `kizuna sim` prices the same sweep with the link at
# RATE. Needs root and iproute2 (ip, tc). Cleans up its namespaces on exit.
#
#   sudo KIZUNA=/tmp/kizuna N=4 RATE=80mbit bench/simcheck/netns.sh
set -euo pipefail
N=${N:-4}
RATE=${RATE:-80mbit}
KIZUNA=${KIZUNA:-kizuna}
SIZES=${SIZES:-"-b 1M -e 16M -f 4"}
ALGO=${ALGO:-ring}

ns() { echo "kzsim$1"; }
cleanup() {
	for i in $(seq 0 $((N - 1))); do ip netns del "$(ns "$i")" 2>/dev/null || true; done
}
trap cleanup EXIT
cleanup

for i in $(seq 0 $((N - 1))); do
	ip netns add "$(ns "$i")"
	ip -n "$(ns "$i")" link set lo up
	ip -n "$(ns "$i")" addr add "10.77.0.$((i + 1))/32" dev lo
	ip netns exec "$(ns "$i")" sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
done
# Link i joins node i (device p$i) and node i+1 (device m$j), 10.78.i.0/30.
for i in $(seq 0 $((N - 1))); do
	j=$(((i + 1) % N))
	ip link add "p$i" netns "$(ns "$i")" type veth peer name "m$j" netns "$(ns "$j")"
	ip -n "$(ns "$i")" addr add "10.78.$i.1/30" dev "p$i"
	ip -n "$(ns "$j")" addr add "10.78.$i.2/30" dev "m$j"
	ip -n "$(ns "$i")" link set "p$i" up
	ip -n "$(ns "$j")" link set "m$j" up
	tc -n "$(ns "$i")" qdisc add dev "p$i" root tbf rate "$RATE" burst 64kb latency 2s
	tc -n "$(ns "$j")" qdisc add dev "m$j" root tbf rate "$RATE" burst 64kb latency 2s
done
for i in $(seq 0 $((N - 1))); do
	ip netns exec "$(ns "$i")" sh -c 'for f in /proc/sys/net/ipv4/conf/*/rp_filter; do echo 0 >"$f"; done'
done
# Routes (from each node's own address): forward distance f = (d-k) mod N; up when f <= N/2.
for k in $(seq 0 $((N - 1))); do
	prev=$(((k + N - 1) % N))
	for d in $(seq 0 $((N - 1))); do
		[ "$d" = "$k" ] && continue
		f=$(((d - k + N) % N))
		if [ $((2 * f)) -le "$N" ]; then
			ip -n "$(ns "$k")" route add "10.77.0.$((d + 1))/32" via "10.78.$k.2" dev "p$k" src "10.77.0.$((k + 1))"
		else
			ip -n "$(ns "$k")" route add "10.77.0.$((d + 1))/32" via "10.78.$prev.1" dev "m$k" src "10.77.0.$((k + 1))"
		fi
	done
done

echo "# $N namespaces in a ring, links shaped to $RATE per direction (tbf); load: $(cut -d' ' -f1-3 /proc/loadavg)"
pids=()
for r in $(seq 0 $((N - 1))); do
	ip netns exec "$(ns "$r")" env KIZUNA_RANK="$r" KIZUNA_WORLD_SIZE="$N" KIZUNA_MASTER_ADDR=10.77.0.1:29577 \
		KIZUNA_BIND_ADDR="10.77.0.$((r + 1))" KIZUNA_TRANSPORT=tcp KIZUNA_TOPOLOGY="torus:$N" KIZUNA_ALGO="allreduce:$ALGO" \
		KIZUNA_TOKEN=netns-check "$KIZUNA" bench -op allreduce $SIZES -n 3 -w 1 -c 0 >"/tmp/kzsim-rank$r.out" 2>&1 &
	pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
echo "## measured (kizuna bench, rank 0)"
cat /tmp/kzsim-rank0.out
bw=$(echo "$RATE" | sed 's/mbit$//')
echo "## predicted (kizuna sim -topology torus:$N -algo $ALGO $SIZES -link-bw $(awk "BEGIN{print $bw/8/1000}"))"
"$KIZUNA" sim -topology "torus:$N" -algo "$ALGO" $SIZES -link-bw "$(awk "BEGIN{print $bw/8/1000}")" -link-lat 0 -alpha 50
