#!/bin/bash
# regen.sh: regenerates the goldens of tests/test_quantize_ops.c in this directory.
# Builds the single-op float sources of opsrc.txt (`kiln opmodel`, fixed seed) into opsrc/,
# quantizes each in int8 and int16x8 (`--calib-random --calib-samples 20`), and stores for
# every case the quantized model, one random input (the official runtime's generator, seed 7,
# floats in [0, 1)) and both oracles' outputs: expected_litert_K.npy (the official runtime;
# its tfjs-tflite backend when LiteRT cannot load the model) and expected_tflm_K.npy (TFLite
# Micro; absent where it has no kernel for the op and type, e.g. TILE or int16 MIRROR_PAD).
# A source that Kiln refuses in a mode (TFLite's property table has no int16 form, e.g.
# SPACE_TO_DEPTH) gets no case for that mode; the test checks the refusal.
# cases.txt lists the cases: NAME SOURCE MODE.
# usage: tests/golden/quant_ops/regen.sh [KILN_BIN]   (needs node: KILN_ORACLE or ../shared)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
kiln=${1:-$root/build/kiln}
oracle=$("$root/scripts/oracle.sh")
cd "$here"
optmp=$(mktemp -d)
trap 'rm -rf "$optmp"' EXIT
"$kiln" opmodel opsrc.txt --out "$optmp" >/dev/null
rm -rf opsrc && mkdir -p opsrc
for d in "$optmp"/*/; do cp "$d/model.tflite" "opsrc/$(basename "$d").tflite"; done
# only the case folders this script made (NAME_int8 / NAME_int16x8) are removed
for d in */; do
    case "$d" in *_int8/|*_int16x8/) rm -rf "$d";; esac
done
echo "# name source mode   (written by regen.sh)" > cases.txt
for src in opsrc/*.tflite; do
    base=$(basename "$src" .tflite)
    for mode in int8 int16x8; do
        name=${base}_$mode
        mkdir -p "$name"
        if ! "$kiln" quantize "$src" -o "$name/model.tflite" --mode $mode --calib-random \
            --calib-samples 20 -q --no-report 2>/dev/null; then
            rm -rf "$name"
            echo "$name: refused"
            continue
        fi
        tmp=$optmp/run_$name
        "$oracle/tflite-run" "$name/model.tflite" --random-range 0,1 --random-seed 7 \
            --runtime auto --out "$tmp/lr" --quiet >/dev/null
        cp "$tmp/lr/input_0.npy" "$name/input_0.npy"
        for f in "$tmp"/lr/output_*.npy; do
            k=${f##*output_}
            cp "$f" "$name/expected_litert_$k"
        done
        if "$oracle/tflm-run" "$name/model.tflite" "$name/input_0.npy" --out "$tmp/tm" \
            >/dev/null 2>&1; then
            for f in "$tmp"/tm/output_*.npy; do
                k=${f##*output_}
                cp "$f" "$name/expected_tflm_$k"
            done
        fi
        echo "$name $src $mode" >> cases.txt
        echo "$name: $(ls "$name" | tr '\n' ' ')"
    done
done
