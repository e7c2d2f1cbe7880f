#!/usr/bin/env bash
# Fuzzes the .tflite loader and interpreter with libFuzzer (clang), seeded from fuzz/corpus.
#   scripts/fuzz.sh [SECONDS]   (default 600). New inputs go to build-fuzz/corpus; crashes to
#   build-fuzz/crash-*. Copy interesting new inputs into fuzz/corpus to keep them in the replay test.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
secs=${1:-600}
bd=$here/build-fuzz
command -v clang >/dev/null || { echo "fuzz.sh: needs clang (apt-get install clang)" >&2; exit 2; }
CC=clang cmake -S "$here" -B "$bd" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKILN_FUZZ=ON \
  -DKILN_TOOLKIT=ON -DKILN_SANITIZE=ON >/dev/null
cmake --build "$bd" --target fuzz_loader -j2 >"$bd/build.log" 2>&1 ||
  { tail -20 "$bd/build.log" >&2; exit 1; }
mkdir -p "$bd/corpus"
cd "$bd"
"$bd/fuzz/fuzz_loader" -max_total_time="$secs" -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
  -artifact_prefix="$bd/" corpus "$here/fuzz/corpus" 2>&1 | tail -25
