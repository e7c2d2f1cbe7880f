#!/bin/bash
# quantize_accuracy.sh: issue #7's proof on Fashion-MNIST. Quantizes a float CNN in the four
# modes (500 calibration images from the training set), measures test accuracy on all 10,000
# test images with Kiln's interpreter (--arith litert: the official runtime's arithmetic) and
# file sizes, then spot-checks the official runtime (tflite-run) on the first N test images:
# its outputs must equal Kiln's (bit for bit in the integer modes, 1e-5 in float16/dynamic),
# which carries Kiln's full-set accuracy over to the official runtime.
#
# usage: bench/quantize_accuracy.sh [MODEL.kckpt|MODEL.tflite] [--official N] [--out DIR]
#   without a model: trains models/fmnist_cnn.kiln (15 epochs, issue #5's recipe) first.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
kiln=${KILN_BIN:-$root/build/kiln}
data=${KILN_FMNIST:-/usr/share/datasets/fashion-mnist}
model="" official=100 out=/tmp/kiln_quant_bench threads=${THREADS:-2}
while [ $# -gt 0 ]; do
    case "$1" in
        --official) official=$2; shift 2;;
        --out) out=$2; shift 2;;
        *) model=$1; shift;;
    esac
done
mkdir -p "$out"
if [ -z "$model" ]; then
    "$kiln" train "$root/models/fmnist_cnn.kiln" --data "$data" --epochs 15 --batch 64 \
        --seed 1 --threads "$threads" --out "$out/train"
    model=$out/train/model.kckpt
fi
case "$model" in
    *.kckpt) "$kiln" convert "$model" -o "$out/float.tflite" >/dev/null;;
    *) cp "$model" "$out/float.tflite";;
esac
acc() { # MODEL -> accuracy over the full test set (Kiln, litert dialect)
    "$kiln" eval "$1" --data "$data" --json --threads "$threads" --arith litert 2>/dev/null |
        sed -n 's/.*"accuracy":\([0-9.]*\).*/\1/p'
}
fsize=$(stat -c %s "$out/float.tflite")
facc=$(acc "$out/float.tflite")
printf "%-9s %9s %9s %10s %8s %10s %s\n" mode accuracy "delta_pp" bytes "size%" limit_pp ok
printf "%-9s %9.4f %9s %10d %8s\n" float "$facc" - "$fsize" 100.0
for mode in int8 dynamic float16 int16x8; do
    "$kiln" quantize "$out/float.tflite" -o "$out/$mode.tflite" --mode "$mode" \
        --calib "$data" --calib-samples 500 --report-json "$out/$mode.report.json" -q
    a=$(acc "$out/$mode.tflite")
    s=$(stat -c %s "$out/$mode.tflite")
    case $mode in int8) lim=0.5;; dynamic) lim=0.3;; float16) lim=0.05;; int16x8) lim=0.2;; esac
    awk -v m=$mode -v a="$a" -v f="$facc" -v s="$s" -v fs="$fsize" -v l=$lim 'BEGIN {
        d = (a - f) * 100; ok = (d >= -l) ? "yes" : "NO";
        if (m == "int8" && s > 0.27 * fs) ok = ok " (size > 27%)";
        printf "%-9s %9.4f %+9.2f %10d %8.1f %10s %s\n", m, a, d, s, 100 * s / fs, l, ok }'
done
# the official runtime on the first N test images
if [ "$official" -gt 0 ]; then
    oracle=$("$root/scripts/oracle.sh")
    inputs=$out/inputs
    rm -rf "$inputs"
    "$kiln" eval "$out/float.tflite" --data "$data" --limit "$official" --save-inputs "$inputs" \
        --json >/dev/null 2>&1
    for mode in float int8 dynamic float16 int16x8; do
        same=0 agree=0 n=0
        for x in "$inputs"/sample_*.npy; do
            rm -rf "$out/o" "$out/k"
            "$oracle/tflite-run" "$out/$mode.tflite" --input "$x" --out "$out/o" --quiet >/dev/null
            "$kiln" run "$out/$mode.tflite" "$x" --out "$out/k" --arith litert >/dev/null
            n=$((n + 1))
            r=$(python3 - "$out/o/output_0.npy" "$out"/k/000_*.npy "$mode" <<'PY'
import struct, sys
def load(p):
    b = open(p, "rb").read(); hl = struct.unpack("<H", b[8:10])[0]; d = b[10 + hl:]
    return struct.unpack("<%df" % (len(d) // 4), d)
a, b = load(sys.argv[1]), load(sys.argv[2])
exact = sys.argv[3] in ("int8", "int16x8")
same = a == b if exact else all(abs(x - y) <= 1e-5 * max(1, abs(y)) for x, y in zip(a, b))
print(int(same), int(a.index(max(a)) == b.index(max(b))))
PY
)
            same=$((same + ${r% *})); agree=$((agree + ${r#* }))
        done
        what="outputs equal"
        case $mode in float|dynamic|float16) what="outputs within 1e-5";; esac
        echo "official runtime vs kiln --arith litert, $mode: $same/$n $what, $agree/$n same class"
    done
fi
