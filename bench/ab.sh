#!/usr/bin/env bash
# A/B comparison of two kizuna builds (or wrapper scripts that set an
# environment variable and exec one), interleaved so that a change in the
# machine's speed touches both alike.
#
# usage: bench/ab.sh A B REPS [kizuna bench flags...]
#   e.g. bench/ab.sh /tmp/kz-old /tmp/kz-new 4 -transport tcp -np 2 -b 8 -e 4M -f 8 -n 200
#
# Runs `A bench FLAGS -c 0` then `B bench FLAGS -c 0`, REPS times, and
# prints per size the median over runs of 1000/mean time (operations per
# millisecond) for each, and the median of the per-run ratios B/A (above 1:
# B is faster).
set -euo pipefail
[[ $# -ge 3 ]] || { sed -n '2,12p' "$0" >&2; exit 2; }
a=$1 b=$2 reps=$3
shift 3
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for i in $(seq "$reps"); do
  for side in A B; do
    bin=$a; [[ $side == B ]] && bin=$b
    "$bin" bench "$@" -c 0 2>&1 | grep -v '^#' | awk -v s="$side" -v i="$i" 'NF > 10 {print s, i, $1, 1000 / $7}' >> "$out"
  done
done
python3 - "$out" <<'PY'
import collections, statistics as st, sys
runs = collections.defaultdict(lambda: {"A": {}, "B": {}})
for line in open(sys.argv[1]):
    side, i, size, rate = line.split()
    runs[int(size)][side][i] = float(rate)
print(f"{'size':>10} {'A ops/ms':>10} {'B ops/ms':>10} {'B/A':>6}")
for size in sorted(runs):
    a, b = runs[size]["A"], runs[size]["B"]
    ratios = [b[i] / a[i] for i in a if i in b and a[i] > 0]
    if not ratios:
        continue
    print(f"{size:>10} {st.median(a.values()):10.3f} {st.median(b.values()):10.3f} {st.median(ratios):6.2f}")
PY
