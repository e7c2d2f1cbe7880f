#!/usr/bin/env bash
# regen.sh: regenerates the single-op goldens in tests/golden/ops/ from tests/golden/cases/*.txt:
# builds each model with `kiln opmodel`, runs it in the official LiteRT runtime (expected_litert)
# and in TFLite Micro's reference kernels (expected_tflm; integer models only). See README.md.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)

usage() {
  cat <<'USAGE'
usage: tests/golden/regen.sh [--kiln PATH] [--only NAME,...] [--seed S] [CASES.txt...]
       tests/golden/regen.sh --bulk [--kiln PATH] [SET.txt...]

Regenerates tests/golden/ops/<case>/ for every case of the given case files (default: all of
tests/golden/cases/*.txt; then folders of cases that no longer exist are removed too).
  --kiln PATH    the kiln CLI (default: $KILN_BIN, else build/kiln or build-*/kiln)
  --only LIST    only these cases (comma-separated; NAME* is a prefix)
  --seed S       seed of the random inputs (default 0; keep 0 for committed goldens)
  --bulk         regenerate the packed goldens tests/golden/bulk/<set>.gold from
                 tests/golden/bulk/<set>.txt instead (default: every set; see README.md):
                 models are built in a temporary folder, run in one node process and in
                 tflm-run, and only their outputs plus a sha256 of model and inputs are kept
Environment: KILN_ORACLE (folder with tflite-run and tflm-run; default ../shared/oracle).
USAGE
}

kiln=${KILN_BIN:-}
only=""
seed=0
bulk=0
files=()
while [ $# -gt 0 ]; do
  case "$1" in
    --kiln) kiln=$2; shift 2 ;;
    --only) only=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    --bulk) bulk=1; shift ;;
    -h|--help) usage; exit 0 ;;
    -*) echo "regen.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
    *) files+=("$1"); shift ;;
  esac
done
full=0
if [ ${#files[@]} -eq 0 ] && [ "$bulk" = 1 ]; then
  files=("$here"/bulk/*.txt)
elif [ ${#files[@]} -eq 0 ]; then
  files=("$here"/cases/*.txt)
  [ -z "$only" ] && full=1
fi
if [ -z "$kiln" ]; then
  for k in "$root"/build/kiln "$root"/build-*/kiln; do
    [ -x "$k" ] && { kiln=$k; break; }
  done
fi
[ -n "$kiln" ] && [ -x "$kiln" ] || { echo "regen.sh: kiln CLI not found (build it, or --kiln PATH)" >&2; exit 2; }

oracle=${KILN_ORACLE:-$root/../shared/oracle}
tflite_run=$oracle/tflite-run
tflm_run=$oracle/tflm-run
[ -x "$tflite_run" ] && [ -x "$tflm_run" ] ||
  { echo "regen.sh: no tflite-run/tflm-run in $oracle (set KILN_ORACLE)" >&2; exit 2; }
if [ ! -d "$oracle/node_modules" ]; then
  echo "regen.sh: $oracle/node_modules is missing: run $oracle/install.sh, or copy the oracle" \
       "folder somewhere writable, install it there and set KILN_ORACLE" >&2
  exit 2
fi

tmpbase=${TMPDIR:-/tmp}
# Bulk sets write thousands of small files: a memory file system when there is one.
[ "$bulk" = 1 ] && [ -z "${TMPDIR:-}" ] && [ -w /dev/shm ] && tmpbase=/dev/shm
tmp=$(mktemp -d "$tmpbase/kiln-regen.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

if [ "$bulk" = 1 ]; then
  # Packed sets: one node process runs every model of a set in the official runtime while
  # tflm-run (native, a few ms per model) runs them in TFLite Micro on the other core.
  total=0
  for f in "${files[@]}"; do
    set_name=$(basename "$f" .txt)
    m=$tmp/$set_name
    mkdir -p "$m"
    "$kiln" opmodel "$f" --list > "$m.list" || { echo "regen.sh: $f has bad lines" >&2; exit 1; }
    "$kiln" opmodel "$f" --out "$m" > /dev/null || { echo "regen.sh: $f: build failed" >&2; exit 1; }
    awk -v m="$m" '{print m "/" $1}' "$m.list" > "$m.dirs"
    t0=$(date +%s)
    node "$here/gen/oracle_batch.mjs" "$oracle" "$m.dirs" > "$m.litert.log" 2>&1 &
    nodepid=$!
    while read -r name kind _ <&4; do
      [ "$kind" = quant ] || continue
      d=$m/$name
      # (input_0..input_K with K < 10 in practice, so the glob order is the input order;
      # the outer braces keep the shell's "Aborted" line of a crashing tflm-run quiet)
      if ! { ("$tflm_run" "$d/model.tflite" "$d"/input_*.npy --out "$d/tflm") \
               > "$d.tflm.log" 2>&1; } 2> /dev/null; then
        rm -rf "$d/tflm"
      fi
    done 4< "$m.list"
    wait "$nodepid" || { echo "regen.sh: oracle_batch.mjs failed:" >&2; tail -5 "$m.litert.log" >&2; exit 1; }
    nfail=$(grep -c '^FAIL' "$m.litert.log" || true)
    { grep '^FAIL' "$m.litert.log" || true; } | head -5 | sed "s|$m/||; s/^/  official runtime: /" >&2
    ntflm=$(find "$m" -mindepth 2 -maxdepth 2 -type d -name tflm | wc -l)
    python3 "$here/gen/pack.py" "$m.list" "$m" "${f%.txt}.gold"
    n=$(wc -l < "$m.list")
    echo "regen.sh: $set_name: $n cases, $nfail rejected by the official runtime," \
         "$ntflm with a TFLite Micro golden ($(( $(date +%s) - t0 )) s)"
    total=$((total + n))
    rm -rf "$m"
  done
  echo "regen.sh: $total bulk cases"
  exit 0
fi

ops=$here/ops
mkdir -p "$ops"

# The cases to make, with their kind (float | quant), and a check for duplicate names.
onlyarg=()
[ -n "$only" ] && onlyarg=(--only "$only")
# A bad line in one case file is reported (by kiln opmodel) and does not stop the others.
: > "$tmp/list"
bad_files=0
for f in "${files[@]}"; do
  if ! "$kiln" opmodel "$f" --list "${onlyarg[@]+"${onlyarg[@]}"}" > "$tmp/list1"; then
    bad_files=$((bad_files + 1))
  fi
  sed "s|\$| $f|" "$tmp/list1" >> "$tmp/list"
done
dups=$(awk '{print $1}' "$tmp/list" | sort | uniq -d)
if [ -n "$dups" ]; then
  echo "regen.sh: case names defined twice: $dups" >&2
  exit 1
fi
mkdir -p "$tmp/models"
for f in "${files[@]}"; do
  "$kiln" opmodel "$f" --out "$tmp/models" --seed "$seed" "${onlyarg[@]+"${onlyarg[@]}"}" \
    > /dev/null 2>&1 || true
done

made=0 failed=0 no_tflm=0
while read -r name kind opname n_in file <&3; do
  d=$tmp/models/$name
  if [ ! -f "$d/model.tflite" ]; then
    echo "FAIL $name ($file): kiln opmodel could not build it" >&2
    failed=$((failed + 1))
    continue
  fi
  ins=()
  for x in "$d"/input_*.npy; do [ -e "$x" ] && ins+=("$x"); done
  # input_K.npy sorted by K (numeric) - at most a handful of inputs, so a simple sort works.
  mapfile -t ins < <(printf '%s\n' "${ins[@]+"${ins[@]}"}" | sed '/^$/d' | sort -V)
  litargs=()
  for x in "${ins[@]+"${ins[@]}"}"; do litargs+=(--input "$x"); done
  if ! "$tflite_run" "$d/model.tflite" "${litargs[@]+"${litargs[@]}"}" --out "$tmp/lit_$name" \
       > "$tmp/lit_$name.log" 2>&1; then
    echo "FAIL $name ($file): the official runtime rejects it:" >&2
    grep -v '^{' "$tmp/lit_$name.log" | grep -iE 'error|rejected|tflite-run' | head -4 | sed 's/^/    /' >&2
    failed=$((failed + 1))
    continue
  fi
  # LiteRT.js returns stale buffers for outputs that TFLite computes at prepare time: SHAPE,
  # and ops whose inputs are all constant (evaluated once in Prepare). For those cases only,
  # cross-check with the other official build (tfjs-tflite) and take its result where they
  # really disagree. Elsewhere LiteRT.js is the reference: the older tfjs-tflite build has
  # its own bugs (e.g. int8 CONV_2D with stride 3, hybrid FULLY_CONNECTED), where LiteRT.js
  # agrees with TFLite Micro.
  src=$tmp/lit_$name
  if { [ "$opname" = SHAPE ] || [ "$n_in" = 0 ]; } && "$tflite_run" "$d/model.tflite" "${litargs[@]+"${litargs[@]}"}" --runtime tfjs-tflite \
       --out "$tmp/tfjs_$name" > "$tmp/tfjs_$name.log" 2>&1; then
    for o in "$tmp/lit_$name"/output_*.npy; do
      t=$tmp/tfjs_$name/${o##*/}
      cmp -s "$o" "$t" && continue
      if node "$oracle/lib/npytool.mjs" show "$o" | grep -q '"dtype":"float'; then tol=rel:1e-4; else tol=1; fi
      if ! node "$oracle/lib/npytool.mjs" compare "$o" "$t" "$tol" > "$tmp/cmp.log" 2>&1; then
        echo "warning: $name: LiteRT.js and tfjs-tflite disagree on ${o##*/}" \
             "($(grep -o '"max_abs_diff":[^,]*' "$tmp/cmp.log")); using tfjs-tflite's outputs" >&2
        src=$tmp/tfjs_$name
      fi
    done
  fi
  for o in "$src"/output_*.npy; do
    k=${o##*/output_}; k=${k%.npy}
    cp "$o" "$d/expected_litert_$k.npy"
  done
  if [ "$kind" = quant ]; then
    # (a subshell, so that a crash of tflm-run is logged, not reported by this shell)
    if ("$tflm_run" "$d/model.tflite" "${ins[@]+"${ins[@]}"}" --out "$tmp/tflm_$name") \
         > "$tmp/tflm_$name.log" 2>&1 && ls "$tmp/tflm_$name"/output_*.npy > /dev/null 2>&1; then
      for o in "$tmp/tflm_$name"/output_*.npy; do
        k=${o##*/output_}; k=${k%.npy}
        cp "$o" "$d/expected_tflm_$k.npy"
      done
    else
      echo "note: $name: TFLite Micro cannot run it (no expected_tflm): $(tail -1 "$tmp/tflm_$name.log" | cut -c1-160)"
      no_tflm=$((no_tflm + 1))
    fi
  else
    # Float results have no integer dialect: the reference dialect expects the same values.
    for o in "$d"/expected_litert_*.npy; do cp "$o" "${o/expected_litert_/expected_tflm_}"; done
  fi
  bytes=$(cat "$d"/* | wc -c)
  [ "$bytes" -gt 20480 ] && echo "warning: $name: $bytes bytes (keep cases under 20 KB)" >&2
  [ -n "$name" ] || { echo "regen.sh: internal error: empty case name" >&2; exit 2; }
  rm -rf "${ops:?}/${name:?}"
  mv "$d" "$ops/$name"
  made=$((made + 1))
done 3< "$tmp/list"

if [ "$full" = 1 ]; then
  # List the cases again now: case files may have changed while this ran (other people add
  # cases and regenerate them meanwhile), and their fresh folders must stay.
  : > "$tmp/list_now"
  for f in "$here"/cases/*.txt; do
    "$kiln" opmodel "$f" --list >> "$tmp/list_now" 2> /dev/null || true
  done
  for d in "$ops"/*/; do
    [ -d "$d" ] || continue
    n=$(basename "$d")
    if ! awk -v n="$n" '$1 == n {found = 1} END {exit !found}' "$tmp/list_now"; then
      echo "removing stale $n"
      rm -rf "${ops:?}/${n:?}"
    fi
  done
fi
[ "$bad_files" -gt 0 ] && echo "regen.sh: $bad_files case file(s) have lines kiln opmodel rejects (see above)" >&2
echo "regen.sh: $made cases written to $ops, $failed failed, $no_tflm without a TFLite Micro golden"
[ "$failed" = 0 ] && [ "$bad_files" = 0 ]
