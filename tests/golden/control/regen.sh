#!/usr/bin/env bash
# regen.sh: regenerates tests/golden/control/ (resource variables, CALL_ONCE, IF, WHILE over
# several invokes). Each case's model.tflite and input_K.npy come from `test_control --write`.
# litert_K_output_O.npy: output O after K invokes in one process of the official runtime
# (tflite-run; the state is carried between invokes), run on both of its TFLite builds: LiteRT.js
# and the older tfjs-tflite interpreter. They must give the same bytes (a note says otherwise).
# LiteRT.js cannot bind a graph output that TFLite made dynamic (a WHILE whose body reads a
# variable through a handle loop variable: its first run leaves that output at 0, later runs
# fail); for such a case the tfjs-tflite outputs are stored (the notes say so).
# tflm_K_output_O.npy: TFLite Micro's (tflm-run --invokes K), where it runs the model: tflm-run
# does not create MicroResourceVariables, so models with VAR_HANDLE have no TFLite Micro golden.
# tflm_arena_used_bytes.txt: TFLite Micro's arena for the model (Kiln's planned + persistent
# bytes must not exceed it).
# Usage: tests/golden/control/regen.sh [--test-control PATH]  (env KILN_ORACLE=DIR: the oracle)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/../lib.sh"
regen_setup test_control "$@"
rm -rf "$here"/ctl_*/
"$bin" --write "$here"
for d in "$here"/ctl_*/; do
    name="$(basename "$d")"
    ins=()
    for f in "$d"/input_*.npy; do ins+=(--input "$f"); done
    for k in $(seq 1 $steps); do
        for rt in litert tfjs-tflite; do
            rm -rf "$tmp/$rt"
            if ! "$oracle/tflite-run" "$d/model.tflite" --runtime "$rt" "${ins[@]}" \
                --invokes "$k" --out "$tmp/$rt" --quiet > "$tmp/log" 2>&1; then
                if [ "$rt" = litert ]; then
                    rm -rf "$tmp/litert"
                    echo "note $name: step $k: LiteRT.js fails ($(grep -o \
                        'Failed to [^|"]*' "$tmp/log" | head -n 1)); goldens from tfjs-tflite"
                    continue
                fi
                echo "FAIL $name: tflite-run --runtime $rt: $(tail -n 3 "$tmp/log" | tr '\n' ' ')"
                continue 3
            fi
        done
        for o in "$tmp"/tfjs-tflite/output_*.npy; do
            b="$(basename "$o")"
            cp "$o" "$d/litert_${k}_$b"
            if [ -d "$tmp/litert" ] && ! cmp -s "$o" "$tmp/litert/$b"; then
                echo "note $name: step $k $b: tfjs-tflite differs from LiteRT.js"
            fi
        done
        rm -rf "$tmp/m"
        if "$oracle/tflm-run" "$d/model.tflite" "$d"/input_*.npy --invokes "$k" \
            --out "$tmp/m" > "$tmp/mlog" 2>&1; then
            for o in "$tmp"/m/output_*.npy; do cp "$o" "$d/tflm_${k}_$(basename "$o")"; done
            if [ "$k" = 1 ]; then
                grep -o '"arena_used_bytes": *[0-9]*' "$tmp/mlog" | grep -o '[0-9]*$' \
                    > "$d/tflm_arena_used_bytes.txt"
            fi
        elif [ "$k" = 1 ]; then
            echo "note $name: tflm-run: $(grep -v '^{' "$tmp/mlog" | head -n 1)"
        fi
    done
    echo "ok $name"
done
