#!/usr/bin/env bash
# test_bench_eval.sh: kiln bench and kiln eval from the outside: JSON fields present and sane,
# usage and file errors, --threads giving identical figures, quantized inputs, regression
# metrics, and eval accuracy on a freshly converted Fashion-MNIST model equal to the official
# runtime's on the same inputs. Parts needing ../shared, the data set or the oracle are skipped
# with a message; the whole test exits 77 only when nothing could run.
set -uo pipefail
KILN=${KILN_BIN:?KILN_BIN must point at the kiln CLI}
SHARED=${KILN_SHARED:-$(dirname "$0")/../../shared}
here=$(cd "$(dirname "$0")/.." && pwd)
DATA=${KILN_FMNIST:-/usr/share/datasets/fashion-mnist}
command -v jq >/dev/null || { echo "SKIP: jq is not installed"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0 ran=0
ok() { pass=$((pass + 1)); echo "PASS $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; }
check() { local name=$1; shift; if "$@"; then ok "$name"; else bad "$name"; fi; }
jtrue() { jq -e "$2" "$1" >/dev/null 2>&1; }

# ---- usage and errors (no data needed) ------------------------------------------------------
check "bench --help mentions the benchmark_model flags" \
  bash -c "'$KILN' bench --help | grep -q -- --enable_op_profiling"
check "eval --help mentions --compare" bash -c "'$KILN' eval --help | grep -q -- --compare"
for c in bench eval; do
  check "docs/$c.md carries the same text as kiln $c --help" bash -c \
    "diff <('$KILN' $c --help) <(sed -n '/^\`\`\`text\$/,/^\`\`\`\$/p' '$here/docs/$c.md' | sed '1d;\$d')"
done
"$KILN" bench "$tmp/none.tflite" --json >"$tmp/o" 2>"$tmp/e"; rc=$?
check "bench on a missing file: exit 1, one line naming it" \
  bash -c "[ $rc = 1 ] && [ \$(wc -l <'$tmp/e') = 1 ] && grep -q none.tflite '$tmp/e' && [ ! -s '$tmp/o' ]"
printf 'not a model at all' >"$tmp/junk.tflite"
"$KILN" bench "$tmp/junk.tflite" 2>"$tmp/e"; rc=$?
check "bench on a junk file: exit 1" bash -c "[ $rc = 1 ] && [ \$(wc -l <'$tmp/e') = 1 ]"
"$KILN" bench x.tflite --num_runs 0 2>"$tmp/e"; rc=$?
check "bench --num_runs 0: usage error 2" bash -c "[ $rc = 2 ] && grep -q num_runs '$tmp/e'"
"$KILN" bench x.tflite --frobnicate 2>/dev/null; rc=$?
check "bench unknown option: 2" test $rc = 2
"$KILN" eval x.tflite 2>"$tmp/e"; rc=$?
check "eval without --data: 2" bash -c "[ $rc = 2 ] && grep -q -- --data '$tmp/e'"
"$KILN" eval x.tflite --data "$tmp/nothing" 2>/dev/null; rc=$?
check "eval on a missing data set: 1" test $rc = 1

# ---- bench on shared models -----------------------------------------------------------------
if [ -f "$SHARED/models/person_detect/model.tflite" ]; then
  ran=1
  pd=$SHARED/models/person_detect/model.tflite
  "$KILN" bench "$pd" --num_runs 7 --warmup_runs 2 --json >"$tmp/b.json" 2>"$tmp/e"
  check "bench --json: one JSON object with every field" jtrue "$tmp/b.json" \
    'all(.init_us, .first_us, .count, .min_us, .median_us, .mean_us, .std_us, .p5_us, .p95_us,
         .arena_bytes, .peak_rss_bytes; type == "number")'
  check "bench: count == --num_runs, ordered statistics" jtrue "$tmp/b.json" \
    '.count == 7 and .min_us > 0 and .min_us <= .p5_us and .p5_us <= .median_us and
     .median_us <= .p95_us and .p95_us <= .max_us and .min_us <= .mean_us and .std_us >= 0'
  check "bench: memory facts (arena >= 55 KB planned, RSS > 1 MB)" jtrue "$tmp/b.json" \
    '.arena_bytes > 50000 and .peak_rss_bytes > 1000000 and .init_us > 0 and .first_us > 0'
  "$KILN" bench "$pd" --num_runs=3 --enable_op_profiling --json >"$tmp/p.json"
  check "op profile: one row per op, shares sum to 1, sorted by cost" jtrue "$tmp/p.json" \
    '(.op_profile | length) == .ops and ((.op_profile | map(.share) | add) - 1 | fabs) < 1e-6
     and ([.op_profile_by_cost[] as $i | .op_profile[$i].avg_us] as $c
          | [range(1; $c | length) | $c[. - 1] >= $c[.]] | all)'
  # person_detect node 2 is a 1x1 CONV_2D from 48x48x8 to 48x48x16: 36864 outputs x 8 inputs
  check "op profile: CONV_2D MACs (node 2 = 294912) and GMAC/s" jtrue "$tmp/p.json" \
    '.op_profile[2].op == "CONV_2D" and .op_profile[2].macs == 294912 and
     ([.op_profile[] | select(.op == "CONV_2D")] | all(.macs > 0 and .gmacs > 0))'
  "$KILN" bench "$pd" --num_runs 3 --csv >"$tmp/c.csv"
  check "bench --csv: header and one row" \
    bash -c "head -1 '$tmp/c.csv' | grep -q median_us && [ \$(wc -l <'$tmp/c.csv') = 2 ]"
  hw=$SHARED/models/hello_world_float/model.tflite
  "$KILN" bench "$hw" --num_runs 40 --compare "$hw" --json >"$tmp/cmp.json"
  check "bench --compare: ratio inside its interval, rounds" jtrue "$tmp/cmp.json" \
    '.compare.rounds == 40 and .compare.ratio_lo <= .compare.ratio and
     .compare.ratio <= .compare.ratio_hi and (.compare.significant | type) == "boolean"'
  "$KILN" bench "$pd" --num_runs 2 --arith litert --num_threads 2 --json >"$tmp/l.json"
  check "bench --arith litert --num_threads 2" jtrue "$tmp/l.json" \
    '.arith == "litert" and .threads == 2 and .count == 2'
  # value range: an int8 input forced to one value gives the same output every run
  "$KILN" bench "$pd" --num_runs 2 --input_layer_value_range 'input,5,5' --json >/dev/null
  check "bench --input_layer_value_range accepted" test $? = 0
  "$KILN" bench "$pd" --input_layer_value_range 'input,5' 2>/dev/null; rc=$?
  check "bench --input_layer_value_range malformed: 2" test $rc = 2

  # regression: hello_world (sin) models on a CSV of x, sin(x): float and int8 I/O
  awk 'BEGIN { print "x,y"; for (i = 0; i < 200; i++) { x = i * 6.283 / 200; printf "%.6f,%.6f\n", x, sin(x) } }' \
    >"$tmp/sin.csv"
  "$KILN" eval "$hw" --data "$tmp/sin.csv" --regression --json --quiet >"$tmp/r.json"
  check "eval --regression (float model): MSE, MAE of sin" jtrue "$tmp/r.json" \
    '.samples == 200 and .mse < 0.02 and .mae < 0.12 and .mae > 0 and .mse <= .mae'
  hq=$SHARED/models/hello_world_int8/model.tflite
  "$KILN" eval "$hq" --data "$tmp/sin.csv" --regression --json --quiet --compare "$hw" >"$tmp/q.json"
  check "eval --regression (int8 model: input quantized from its scale)" jtrue "$tmp/q.json" \
    '.samples == 200 and .mse < 0.02 and .mae < 0.12 and (.compare.agreement | type) == "number"'
else
  echo "SKIP bench/regression parts: $SHARED/models is absent"
fi

# ---- eval on Fashion-MNIST with a converted model ------------------------------------------
if [ -d "$DATA" ]; then
  ran=1
  "$KILN" train "$here/models/fmnist_cnn.kiln" --data "$DATA" --epochs 1 --limit 3000 \
    --out "$tmp/cnn" >/dev/null 2>"$tmp/e" &&
    "$KILN" convert "$tmp/cnn/model.kckpt" -o "$tmp/cnn.tflite" >/dev/null 2>>"$tmp/e"
  if [ ! -f "$tmp/cnn.tflite" ]; then
    bad "train + convert a Fashion-MNIST CNN ($(tail -1 "$tmp/e"))"
  else
    m=$tmp/cnn.tflite
    "$KILN" eval "$m" --data "$DATA" --limit 400 --json --save-inputs "$tmp/in" \
      --predictions "$tmp/pred.csv" --report "$tmp/eval.html" >"$tmp/e1.json" 2>"$tmp/prog"
    check "eval --json: accuracy, samples, per_class, confusion" jtrue "$tmp/e1.json" \
      '.samples == 400 and (.accuracy | type) == "number" and (.per_class | length) == 10 and
       (.confusion | length) == 10 and all(.confusion[]; length == 10)'
    check "eval: confusion sums to samples, its trace is the accuracy" jtrue "$tmp/e1.json" \
      '([.confusion[][]] | add) == .samples and
       ([range(10) as $i | .confusion[$i][$i]] | add) / .samples == .accuracy'
    check "eval: per-class figures in [0,1], F1 the harmonic mean, support = row sums" \
      jtrue "$tmp/e1.json" \
      '. as $r | [range(10) as $c | $r.per_class[$c] as $p
         | $p.precision >= 0 and $p.precision <= 1 and $p.recall >= 0 and $p.recall <= 1 and
           $p.support == ($r.confusion[$c] | add) and
           (if $p.precision + $p.recall > 0
            then (($p.f1 - 2 * $p.precision * $p.recall / ($p.precision + $p.recall)) | fabs) < 1e-12
            else $p.f1 == 0 end)] | all'
    check "eval: top-5 >= top-1, accuracy within its interval, better than chance" \
      jtrue "$tmp/e1.json" \
      '.top_k == 5 and .top_k_accuracy >= .accuracy and .accuracy_lo <= .accuracy and
       .accuracy <= .accuracy_hi and .accuracy > 0.5'
    check "eval: progress bar on stderr" grep -q "eval" "$tmp/prog"
    "$KILN" eval "$m" --data "$DATA" --limit 400 --json --threads 3 --quiet >"$tmp/e3.json"
    strip='del(.seconds, .mean_invoke_us, .threads)'
    check "eval --threads 3 gives identical figures" \
      bash -c "diff <(jq -S '$strip' '$tmp/e1.json') <(jq -S '$strip' '$tmp/e3.json') >/dev/null"
    "$KILN" eval "$m" --data "$DATA" --limit 400 --json --quiet --compare "$m" >"$tmp/c.json"
    check "eval --compare with itself: agreement 1, difference 0, not significant" \
      jtrue "$tmp/c.json" \
      '.compare.agreement == 1 and .compare.accuracy_diff == 0 and .compare.significant == false'
    # (x * 1/255 - 0.5) / 0.5: Fashion-MNIST's first pixel (0) must reach the model as -1.0f
    "$KILN" eval "$m" --data "$DATA" --limit 2 --json --quiet --mean 0.5 --std 0.5 \
      --scale 0.00392156862745098 --save-inputs "$tmp/norm" >"$tmp/n.json"
    hl=$(od -An -tu2 -j8 -N2 "$tmp/norm/sample_00000.npy" | tr -d ' ')
    check "eval --scale/--mean/--std: first input value is -1.0f" \
      bash -c "[ \"\$(od -An -tx1 -j$((10 + hl)) -N4 '$tmp/norm/sample_00000.npy' | tr -d ' ')\" = 000080bf ]"
    check "eval --report writes self-contained HTML with SVG" \
      bash -c "grep -q '<svg' '$tmp/eval.html' && ! grep -Eq '(src|href)=\"(https?:)?//' '$tmp/eval.html'"

    # the golden: the official runtime on the very same (preprocessed) inputs
    if command -v node >/dev/null && oracle=$("$here/scripts/oracle.sh" 2>/dev/null); then
      node "$here/bench/oracle_eval.mjs" "$oracle" "$m" "$tmp/in" "$tmp/pred.csv" >"$tmp/g.json" \
        2>"$tmp/ge"
      check "eval accuracy equals the official runtime's on the same 400 samples" \
        bash -c "[ \"\$(jq .correct '$tmp/g.json')\" = \"\$(jq .correct '$tmp/e1.json')\" ]"
      check "eval predictions equal the official runtime's sample by sample" \
        bash -c "diff <(cut -d, -f3 '$tmp/pred.csv') <(jq -r '.predictions[]' '$tmp/g.json') >/dev/null"
    else
      echo "SKIP official-runtime golden: node or the oracle is unavailable"
    fi
  fi
  # Samples are independent: eval resets LSTM state before each one, so its predictions equal
  # a fresh interpreter's per image (without the reset 6 of these 300 differ).
  lstm="$here/tests/golden/convert/lstm_classifier/model.tflite"
  if command -v python3 >/dev/null; then
    "$KILN" eval "$lstm" --data "$DATA" --limit 300 --quiet --json --save-inputs "$tmp/lx" \
      --predictions "$tmp/lp.csv" >/dev/null
    for i in $(seq 0 299); do
      f=$(printf '%s/lx/sample_%05d.npy' "$tmp" "$i")
      "$KILN" run "$lstm" "$f" --out "$tmp/lo" >/dev/null 2>&1 || echo "run failed: $f"
      python3 - "$tmp/lo/000_"*.npy <<'PY'
import struct, sys
b = open(sys.argv[1], "rb").read()
h = struct.unpack("<H", b[8:10])[0]
v = struct.unpack("<10f", b[10 + h:10 + h + 40])
print(max(range(10), key=lambda k: v[k]))
PY
    done >"$tmp/lfresh.txt"
    check "eval on an LSTM model equals a fresh interpreter per image (state reset)" \
      bash -c "diff <(cut -d, -f3 '$tmp/lp.csv') '$tmp/lfresh.txt' >/dev/null"
  fi
else
  echo "SKIP eval on Fashion-MNIST: $DATA is absent"
fi

echo "$pass passed, $fail failed"
[ $fail = 0 ] || exit 1
[ $ran = 1 ] || { echo "SKIP: neither ../shared/models nor $DATA is present"; exit 77; }
exit 0
