#!/usr/bin/env bash
# Runs every fuzz target in the module for a short time each (default 10s).
set -euo pipefail
cd "$(dirname "$0")/.."
t=${1:-10s}
grep -rl --include='*_test.go' '^func Fuzz' . | grep -v node_modules | while read -r f; do
  pkg=./$(dirname "${f#./}")
  grep -o '^func Fuzz[A-Za-z0-9_]*' "$f" | sed 's/^func //' | while read -r name; do
    echo "fuzz $pkg $name ($t)"
    # -fuzzminimizetime: shrinking each new interesting input may take up to
    # 60 s by default, which can eat a short run's whole time (seen on
    # FuzzParseConfig: 0 execs/s from 18 s of 30)
    out=$(go test -run '^$' -fuzz "^${name}\$" -fuzztime "$t" -fuzzminimizetime 2s "$pkg" 2>&1) || {
      echo "FAIL $pkg $name"; echo "$out" | tail -30; exit 1; }
  done
done
