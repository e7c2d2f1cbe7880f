#!/usr/bin/env bash
# run.sh: every benchmark in bench/, one after the other (make bench). Each prints its own
# table with the named anchor side by side. Usage: bench/run.sh BUILD_DIR
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../build}
for b in interp_bench.sh models.sh gemm.sh train_bench.sh quantize_accuracy.sh; do
  [ -x "$here/$b" ] || [ -f "$here/$b" ] || continue
  echo "=== bench/$b"
  bash "$here/$b" "$build" || echo "bench/$b failed"
done
