#!/usr/bin/env bash
# demo.sh: the main job, end to end: train a CNN on Fashion-MNIST, convert it to .tflite,
# quantize it to int8, evaluate and benchmark both, and run the real models in ../shared when
# present. Prints a summary. Usage: scripts/demo.sh BUILD_DIR   (make demo calls it)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$here/build}
kiln=$build/kiln
data=${KILN_DATA:-/usr/share/datasets/fashion-mnist}
out=${KILN_DEMO_OUT:-$here/demo-out}
epochs=${KILN_DEMO_EPOCHS:-2}
mkdir -p "$out"
step() { printf '\n== %s\n' "$*"; }
# The first number stored under "KEY" in a JSON file.
json() { grep -o "\"$2\": *[-0-9.eE+]*" "$1" 2>/dev/null | head -1 | sed 's/.*: *//' || true; }

[ -d "$data" ] || { echo "demo: $data is missing (make demo installs dataset-fashion-mnist)" >&2; exit 1; }

step "1. Train models/fmnist_cnn.kiln on Fashion-MNIST ($epochs epochs)"
"$kiln" train "$here/models/fmnist_cnn.kiln" --data "$data" --epochs "$epochs" --batch 64 \
  --seed 1 --threads "$(nproc)" --out "$out/cnn"

step "2. Convert the checkpoint to a float .tflite"
"$kiln" convert "$out/cnn/model.kckpt" -o "$out/cnn.tflite"
"$kiln" inspect "$out/cnn.tflite" | sed -n '1,8p'

step "3. Quantize to int8 (calibration: 500 training images)"
"$kiln" quantize "$out/cnn.tflite" -o "$out/cnn_int8.tflite" --mode int8 --calib "$data" \
  --calib-samples 500 --report-json "$out/quant_report.json" | tail -15

step "4. Evaluate both on the 10,000 test images"
"$kiln" eval "$out/cnn.tflite" --data "$data" --json > "$out/eval_float.json"
"$kiln" eval "$out/cnn_int8.tflite" --data "$data" --json --report "$out/eval_int8.html" \
  > "$out/eval_int8.json"

step "5. Benchmark both"
"$kiln" bench "$out/cnn.tflite" --num_runs 200 --json > "$out/bench_float.json"
"$kiln" bench "$out/cnn_int8.tflite" --num_runs 200 --json > "$out/bench_int8.json"

shared=$here/../shared/models
if [ -d "$shared" ]; then
  step "6. Real TFLite models from ../shared/models in Kiln's interpreter"
  for m in hello_world_float person_detect micro_speech_quantized mobilenet_v1_0.25_224_quant; do
    [ -f "$shared/$m/model.tflite" ] || continue
    printf '%-30s ' "$m"
    "$kiln" run "$shared/$m/model.tflite" --random 1 --out "$out/run_$m" | tail -1
  done
fi

fsize() { stat -c %s "$1"; }
step "Summary"
printf '%-22s %12s %12s %14s\n' "" "float32" "int8" "int8/float"
fa=$(json "$out/eval_float.json" accuracy); qa=$(json "$out/eval_int8.json" accuracy)
fs=$(fsize "$out/cnn.tflite"); qs=$(fsize "$out/cnn_int8.tflite")
fm=$(json "$out/bench_float.json" median_us); qm=$(json "$out/bench_int8.json" median_us)
fm=$(awk "BEGIN{printf \"%.1f\", ${fm:-0}}"); qm=$(awk "BEGIN{printf \"%.1f\", ${qm:-0}}")
printf '%-22s %12s %12s\n' "test accuracy" "$fa" "$qa"
printf '%-22s %12s %12s %13s%%\n' "file bytes" "$fs" "$qs" "$(awk "BEGIN{printf \"%.1f\", 100*$qs/$fs}")"
printf '%-22s %12s %12s\n' "median invoke (us)" "$fm" "$qm"
printf '%-22s %12s\n' "test acc. (train run)" "$(json "$out/cnn/summary.json" test_accuracy)"
echo
echo "outputs in $out (report: $out/eval_int8.html)"
