#!/usr/bin/env bash
# bench/models.sh: every model in ../shared/models timed with `kiln bench` and with the official
# runtime (tflite-run --bench, LiteRT's WebAssembly build) in one run; prints a table of medians
# and the ratio kiln/official (< 1: kiln is faster).
#   bench/models.sh [--runs N] [--warmup W] [--max_secs S] [--kiln PATH] [--threads T]
#                   [--arith litert|tflm] [--json FILE]
# Kiln runs with --arith litert by default: the integer arithmetic the official runtime computes
# (one rounding per requantization), so both sides do the same work.
# Inputs come from the model's first cases/*/input_K.npy when present, else each side's random
# generator. Both sides run single-threaded by default (the oracle is single-threaded), with the
# same number of timed and warm-up runs. Models the official runtime rejects (custom ops, variable
# tensors) show "-" on its side.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
shared=${KILN_SHARED:-$here/../shared}
runs=100
warmup=10
threads=1
max_secs=20
arith=litert
kiln=${KILN_BIN:-}
json_out=
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs=$2; shift 2 ;;
    --warmup) warmup=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --max_secs) max_secs=$2; shift 2 ;;
    --arith) arith=$2; shift 2 ;;
    --kiln) kiln=$2; shift 2 ;;
    --json) json_out=$2; shift 2 ;;
    -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "models.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
if [ -z "$kiln" ]; then
  for c in "$here"/build*/kiln; do [ -x "$c" ] && { kiln=$c; break; }; done
fi
[ -x "${kiln:-}" ] || { echo "models.sh: no kiln binary (build first or pass --kiln)" >&2; exit 2; }
[ -d "$shared/models" ] || { echo "models.sh: $shared/models is absent" >&2; exit 2; }
command -v jq >/dev/null || { echo "models.sh: needs jq" >&2; exit 2; }
oracle=$("$here/scripts/oracle.sh")

printf '%-30s %6s %14s %14s %8s  %s\n' model ops "kiln med us" "official us" ratio note
rows=()
for m in "$shared"/models/*/model.tflite; do
  name=$(basename "$(dirname "$m")")
  note=
  # real inputs from the model's first test case when it has one (shape inputs such as
  # TRANSPOSE_CONV's output_shape cannot be random); the same files feed both runtimes
  k_in=(); o_in=()
  case_dir=$(ls -d "$(dirname "$m")"/cases/*/ 2>/dev/null | head -1)
  if [ -n "$case_dir" ] && [ -f "$case_dir/input_0.npy" ]; then
    spec=
    for f in "$case_dir"/input_*.npy; do
      i=${f##*/input_}; i=${i%.npy}
      spec="${spec:+$spec,}$i:$f"
    done
    for i in $(seq 0 $(( $(ls "$case_dir"/input_*.npy | wc -l) - 1 ))); do
      o_in+=(--input "$case_dir/input_$i.npy")
    done
    k_in=(--input_layer_value_files "$spec")
  fi
  k_json=$("$kiln" bench "$m" "${k_in[@]}" --num_runs "$runs" --warmup_runs "$warmup" --num_threads "$threads" \
           --max_secs "$max_secs" --arith "$arith" --json 2>/tmp/models_sh_err.$$) || k_json=
  if [ -n "$k_json" ]; then
    k_med=$(jq -r '.median_us' <<<"$k_json"); ops=$(jq -r '.ops' <<<"$k_json")
  else
    k_med=-; ops=-; note="kiln: $(head -c 80 /tmp/models_sh_err.$$)"
  fi
  o_json=$("$oracle/tflite-run" "$m" "${o_in[@]}" --bench "$runs" --warmup "$warmup" --quiet \
           --fix-quantized-dimension 2>/dev/null | tail -1) || true
  o_med=$(jq -r 'if .ok then .bench.median_us else "-" end' <<<"${o_json:-{\}}" 2>/dev/null || echo -)
  [ "$o_med" = null ] && o_med=-
  if [ "$k_med" != - ] && [ "$o_med" != - ]; then
    ratio=$(awk -v a="$k_med" -v b="$o_med" 'BEGIN { printf "%.3f", a / b }')
    [ "$(awk -v r="$ratio" 'BEGIN { print (r > 1) }')" = 1 ] && note="${note:+$note; }kiln slower"
  else
    ratio=-
    [ "$o_med" = - ] && note="${note:+$note; }official: $(jq -r '.error // "failed"' <<<"${o_json:-{\}}" 2>/dev/null | head -c 60)"
  fi
  printf '%-30s %6s %14s %14s %8s  %s\n' "$name" "$ops" \
    "$( [ "$k_med" = - ] && echo - || printf '%.1f' "$k_med")" \
    "$( [ "$o_med" = - ] && echo - || printf '%.1f' "$o_med")" "$ratio" "$note"
  rows+=("$(jq -nc --arg m "$name" --arg k "$k_med" --arg o "$o_med" --arg r "$ratio" \
    '{model:$m, kiln_median_us:($k|tonumber? // null), official_median_us:($o|tonumber? // null),
      ratio:($r|tonumber? // null)}')")
done
rm -f /tmp/models_sh_err.$$
if [ -n "$json_out" ]; then
  printf '%s\n' "${rows[@]}" | jq -s --argjson runs "$runs" --argjson warmup "$warmup" \
    '{runs:$runs, warmup:$warmup, models:.}' >"$json_out"
fi
