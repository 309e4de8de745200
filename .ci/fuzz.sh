#!/usr/bin/env bash
# Runs every fuzz target briefly, one after another with one worker, on top
# of the corpus committed under each package's testdata/fuzz/ (which plain
# `go test` also runs as seed inputs). A crash makes go test write the input
# under testdata/fuzz/<Target>/ and fails this script.
#
# Usage: .ci/fuzz.sh [BUDGET]   BUDGET per target, default $FUZZ_BUDGET or 3000x
#
# The budget is an execution count ("3000x") rather than a duration: with a
# duration, Go 1.26's fuzz coordinator can report "context deadline
# exceeded" at the deadline on a loaded machine with no crasher (Go issue
# 75804, fixed in Go 1.27). A duration still works ("10s"); such a failure
# without a new input under testdata/fuzz is reported as a flake, not a
# failure.
set -euo pipefail
cd "$(dirname "$0")/.."
budget=${1:-${FUZZ_BUDGET:-3000x}}
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
# files in a corpus directory (0 when it does not exist)
count() { if [ -d "$1" ]; then find "$1" -type f | wc -l; else echo 0; fi; }
log=$(mktemp)
trap 'rm -f "$log"' EXIT
fail=0 passed=0 failed=0
for t in "${targets[@]}"; do
  read -r dir name <<<"$t"
  corpus="$dir/testdata/fuzz/$name"
  before=$(count "$corpus")
  echo "fuzz: $dir $name ($budget)"
  if go test -run '^$' -fuzz "^${name}\$" -fuzztime "$budget" -fuzzminimizetime 100x -parallel 1 "$dir" >"$log" 2>&1; then
    passed=$((passed + 1))
    continue
  fi
  after=$(count "$corpus")
  if [ "$after" -eq "$before" ] && grep -q 'context deadline exceeded' "$log"; then
    echo "fuzz: $name: 'context deadline exceeded' with no crashing input (Go issue 75804): ignored" >&2
    passed=$((passed + 1))
    continue
  fi
  tail -n 40 "$log" >&2
  failed=$((failed + 1))
  fail=1
done
echo "fuzz: $passed passed, $failed failed"
exit $fail
