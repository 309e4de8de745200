#!/usr/bin/env bash
# Runs every fuzz target for a short time (FUZZTIME, default 5s each), one
# after another with one worker, on top of the corpus committed under each
# package's testdata/fuzz/. New crashers are written there by go test and
# fail the run. Usage: .ci/fuzz.sh [FUZZTIME]
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${1:-${FUZZTIME:-5s}}
# Every `func FuzzX` in a _test.go file, as "package-dir FuzzX".
mapfile -t targets < <(grep -rl --include='*_test.go' '^func Fuzz' . |
  while read -r f; do
    d=$(dirname "$f")
    sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' "$f" | while read -r name; do echo "$d $name"; done
  done | sort)
if [ ${#targets[@]} -eq 0 ]; then
  echo ".ci/fuzz.sh: no fuzz targets found" >&2
  exit 1
fi
fail=0
for t in "${targets[@]}"; do
  read -r dir name <<<"$t"
  echo "fuzz: $dir $name ($fuzztime)"
  if ! go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" -parallel 1 "$dir" >/tmp/fuzz.$$.log 2>&1; then
    tail -n 40 /tmp/fuzz.$$.log >&2
    fail=1
  fi
done
rm -f /tmp/fuzz.$$.log
exit $fail
