#!/usr/bin/env bash
# Runs every fuzz target in the module for a short time each (default 10s).
# A target fails the run when it wrote a failing input to
# testdata/fuzz/<target>/. A bare "context deadline exceeded" at the end of
# -fuzztime with no input written is Go's own coordinator race
# (golang/go#75804, fixed in Go 1.27): reported as a flake and run once more.
set -euo pipefail
cd "$(dirname "$0")/.."
t=${1:-10s}
inputs() { if [ -d "$1" ]; then find "$1" -type f | wc -l; else echo 0; fi; }
failed=0
while read -r f; do
  pkg=./$(dirname "${f#./}")
  while read -r name; do
    corpus="$pkg/testdata/fuzz/$name"
    for try in 1 2; do
      echo "fuzz $pkg $name ($t)"
      before=$(inputs "$corpus")
      # -fuzzminimizetime: shrinking each new interesting input may take up to
      # 60 s by default, which can eat a short run's whole time (seen on
      # FuzzParseConfig: 0 execs/s from 18 s of 30)
      if out=$(go test -run '^$' -fuzz "^${name}\$" -fuzztime "$t" -fuzzminimizetime 2s "$pkg" 2>&1); then
        break
      fi
      if [ "$(inputs "$corpus")" = "$before" ] && grep -q 'context deadline exceeded' <<<"$out" && [ "$try" = 1 ]; then
        echo "FLAKE $pkg $name: context deadline exceeded, no input written (golang/go#75804); once more"
        continue
      fi
      echo "FAIL $pkg $name"
      tail -30 <<<"$out"
      failed=1
      break
    done
  done < <(grep -o '^func Fuzz[A-Za-z0-9_]*' "$f" | sed 's/^func //')
done < <(grep -rl --include='*_test.go' '^func Fuzz' . | grep -v node_modules)
exit "$failed"
