#!/usr/bin/env bash
# regen.sh: regenerates tests/golden/rnn/ (stateful kernels over several invokes).
# Each case's model.tflite and input.npy come from `test_rnn --write`; expected_litert_K.npy is
# the official runtime's output after K invokes on the same input (tflite-run --runtime
# tfjs-tflite --invokes K: LiteRT.js rejects variable tensors), expected_tflm_K.npy TFLite
# Micro's (tflm-run --invokes K; integer cases only, absent when TFLite Micro cannot run it).
# Usage: tests/golden/rnn/regen.sh [--test-rnn PATH]   (env KILN_ORACLE=DIR: the oracle copy)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/../lib.sh"
regen_setup test_rnn "$@"
"$bin" --write "$here"
for d in "$here"/rnn_*/; do
    name="$(basename "$d")"
    rm -f "$d"/expected_*.npy
    for k in $(seq 1 $steps); do
        rm -rf "$tmp/o"
        if ! "$oracle/tflite-run" "$d/model.tflite" --runtime tfjs-tflite --input "$d/input.npy" \
            --invokes "$k" --out "$tmp/o" --quiet > "$tmp/log" 2>&1; then
            echo "FAIL $name: tflite-run: $(tail -n 3 "$tmp/log" | tr '\n' ' ')"
            continue 2
        fi
        # TFLite's desktop SVDF has no int8-state kernel (it reads the state as int16):
        # those cases are checked against TFLite Micro only.
        case "$name" in *_state8) ;; *) cp "$tmp/o/output_0.npy" "$d/expected_litert_$k.npy" ;; esac
        case "$name" in
        *_i8*)
            rm -rf "$tmp/m"
            if "$oracle/tflm-run" "$d/model.tflite" "$d/input.npy" --invokes "$k" \
                --out "$tmp/m" > "$tmp/mlog" 2>&1; then
                cp "$tmp/m"/output_0.npy "$d/expected_tflm_$k.npy"
            elif [ "$k" = 1 ]; then
                echo "note $name: tflm-run failed: no expected_tflm"
            fi
            ;;
        esac
    done
    echo "ok $name"
done
