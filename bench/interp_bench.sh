#!/usr/bin/env bash
# interp_bench.sh: libkiln-rt against its anchors, in one run.
#  1. load + prepare time of every model in ../shared/models (and ops/), median of 201 runs,
#     next to its weight bytes: must be < 1 ms and must not grow with the weights (zero copy).
#  2. hello_world_float invoke time, Kiln vs the official runtime (../shared/oracle/tflite-run
#     --bench, LiteRT.js with XNNPACK), same model and input; prints the ratio (target >= 10x).
# Usage: bench/interp_bench.sh [BUILD_DIR (default: build)] [RUNS (default: 2000)]
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
BUILD=$(cd "${1:-$ROOT/build}" && pwd)
RUNS=${2:-2000}
SHARED=${KILN_SHARED:-$ROOT/../shared}
[ -d "$SHARED/models" ] || { echo "interp_bench: no models at $SHARED/models (set KILN_SHARED)" >&2; exit 2; }
for lib in libkiln.a libkiln-rt.a; do
  [ -f "$BUILD/$lib" ] || { echo "interp_bench: $BUILD/$lib missing: build first" >&2; exit 2; }
done
BIN=$BUILD/interp_bench
cc -std=c11 -O2 -D_POSIX_C_SOURCE=200809L -I"$ROOT/include" -I"$ROOT/src" "$HERE/interp_bench.c" \
  "$BUILD/libkiln.a" "$BUILD/libkiln-rt.a" -lz -lpthread -lm -o "$BIN"

echo "== load + prepare (median of 201; kiln_model_load + kiln_interp_create) =="
models=("$SHARED"/models/*/model.tflite "$SHARED"/models/ops/*/model.tflite)
"$BIN" load "${models[@]}" | tee "$BUILD/interp_bench_load.txt"
awk 'NR > 1 && $NF == "ok" { n++; if ($5 > max) { max = $5; m = $1 } }
     END { printf "load+prepare: %d models, slowest %s at %.1f us (limit 1000 us)\n", n, m, max }' \
  "$BUILD/interp_bench_load.txt"
# Load time vs weight bytes: time per tensor for the models with the most and the fewest weight
# bytes. Zero copy means the time follows the tensor/operator count, not the bytes.
awk 'NR > 1 && $4 != "-" { print $3, $4, $6, $1 }' "$BUILD/interp_bench_load.txt" | sort -n |
  awk '{ w[NR] = $1; t[NR] = $2; nt[NR] = $3; n = NR }
       END { k = (n >= 10 ? 5 : 1); s = 0; l = 0; sn = 0; ln = 0;
             for (i = 1; i <= k; i++) { s += t[i]; sn += nt[i]; l += t[n - i + 1]; ln += nt[n - i + 1] }
             printf "load only, %d models with the fewest weight bytes (%d..%d): %.1f us, %.3f us per tensor\n", k, w[1], w[k], s / k, s / sn
             printf "load only, %d models with the most weight bytes (%d..%d): %.1f us, %.3f us per tensor\n", k, w[n - k + 1], w[n], l / k, l / ln }'

echo
echo "== hello_world_float invoke: Kiln vs official runtime =="
M=$SHARED/models/hello_world_float/model.tflite
X=$SHARED/models/hello_world_float/cases/x_1.5708/input_0.npy
kiln_us=$("$BIN" invoke "$M" "$X" "$RUNS" | tee /dev/stderr | tail -1)
if [ -x "$SHARED/oracle/tflite-run" ] && command -v node >/dev/null; then
  json=$("$SHARED/oracle/tflite-run" "$M" --input "$X" --bench "$RUNS" --warmup 200 --quiet | tail -1)
  ref_us=$(node -e 'const j = JSON.parse(process.argv[1]); if (!j.ok) { console.error(j.error); process.exit(1) } console.log(j.bench.median_us, j.bench.min_us)' "$json")
  set -- $ref_us
  echo "official runtime (LiteRT.js $(node -e 'console.log(JSON.parse(process.argv[1]).wasm)' "$json")): median $1 us, min $2 us over $RUNS invokes"
  awk -v k="$kiln_us" -v r="$1" 'BEGIN { printf "ratio: Kiln is %.1fx faster than the official runtime (median; target >= 10x)\n", r / k }'
else
  echo "official runtime not installed (../shared/oracle/install.sh): no ratio"
fi
