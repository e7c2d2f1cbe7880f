#!/bin/bash
# regen.sh: regenerates the goldens of tests/test_quantize_lstm.c (full-integer LSTM) here.
# For each case of cases.txt: quantize the source with `kiln quantize`, then store the
# official runtime's outputs (expected_litert_K.npy; its tfjs-tflite backend, as LiteRT.js does
# not load variable tensors) and TFLite Micro's (expected_tflm_K.npy; TFLite Micro runs only
# the plain LSTM) for input_K.npy:
# - ql_*: one random input (seed 7, floats in [0, 1)), 3 invokes with the state carried
#   (TFLite Micro: 1 invoke for float I/O, see cases.txt);
# - lstmc_*: the first 8 Fashion-MNIST test images (one invoke each, fresh state), and the
#   official runtime's accuracy of the float and int8 models over the first 1000 test images
#   (oracle.json) with its int8 predictions (oracle_pred.txt), by oracle_eval_stateful.mjs.
# Sources: lstmc_float.tflite is the Model Garden classifier trained and converted with
#   kiln train models/lstm_classifier.kiln --data $KILN_FMNIST --out RUN --epochs 1 --seed 1
#   kiln convert RUN/model.kckpt -o lstmc_float.tflite
# (1 epoch: 70 s; not redone here); stack_float.tflite: `kiln convert stack.kiln -o
# stack_float.tflite --seed 5`; bilstm_float.tflite: `cc -std=c11 -Isrc -Iinclude
# tests/golden/quant_lstm/bilstm_gen.c build/libkiln.a build/libkiln-rt.a -lm -lz -lpthread
# -o /tmp/g && /tmp/g bilstm_float.tflite`; the others are goldens of tests/golden/rnn, ../quant.
# usage: tests/golden/quant_lstm/regen.sh [KILN_BIN]   (needs node: KILN_ORACLE or ../shared)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
kiln=${1:-$root/build/kiln}
oracle=$("$root/scripts/oracle.sh")
fmnist=${KILN_FMNIST:-/usr/share/datasets/fashion-mnist}
cd "$here"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
grep -v '^#' cases.txt | while IFS='|' read -r name src args; do
    name=$(echo $name); src=$(echo $src)
    [ -n "$name" ] || continue
    rm -rf "$name" && mkdir -p "$name"
    # shellcheck disable=SC2086
    "$kiln" quantize "$src" -o "$name/model.tflite" $args -q --no-report
    case "$name" in
    lstmc_*)
        "$kiln" eval "$name/model.tflite" --data "$fmnist" --limit 1000 \
            --save-inputs "$tmp/in_$name" --predictions "$tmp/p_$name.csv" --json >/dev/null
        "$kiln" eval "$src" --data "$fmnist" --limit 1000 --save-inputs "$tmp/inf_$name" \
            --predictions "$tmp/pf_$name.csv" --json >/dev/null
        mkdir -p "$tmp/o_$name"
        node "$here/oracle_eval_stateful.mjs" "$oracle" "$name/model.tflite" "$tmp/in_$name" \
            "$tmp/p_$name.csv" 8 "$tmp/o_$name" > "$tmp/q.json"
        node "$here/oracle_eval_stateful.mjs" "$oracle" "$src" "$tmp/inf_$name" \
            "$tmp/pf_$name.csv" > "$tmp/f.json"
        node -e '
            const fs = require("fs");
            const q = JSON.parse(fs.readFileSync(process.argv[1])),
                  f = JSON.parse(fs.readFileSync(process.argv[2]));
            fs.writeFileSync(process.argv[3], JSON.stringify({samples: q.samples,
                float_accuracy: f.accuracy, int8_accuracy: q.accuracy}) + "\n");
            fs.writeFileSync(process.argv[4], q.predictions.join("\n") + "\n");
        ' "$tmp/q.json" "$tmp/f.json" "$name/oracle.json" "$name/oracle_pred.txt"
        for k in 0 1 2 3 4 5 6 7; do
            x=$tmp/in_$name/sample_0000$k.npy
            cp "$x" "$name/input_$k.npy"
            cp "$tmp/o_$name/output_$k.npy" "$name/expected_litert_$k.npy"
            if "$oracle/tflm-run" "$name/model.tflite" "$x" --out "$tmp/t$k" >/dev/null 2>&1
            then
                cp "$tmp/t$k/output_0.npy" "$name/expected_tflm_$k.npy"
            fi
        done;;
    *)
        range=0,1
        tinv=1 # float I/O: TFLite Micro overwrites the float input after its first invoke
        case "$args" in *"--io int8"*) range=""; tinv=3;; esac
        "$oracle/tflite-run" "$name/model.tflite" ${range:+--random-range $range} \
            --random-seed 7 --runtime tfjs-tflite --invokes 3 --out "$tmp/lr_$name" \
            --quiet >/dev/null
        cp "$tmp/lr_$name/input_0.npy" "$name/input_0.npy"
        cp "$tmp/lr_$name/output_0.npy" "$name/expected_litert_0.npy"
        if "$oracle/tflm-run" "$name/model.tflite" "$name/input_0.npy" --invokes $tinv \
            --out "$tmp/tm_$name" >/dev/null 2>&1; then
            cp "$tmp/tm_$name/output_0.npy" "$name/expected_tflm_0.npy"
        fi;;
    esac
    echo "$name: $(ls "$name" | tr '\n' ' ')"
done
