#!/usr/bin/env bash
# test_report_html.sh: the HTML reports of kiln eval and kiln bench rendered by a real browser
# (headless Debian chromium): the rendered DOM (--dump-dom) must hold the figures and charts,
# and a screenshot must be a real image, not a blank page. Exits 77 with a message when
# chromium, ../shared/models or the Fashion-MNIST data set is absent.
set -uo pipefail
KILN=${KILN_BIN:?KILN_BIN must point at the kiln CLI}
SHARED=${KILN_SHARED:-$(dirname "$0")/../../shared}
here=$(cd "$(dirname "$0")/.." && pwd)
DATA=${KILN_FMNIST:-/usr/share/datasets/fashion-mnist}
CHROMIUM=${CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}
[ -n "$CHROMIUM" ] || { echo "SKIP: chromium is not installed (apt-get install chromium)"; exit 77; }
[ -f "$SHARED/models/person_detect/model.tflite" ] || { echo "SKIP: $SHARED/models is absent"; exit 77; }
[ -d "$DATA" ] || { echo "SKIP: $DATA is absent"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
check() { local name=$1; shift; if "$@"; then pass=$((pass + 1)); echo "PASS $name"; else
  fail=$((fail + 1)); echo "FAIL $name"; fi; }

browse() { # browse MODE FILE.html OUT: MODE dump (DOM to OUT) or shot (PNG to OUT)
  local prof; prof=$(mktemp -d "$tmp/prof.XXXX")
  local flags=(--headless --no-sandbox --disable-gpu --disable-background-networking
    --disable-component-update --disable-sync --no-first-run --user-data-dir="$prof")
  if [ "$1" = dump ]; then
    timeout 120 "$CHROMIUM" "${flags[@]}" --dump-dom "file://$2" >"$3" 2>/dev/null
  else
    timeout 120 "$CHROMIUM" "${flags[@]}" --screenshot="$3" --window-size=1200,1600 \
      "file://$2" >/dev/null 2>&1
  fi
}
png_size() { # width height of a PNG (IHDR)
  od -An -tu1 -j16 -N8 "$1" | awk '{ print $1*16777216+$2*65536+$3*256+$4, $5*16777216+$6*65536+$7*256+$8 }'
}

# a small model trained here and converted, evaluated with a report
"$KILN" train "$here/models/fmnist_cnn.kiln" --data "$DATA" --epochs 1 --limit 2000 \
  --out "$tmp/cnn" >/dev/null 2>&1 && "$KILN" convert "$tmp/cnn/model.kckpt" -o "$tmp/cnn.tflite" \
  >/dev/null 2>&1
check "train + convert a Fashion-MNIST model" test -f "$tmp/cnn.tflite"
"$KILN" eval "$tmp/cnn.tflite" --data "$DATA" --limit 300 --quiet --json \
  --report "$tmp/eval.html" >"$tmp/eval.json"
check "eval --report wrote the file" test -s "$tmp/eval.html"
browse dump "$tmp/eval.html" "$tmp/eval.dom"
acc=$(jq -r '.accuracy' "$tmp/eval.json" | awk '{ printf "%.4f", $1 }')
check "eval report renders: title, accuracy $acc, class names, charts" bash -c "
  grep -q 'kiln eval' '$tmp/eval.dom' && grep -q 'accuracy' '$tmp/eval.dom' &&
  grep -q '$acc' '$tmp/eval.dom' && grep -q 'Ankle boot' '$tmp/eval.dom' &&
  grep -q 'Confusion matrix' '$tmp/eval.dom' && grep -q 'precision, recall and F1' '$tmp/eval.dom' &&
  grep -q 'Invoke latency' '$tmp/eval.dom'"
check "eval report: 100 heat-map cells and 30 bars in the DOM" bash -c "
  [ \$(grep -o '<title>true [0-9]*, predicted' '$tmp/eval.dom' | wc -l) = 100 ] &&
  [ \$(grep -o '<rect[^>]*fill=\"#f28e2b\"' '$tmp/eval.dom' | wc -l) -ge 10 ]"
check "eval report: the diagonal counts sum to the correct samples" bash -c "
  s=0; for c in \$(seq 0 9); do
    v=\$(grep -o \"true \$c, predicted \$c: [0-9]*\" '$tmp/eval.dom' | grep -o '[0-9]*\$'); s=\$((s + v)); done
  [ \$s = \$(jq .correct '$tmp/eval.json') ]"
browse shot "$tmp/eval.html" "$tmp/eval.png"
read -r w h < <(png_size "$tmp/eval.png" 2>/dev/null || echo "0 0")
check "eval report screenshot: 1200x1600 PNG with content (> 30 KB)" bash -c "
  [ '$w' = 1200 ] && [ '$h' = 1600 ] && [ \$(stat -c %s '$tmp/eval.png') -gt 30000 ]"

# bench with op profiling
pd=$SHARED/models/person_detect/model.tflite
"$KILN" bench "$pd" --num_runs 5 --enable_op_profiling --json --report "$tmp/bench.html" \
  >"$tmp/bench.json"
browse dump "$tmp/bench.html" "$tmp/bench.dom"
check "bench report renders: histogram, per-op chart, cost table, arena" bash -c "
  grep -q 'Invoke time histogram' '$tmp/bench.dom' &&
  grep -q 'Per-operator time' '$tmp/bench.dom' && grep -q 'sorted by cost' '$tmp/bench.dom' &&
  grep -q \"\$(jq .arena_bytes '$tmp/bench.json')\" '$tmp/bench.dom' &&
  [ \$(grep -c 'DEPTHWISE_CONV_2D' '$tmp/bench.dom') -ge 13 ]"
browse shot "$tmp/bench.html" "$tmp/bench.png"
read -r w h < <(png_size "$tmp/bench.png" 2>/dev/null || echo "0 0")
check "bench report screenshot: 1200x1600 PNG with content (> 30 KB)" bash -c "
  [ '$w' = 1200 ] && [ '$h' = 1600 ] && [ \$(stat -c %s '$tmp/bench.png') -gt 30000 ]"
check "reports are self-contained (no external src/href)" bash -c "
  ! grep -Eq '(src|href)=' '$tmp/eval.html' '$tmp/bench.html'"

echo "$pass passed, $fail failed"
[ $fail = 0 ]
