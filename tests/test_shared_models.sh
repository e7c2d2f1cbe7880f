#!/usr/bin/env bash
# test_shared_models.sh: every model of ../shared/models and every recipe of the single-op
# suite (../shared/models/ops) through `kiln run` in both integer dialects, compared by the
# shared check.sh with TFLite Micro's and the official runtime's outputs; plus --random inputs
# and inspect --json. Skips (77) without KILN_SHARED or node.
set -uo pipefail
shared=${KILN_SHARED:-}
bin=${KILN_BIN:-}
if [ -z "$shared" ] || [ ! -x "$shared/models/check.sh" ]; then
  echo "SKIP: KILN_SHARED is not set or has no models/check.sh"; exit 77
fi
command -v node >/dev/null || { echo "SKIP: node is not installed (needed by check.sh)"; exit 77; }
[ -n "$bin" ] && [ -x "$bin" ] || { echo "FAIL: KILN_BIN ($bin) is not an executable"; exit 1; }

fail=0
run() { # label, check.sh args...
  local label=$1; shift
  local out extra=()
  local args=()
  for a in "$@"; do
    if [ "$a" = --arith-litert ]; then extra=(--arith litert); else args+=("$a"); fi
  done
  out=$("$shared/models/check.sh" "${args[@]}" -- "$bin" run "${extra[@]+"${extra[@]}"}" 2>&1)
  local last
  last=$(printf '%s\n' "$out" | tail -1)
  printf '%s\n' "$out" | head -n -1 | grep -v '^PASS' || true
  echo "$label: $last"
  case $last in
    *" 0 failed"*) [[ $last == "0 passed"* ]] && fail=1 ;;
    *) fail=1 ;;
  esac
}

# Every shared model and every single-op conformance model, in both integer dialects: the
# reference dialect against TFLite Micro's outputs, the litert dialect against the official
# runtime's (floats within 1e-5, integers exact; cases without a golden for a dialect skip).
run "models, tflm dialect" --dialect tflm
run "models, litert dialect" --dialect litert --arith-litert
run "ops, tflm dialect" --models "$shared/models/ops" --dialect tflm
run "ops, litert dialect" --models "$shared/models/ops" --dialect litert --arith-litert
# --random SEED makes the same bytes as the oracle's --random-seed (the random* cases' inputs).
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
for m in hello_world_float dilated_conv; do
  for c in "$shared/models/$m/cases"/random*/; do
    seed=${c%/}; seed=${seed##*/random}
    rm -rf "$tmp/in"
    if ! "$bin" run "$shared/models/$m/model.tflite" --random "$seed" --save-inputs "$tmp/in" \
        --out "$tmp/out" >/dev/null 2>"$tmp/err"; then
      echo "FAIL $m --random $seed: $(tail -1 "$tmp/err")"; fail=1; continue
    fi
    for f in "$c"input_*.npy; do
      cmp -s "$f" "$tmp/in/$(basename "$f")" ||
        { echo "FAIL $m --random $seed: $(basename "$f") differs from the oracle's"; fail=1; }
    done
  done
done
echo "random inputs: checked against the oracle's random* cases"

# kiln inspect --json gives valid JSON with the plan figures for every shared model.
for m in "$shared"/models/*/model.tflite; do
  name=$(basename "$(dirname "$m")")
  if ! "$bin" inspect "$m" --json >"$tmp/i.json" 2>"$tmp/err"; then
    echo "FAIL inspect $name: $(tail -1 "$tmp/err")"; fail=1; continue
  fi
  node -e 'const j = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    const s = j.subgraphs[0];
    if (s.runnable && !(s.arena_bytes >= s.arena_lower_bound)) throw new Error("arena < bound");
    if (!Array.isArray(s.tensors) || !Array.isArray(s.operators)) throw new Error("fields");' \
    "$tmp/i.json" 2>"$tmp/err" || { echo "FAIL inspect $name --json: $(head -3 "$tmp/err" | tr '\n' ' ')"; fail=1; }
done
echo "inspect --json: checked every shared model"

if [ $fail -eq 0 ]; then echo "1 passed, 0 failed"; exit 0; fi
echo "0 passed, 1 failed"; exit 1
