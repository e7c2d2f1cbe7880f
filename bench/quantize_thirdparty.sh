#!/usr/bin/env bash
# quantize_thirdparty.sh: quantizes multi-op float .tflite models that Kiln did not write, in all
# four modes, and checks the results the way an outside checker of issue #7 would.
#
# Models: the ~17 models of tests/golden/gen/multiop.py (written by a small Python FlatBuffer
# builder the way TensorFlow's converter writes Keras models: MobileNetV2 and squeeze-excite
# blocks, HARD_SWISH, U-Net pieces, a DS-CNN, attention, Keras PAD+VALID, slicing/split/pack,
# input normalisation, LEAKY_RELU/PRELU, MLP, embedding text classifier, 1-D conv, 2 inputs /
# 2 outputs...), plus with --garden the Model Garden specs (models/*.kiln) converted by
# `kiln convert` (the Fashion-MNIST ones trained for a few hundred steps first).
#
# For each model and mode (int8, dynamic, float16, int16x8):
#   quantize  `kiln quantize` (int8/int16x8 calibrated on NAME.calib.npy: 128 samples from the
#             same distribution as the test inputs). A clean one-line error with no output
#             file is acceptable (an op TFLite itself cannot quantize); a crash, a multi-line
#             error or a file left behind is a finding.
#   (a) litert  Kiln `run --arith litert` vs the official runtime (tflite-run --runtime auto:
#             LiteRT.js, or tfjs-tflite for models with variable tensors) on the same
#             inputs: bit-exact for int8/int16x8, max|diff| <= 1e-5 x max|out| for
#             dynamic/float16. A file the official runtime refuses is a finding.
#   (b) tflm    Kiln default `run` vs TFLite Micro (tflm-run), int8/int16x8, bit-exact, where
#             tflm-run can run the model ("n/a" otherwise).
#   (c) float   the quantized model's output (official runtime) vs the float model's (official
#             runtime): max error in output steps (the output's quantization scale) and in
#             "8-bit steps" (output range / 255; for int16x8 one 8-bit step is ~257 int16
#             steps), and the top-1 agreement for outputs of softmax-like shape [1, N].
#             Flagged "FAR" above 4 8-bit steps (int8/dynamic/int16x8), 0.5 (float16) on a
#             non-softmax output, or a top-1 disagreement on more than 1/8 of the inputs.
# Prints a table (model x mode) and writes OUT/results.tsv and OUT/findings.txt.
#
# Usage: bench/quantize_thirdparty.sh [--kiln PATH] [--out DIR] [--samples N]
#          [--modes "int8 dynamic float16 int16x8"] [--only m1,m2] [--garden] [--no-multiop]
#   --kiln     the kiln CLI (default: build/kiln)      env KILN_ORACLE: dir with tflite-run and
#   --out      work dir (default /tmp/kiln-qtp)        tflm-run (default ../shared/oracle)
#   --samples  test inputs per model (default 8; each is one oracle process per mode)
#   --timeout  seconds allowed per `kiln quantize` (default 180; longer is a finding)
# Needs node (the oracle), python3 (the generator and the comparisons).
# Each oracle call takes 0.3-1 s; a full run (17 models, 8 samples, plus --garden) took ~50 min on
# this shared 2-core machine under load 6-9, most of it in int8 quantizations of small models
# that hit --timeout (the refinement, finding F3 of /work/notes/qsweep-findings.md).
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
KILN=$ROOT/build/kiln
OUT=/tmp/kiln-qtp
SAMPLES=8
MODES="int8 dynamic float16 int16x8"
ONLY=""
GARDEN=0
MULTIOP=1
TIMEOUT=180
while [ $# -gt 0 ]; do
    case $1 in
        --kiln) KILN=$2; shift 2 ;;
        --out) OUT=$2; shift 2 ;;
        --samples) SAMPLES=$2; shift 2 ;;
        --modes) MODES=$2; shift 2 ;;
        --only) ONLY=$2; shift 2 ;;
        --garden) GARDEN=1; shift ;;
        --no-multiop) MULTIOP=0; shift ;;
        --timeout) TIMEOUT=$2; shift 2 ;;
        -h|--help) sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "quantize_thirdparty.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
ORACLE=${KILN_ORACLE:-$ROOT/../shared/oracle}
TFLITE_RUN=$ORACLE/tflite-run
TFLM_RUN=$ORACLE/tflm-run
for x in "$KILN" "$TFLITE_RUN"; do
    [ -x "$x" ] || {
        echo "quantize_thirdparty.sh: $x not found (--kiln, KILN_ORACLE)" >&2; exit 2; }
done
command -v python3 >/dev/null || { echo "quantize_thirdparty.sh: needs python3" >&2; exit 2; }
M=$OUT/models
mkdir -p "$M"
: > "$OUT/results.tsv"
: > "$OUT/findings.txt"

# ---------------------------------------------------------------- models
if [ $MULTIOP = 1 ]; then
    python3 "$ROOT/tests/golden/gen/multiop.py" "$M" --samples "$SAMPLES" \
        ${ONLY:+--only $ONLY} >/dev/null || exit 2
fi
if [ $GARDEN = 1 ]; then
    # Fashion-MNIST specs: a short training run; the others: converted untrained (seed 1).
    # Calibration and test inputs: real images for the Fashion-MNIST specs, else uniform [0,1).
    FM=/usr/share/datasets/fashion-mnist
    for spec in fmnist_mlp fmnist_cnn lenet5 lstm_classifier ds_cnn resnet8 \
                mobilenet_v1_025_96 autoencoder; do
        [ -n "$ONLY" ] && ! echo ",$ONLY," | grep -q ",g_$spec," && continue
        f=$M/g_$spec.tflite
        if [ ! -s "$f" ]; then
            case $spec in
                fmnist_*|lenet5|lstm_classifier)
                    [ -d $FM ] || continue
                    "$KILN" train "$ROOT/models/$spec.kiln" --data $FM --out "$OUT/train_$spec" \
                        --limit 3000 --test-limit 100 --quiet >/dev/null 2>&1 &&
                    "$KILN" convert "$OUT/train_$spec/model.kckpt" -o "$f" >/dev/null 2>&1 ;;
                *) "$KILN" convert "$ROOT/models/$spec.kiln" --seed 1 -o "$f" >/dev/null 2>&1 ;;
            esac || { echo "g_$spec: train/convert failed" >&2; continue; }
        fi
        python3 - "$f" "$M/g_$spec" "$SAMPLES" "$FM" "$KILN" <<'EOF'
import gzip, json, os, random, struct, subprocess, sys
f, base, ns, fm, kiln = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
j = json.loads(subprocess.run([kiln, "inspect", f, "--json"], capture_output=True).stdout)
sg = j["subgraphs"][0]
shape = sg["tensors"][sg["inputs"][0]]["shape"]
n = 1
for d in shape:
    n *= d
def npy(path, shp, vals):
    h = "{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }" % ", ".join(map(str, shp))
    h += " " * ((-(10 + len(h) + 1)) % 64) + "\n"
    with open(path, "wb") as o:
        o.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(h)) + h.encode())
        o.write(struct.pack("<%df" % len(vals), *vals))
def images(name, k):
    with gzip.open(os.path.join(fm, name)) as g:
        b = g.read(16 + 784 * k)[16:]
    return [v / 255.0 for v in b]
if n == 784 and os.path.isdir(fm):
    cal, tst = images("train-images-idx3-ubyte.gz", 128), images("t10k-images-idx3-ubyte.gz", ns)
else:
    R = random.Random(5)
    cal = [R.random() for _ in range(128 * n)]
    tst = [R.random() for _ in range(ns * n)]
npy(base + ".calib.npy", [128] + shape[1:], cal)
os.makedirs(base + ".in", exist_ok=True)
for s in range(ns):
    npy(os.path.join(base + ".in", "s%d_i0.npy" % s), shape, tst[s * n:(s + 1) * n])
EOF
    done
fi

# ---------------------------------------------------------------- comparisons (python3)
CMP=$OUT/cmp.py
cat > "$CMP" <<'EOF'
import ast, json, os, struct, sys
mode, qjson, fdir, ldir, kldir, ktdir, tdir, ns = sys.argv[1:9]
ns = int(ns)
FMT = {"<f4": "f", "<f2": "e", "<i4": "i", "|i1": "b", "|u1": "B", "<i2": "h", "<i8": "q",
       "|b1": "?", "<u2": "H"}
def load(p):
    b = open(p, "rb").read()
    hl, hs = (struct.unpack("<H", b[8:10])[0], 10) if b[6] == 1 else \
        (struct.unpack("<I", b[8:12])[0], 12)
    h = ast.literal_eval(b[hs:hs + hl].decode("latin1"))
    f = FMT[h["descr"]]
    n = (len(b) - hs - hl) // struct.calcsize(f)
    return list(h["shape"]), list(struct.unpack("<%d%s" % (n, f), b[hs + hl:]))
def outs(d, kiln):
    if not os.path.isdir(d):
        return None
    fs = sorted(os.listdir(d))
    fs = [x for x in fs if x.endswith(".npy") and
          (x[:3].isdigit() if kiln else x.startswith("output_"))]
    if not kiln:
        fs.sort(key=lambda x: int(x[7:-4]))
    return [load(os.path.join(d, x)) for x in fs] or None
q = json.load(open(qjson))["subgraphs"][0]
T, ops = q["tensors"], q["operators"]
prod = {o: op for op in ops for o in op["outputs"]}
info = []  # per output: (step, bits, softmax?)
for t in q["outputs"]:
    step, bits, sm = None, 8, False
    cur = t
    for _ in range(4):
        qq = T[cur].get("quantization")
        if qq and qq.get("scale") and T[cur]["dtype"] in ("int8", "uint8", "int16"):
            step, bits = qq["scale"][0], 16 if T[cur]["dtype"] == "int16" else 8
        op = prod.get(cur)
        if not op:
            break
        if op["name"] == "SOFTMAX":
            sm = True
            break
        if op["name"] not in ("DEQUANTIZE", "QUANTIZE", "RESHAPE"):
            break
        cur = op["inputs"][0]
    info.append((step, bits, sm))
res = {"a": "", "b": "", "c": "", "far": [], "mis": []}
exact = mode in ("int8", "int16x8")
# (a) Kiln litert vs the official runtime
worst, nbad, nval = 0.0, 0, 0
for s in range(ns):
    A, B = outs("%s/s%d" % (ldir, s), False), outs("%s/s%d" % (kldir, s), True)
    if A is None or B is None or len(A) != len(B):
        res["a"] = "missing"
        break
    for (sa, a), (sb, b) in zip(A, B):
        if len(a) != len(b):
            res["a"] = "shape"
            break
        mx = max([abs(x) for x in a] + [1e-30])
        for x, y in zip(a, b):
            nval += 1
            d = abs(x - y)
            if exact:
                if x != y:
                    nbad += 1
                    worst = max(worst, d)
            else:
                worst = max(worst, d / mx)
if not res["a"]:
    if exact:
        res["a"] = "bit-exact" if nbad == 0 else "MISMATCH %d/%d max %g" % (nbad, nval, worst)
    else:
        res["a"] = ("rel %.1e" % worst) if worst <= 1e-5 else "MISMATCH rel %.2e" % worst
if res["a"].startswith(("MISMATCH", "missing", "shape")):
    res["mis"].append("litert " + res["a"])
# (b) Kiln reference dialect vs TFLite Micro
if exact:
    nbad, nval, worst, miss = 0, 0, 0, False
    for s in range(ns):
        A, B = outs("%s/s%d" % (tdir, s), False), outs("%s/s%d" % (ktdir, s), True)
        if A is None or B is None:
            miss = True
            break
        for (sa, a), (sb, b) in zip(A, B):
            for x, y in zip(a, b):
                nval += 1
                if x != y:
                    nbad += 1
                    worst = max(worst, abs(x - y))
    res["b"] = "n/a" if miss else ("bit-exact" if nbad == 0 else
                                   "MISMATCH %d/%d max %g" % (nbad, nval, worst))
    if res["b"].startswith("MISMATCH"):
        res["mis"].append("tflm " + res["b"])
else:
    res["b"] = "-"
# (c) quantized vs float (both on the official runtime)
F = [outs("%s/s%d" % (fdir, s), False) for s in range(ns)]
L = [outs("%s/s%d" % (ldir, s), False) for s in range(ns)]
parts = []
if all(F) and all(L):
    for k, (step, bits, sm) in enumerate(info):
        fv = [v for s in range(ns) for v in F[s][k][1]]
        lv = [v for s in range(ns) for v in L[s][k][1]]
        err = max(abs(a - b) for a, b in zip(fv, lv))
        if step:
            st8 = step * ((1 << bits) - 1) / 255.0
        else:
            st8 = max(max(fv) - min(fv), 1e-6) / 255.0
        e8 = err / st8
        shp = F[0][k][0]
        top = ""
        dis = 0
        if len(shp) == 2 and shp[0] == 1 and shp[1] > 1:
            for s in range(ns):
                f, l = F[s][k][1], L[s][k][1]
                if f.index(max(f)) != l.index(max(l)):
                    dis += 1
            top = " top1 %d/%d" % (ns - dis, ns)
        txt = ("%.2f st" % (err / step) if step else "") + \
            (" (%.2f st8)" % e8 if bits == 16 or not step else "")
        parts.append((txt.strip() or "%.2g" % err) + top)
        # int16x8 keeps int8 weights: its error is mostly the weights', hence the same limit
        lim = {"int8": 4, "dynamic": 4, "int16x8": 4, "float16": 0.5}[mode]
        if (not sm and e8 > lim) or dis * 8 > ns:
            res["far"].append("output %d: max err %g = %.2f 8-bit steps%s" % (k, err, e8, top))
    res["c"] = "; ".join(parts)
else:
    res["c"] = "n/a"
print(json.dumps(res))
EOF

run_oracle_set() {  # model dir_out -> runs tflite-run on every sample; echoes the error
    local model=$1 dst=$2 base=$3 s ins msg
    for ((s = 0; s < SAMPLES; s++)); do
        ins=""
        for i in "$base.in"/s${s}_i*.npy; do ins="$ins --input $i"; done
        msg=$("$TFLITE_RUN" "$model" --runtime auto --quiet $ins --out "$dst/s$s" 2>&1)
        if [ $? -ne 0 ]; then
            echo "$msg" | grep -o '"error":"[^"]*' | head -1 | cut -c10-200
            [ -n "$msg" ] || echo "failed"
            return 1
        fi
    done
}
finding() {  # model mode text
    printf '%s\t%s\t%s\n' "$1" "$2" "$3" >> "$OUT/findings.txt"
}

models=$(ls "$M"/*.tflite 2>/dev/null | sed 's#.*/##; s#\.tflite$##')
[ -n "$ONLY" ] && models=$(for m in $models; do echo ",$ONLY," | grep -q ",$m," && echo $m; done)
printf '%-22s' model; for mode in $MODES; do printf ' | %-34s' "$mode"; done; echo
for m in $models; do
    base=$M/$m
    W=$OUT/run/$m
    rm -rf "$W"; mkdir -p "$W"
    printf '%-22s' "$m"
    ferr=$(run_oracle_set "$base.tflite" "$W/float" "$base")
    for mode in $MODES; do
        q=$W/$mode.tflite
        cal=""
        case $mode in int8|int16x8) cal="--calib $base.calib.npy --calib-samples 128" ;; esac
        t0=$(date +%s.%N)
        err=$(timeout $TIMEOUT "$KILN" quantize "$base.tflite" -o "$q" --mode $mode $cal -q \
              --no-report 2>&1 >/dev/null)
        rc=$?
        qs=$(echo "$(date +%s.%N) - $t0" | bc)
        cmd="kiln quantize $m.tflite -o q.tflite --mode $mode"
        cmd="$cmd${cal:+ --calib $m.calib.npy --calib-samples 128}"
        slow=""
        if [ $rc -eq 124 ]; then
            # too slow (int8 refinement of small models): a finding; retry with --calib-random
            # (no refinement) to check the rest. Its [0,1) ranges clip inputs in [-1,1), so
            # column c is not meaningful for these ("slow" in the table).
            finding "$m" "$mode" "quantize did not finish in $TIMEOUT s :: $cmd"
            rm -f "$q" "$q.tmp"
            slow="slow "
            if [ -n "$cal" ]; then
                cal="--calib-random --calib-samples 128"
                cmd="$cmd (then retried with --calib-random)"
                t0=$(date +%s.%N)
                err=$(timeout $TIMEOUT "$KILN" quantize "$base.tflite" -o "$q" --mode $mode $cal \
                      -q --no-report 2>&1 >/dev/null)
                rc=$?
                qs=$(echo "$(date +%s.%N) - $t0" | bc)
            fi
            if [ $rc -eq 124 ] || [ -z "$cal" ]; then
                printf '%s\t%s\ttimeout\t%s s\n' "$m" "$mode" "$TIMEOUT" >> "$OUT/results.tsv"
                printf ' | %-34.34s' "FINDING timeout > $TIMEOUT s"
                rm -f "$q" "$q.tmp"
                continue
            fi
        fi
        if [ $rc -ne 0 ]; then
            nl=$(printf '%s\n' "$err" | grep -c .)
            if [ $rc -ge 128 ] || [ "$nl" -ne 1 ] || [ -e "$q" ]; then
                cell="FINDING crash/rc=$rc"
                wr=absent; [ -e "$q" ] && wr=written
                finding "$m" "$mode" "quantize rc=$rc, $nl lines, file $wr: $(printf '%s' "$err" |
                    head -3 | tr '\n' ' ') :: $cmd"
            else
                cell=${err#kiln quantize: }
                cell="error: ${cell#$base.tflite: }"
            fi
            printf '%s\t%s\terror\t%s\n' "$m" "$mode" "$err" >> "$OUT/results.tsv"
            printf ' | %-34.34s' "$cell"
            continue
        fi
        if [ ! -s "$q" ]; then
            finding "$m" "$mode" "rc 0 but no file :: $cmd"
            printf ' | %-34s' "FINDING no file"
            continue
        fi
        oerr=$(run_oracle_set "$q" "$W/$mode/lit" "$base")
        if [ $? -ne 0 ]; then
            if [ -n "$ferr" ]; then cell="oracle refuses float too"; else
                cell="FINDING oracle refuses"
                finding "$m" "$mode" "official runtime refuses the quantized model: $oerr :: $cmd"
            fi
            printf '%s\t%s\toracle\t%s\n' "$m" "$mode" "$oerr" >> "$OUT/results.tsv"
            printf ' | %-34.34s' "$cell"
            continue
        fi
        for ((s = 0; s < SAMPLES; s++)); do
            ins=$(ls "$base.in"/s${s}_i*.npy)
            "$KILN" run "$q" $ins --arith litert --out "$W/$mode/klit/s$s" >/dev/null \
                2>>"$W/kiln.err"
            case $mode in int8|int16x8)
                "$KILN" run "$q" $ins --out "$W/$mode/ktflm/s$s" >/dev/null 2>>"$W/kiln.err"
                mkdir -p "$W/$mode/tflm/s$s"
                [ -x "$TFLM_RUN" ] && "$TFLM_RUN" "$q" $ins --out "$W/$mode/tflm/s$s" \
                    >/dev/null 2>>"$W/tflm.err"
            esac
        done
        "$KILN" inspect "$q" --json > "$W/$mode.json" 2>/dev/null
        r=$(python3 "$CMP" $mode "$W/$mode.json" "$W/float" "$W/$mode/lit" "$W/$mode/klit" \
            "$W/$mode/ktflm" "$W/$mode/tflm" $SAMPLES 2>&1)
        field() {
            echo "$r" | python3 -c 'import json, sys
v = json.load(sys.stdin)[sys.argv[1]]
print(" | ".join(v) if isinstance(v, list) else v)' "$1" 2>/dev/null
        }
        a=$(field a); b=$(field b); c=$(field c); far=$(field far); mis=$(field mis)
        [ -z "$a" ] && { mis="compare failed: $(echo "$r" | tail -1)"; }
        cell="${slow}ok"
        if [ -n "$far" ] && [ -z "$slow" ]; then
            cell="FAR"
            finding "$m" "$mode" "quantized vs float: $far :: $cmd"
        fi
        if [ -n "$mis" ]; then
            cell="MISMATCH"
            finding "$m" "$mode" "$mis :: $cmd, then kiln run q.tflite INPUTS --arith litert vs" \
                "tflite-run / kiln run vs tflm-run"
        fi
        short_b=${b/bit-exact/=}; short_a=${a/bit-exact/=}
        printf '%s\t%s\t%s\ta=%s b=%s c=%s quantize=%.1fs\n' "$m" "$mode" "$cell" "$a" "$b" "$c" \
            "$qs" >> "$OUT/results.tsv"
        printf ' | %-34.34s' "$cell a$short_a b$short_b $c"
    done
    echo
done
echo
echo "a: Kiln --arith litert vs official runtime (= bit-exact), b: Kiln vs TFLite Micro,"
echo "c: quantized vs float (st = output steps, st8 = 8-bit steps, top1 = argmax agreement)"
echo "details: $OUT/results.tsv; findings: $OUT/findings.txt" \
    "($(grep -c . "$OUT/findings.txt") lines)"
