#!/bin/bash
# regen.sh: regenerates the quantizer goldens (tests/test_quantize.c) in this directory.
# For each case of cases.txt: quantize the source with `kiln quantize`, make a random input with
# the official runtime (float inputs in [0, 1), integer inputs over their full range) and store
# its outputs (expected_litert_0.npy; LiteRT.js, or its tfjs-tflite backend for models with
# variable tensors) and TFLite Micro's (expected_tflm_0.npy; absent where TFLite Micro has no
# kernel, e.g. hybrid and float16 DEQUANTIZE).
# Cases named cnn_* (the Fashion-MNIST CNN) also store the first 8 test images as input_1.. with
# both runtimes' outputs on them (expected_*_K.npy).
# The opsrc_* cases quantize single-op float models that `kiln opmodel opsrc.txt` builds into
# opsrc/ (fused TANH / SIGN_BIT, CONCATENATION with an activation, TRANSPOSE_CONV, BATCH_MATMUL).
# usage: tests/golden/quant/regen.sh [KILN_BIN [NAME_PREFIX]]   (needs node: the oracles)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
kiln=${1:-$root/build/kiln}
oracle=$("$root/scripts/oracle.sh")
fmnist=${KILN_FMNIST:-/usr/share/datasets/fashion-mnist}
images=${KILN_QUANT_IMAGES:-8}
only=${2:-}
cd "$here"
# the single-op float sources (committed; rebuilt here from opsrc.txt, fixed seed)
optmp=$(mktemp -d)
"$kiln" opmodel opsrc.txt --out "$optmp" >/dev/null
mkdir -p opsrc
for d in "$optmp"/*/; do cp "$d/model.tflite" "opsrc/$(basename "$d").tflite"; done
rm -rf "$optmp"
grep -v '^#' cases.txt | while IFS='|' read -r name src args; do
    name=$(echo $name); src=$(echo $src)
    [ -n "$name" ] || continue
    case "$name" in "$only"*) ;; *) continue;; esac
    rm -rf "$name" && mkdir -p "$name"
    # shellcheck disable=SC2086
    "$kiln" quantize "$src" -o "$name/model.tflite" $args -q
    tmp=$(mktemp -d)
    range=0,1
    case "$args" in *"--io int8"*|*"--io uint8"*|*"--io int16"*) range="";; esac
    "$oracle/tflite-run" "$name/model.tflite" ${range:+--random-range $range} --random-seed 7 \
        --runtime auto \
        --out "$tmp/lr" --quiet >/dev/null
    cp "$tmp/lr/input_0.npy" "$name/input_0.npy"
    cp "$tmp/lr/output_0.npy" "$name/expected_litert_0.npy"
    if "$oracle/tflm-run" "$name/model.tflite" "$name/input_0.npy" --out "$tmp/tm" \
        >/dev/null 2>&1; then
        cp "$tmp/tm/output_0.npy" "$name/expected_tflm_0.npy"
    fi
    # Fashion-MNIST CNN cases: also the first $images test images (input_1..), real inputs
    case "$name" in cnn_*)
        "$kiln" eval "$name/model.tflite" --data "$fmnist" --limit "$images" \
            --save-inputs "$tmp/img" --json >/dev/null 2>&1
        k=1
        for x in "$tmp"/img/sample_*.npy; do
            cp "$x" "$name/input_$k.npy"
            "$oracle/tflite-run" "$name/model.tflite" --input "$x" --out "$tmp/o$k" \
                --quiet >/dev/null
            cp "$tmp/o$k/output_0.npy" "$name/expected_litert_$k.npy"
            if "$oracle/tflm-run" "$name/model.tflite" "$x" --out "$tmp/t$k" >/dev/null 2>&1
            then
                cp "$tmp/t$k/output_0.npy" "$name/expected_tflm_$k.npy"
            fi
            k=$((k + 1))
        done;;
    esac
    rm -rf "$tmp"
    echo "$name: $(ls "$name" | tr '\n' ' ')"
done
