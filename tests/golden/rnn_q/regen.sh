#!/usr/bin/env bash
# regen.sh: regenerates tests/golden/rnn_q/ (full-integer LSTM over several invokes).
# Each case's model.tflite and input.npy come from `test_rnn_q --write`; expected_litert_K.npy is
# TFLite's own kernel after K invokes on the same input (tflite-run --runtime tfjs-tflite
# --invokes K: LiteRT.js rejects variable tensors), expected_tflm_K.npy TFLite Micro's
# (tflm-run --invokes K), only for the cases TFLite Micro runs (marked by a file `tflm`).
# Cases marked `no_litert` (int16 activations: TFLite has no such kernel) skip tflite-run.
# Usage: tests/golden/rnn_q/regen.sh [--test-rnn-q PATH]   (env KILN_ORACLE=DIR: the oracles)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/../lib.sh"
regen_setup test_rnn_q "$@"
"$bin" --write "$here"
for d in "$here"/rnnq_*/; do
    name="$(basename "$d")"
    rm -f "$d"/expected_*.npy
    for k in $(seq 1 $steps); do
        rm -rf "$tmp/o"
        if [ ! -f "$d/no_litert" ]; then
            if ! "$oracle/tflite-run" "$d/model.tflite" --runtime tfjs-tflite \
                --input "$d/input.npy" --invokes "$k" --out "$tmp/o" --quiet > "$tmp/log" 2>&1; then
                echo "FAIL $name: tflite-run: $(tail -n 3 "$tmp/log" | tr '\n' ' ')"
                continue 2
            fi
            cp "$tmp/o/output_0.npy" "$d/expected_litert_$k.npy"
        fi
        if [ -f "$d/tflm" ]; then
            rm -rf "$tmp/m"
            if ! "$oracle/tflm-run" "$d/model.tflite" "$d/input.npy" --invokes "$k" \
                --out "$tmp/m" > "$tmp/mlog" 2>&1; then
                echo "FAIL $name: tflm-run: $(tail -n 3 "$tmp/mlog" | tr '\n' ' ')"
                continue 2
            fi
            cp "$tmp/m"/output_0.npy "$d/expected_tflm_$k.npy"
        fi
    done
    echo "ok $name"
done
