#!/usr/bin/env bash
# Runs every native Go fuzz target for a while (default 20s each).
# `make test` already runs each target over its seed corpus; this explores.
set -euo pipefail
cd "$(dirname "$0")/.."
dur="${1:-20s}"
for dir in $(grep -rl --include='*_test.go' '^func Fuzz' . | xargs -n1 dirname | sort -u); do
  for target in $(grep -h '^func Fuzz' "$dir"/*_test.go | sed -E 's/^func (Fuzz[A-Za-z0-9_]*).*/\1/' | sort -u); do
    echo "== $dir $target ($dur)"
    go test -run '^$' -fuzz "^${target}\$" -fuzztime "$dur" "$dir"
  done
done
