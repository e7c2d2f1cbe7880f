#!/usr/bin/env bash
# test_opmodel.sh: `kiln opmodel` (tools/kiln/cmd_opmodel.c): deterministic output, committed
# goldens in sync with their case files (tests/golden/ops vs tests/golden/cases), and a clear
# one-line error for each kind of bad case line.
set -uo pipefail
bin=${KILN_BIN:-}
tests=${KILN_TESTS:-$(cd "$(dirname "$0")" && pwd)}
[ -n "$bin" ] && [ -x "$bin" ] || { echo "FAIL: KILN_BIN ($bin) is not an executable"; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/kiln-opmodel.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }

# 1. Same case file, same seed: the same bytes; another seed: other inputs.
smoke=$tests/golden/cases/smoke.txt
"$bin" opmodel "$smoke" --out "$tmp/a" > /dev/null && "$bin" opmodel "$smoke" --out "$tmp/b" > /dev/null
if diff -r "$tmp/a" "$tmp/b" > /dev/null; then ok; else bad "two runs on smoke.txt differ"; fi
"$bin" opmodel "$smoke" --out "$tmp/c" --seed 7 --only add_bcast_relu > /dev/null
if cmp -s "$tmp/a/add_bcast_relu/input_0.npy" "$tmp/c/add_bcast_relu/input_0.npy"; then
  bad "--seed 7 gave the same inputs as seed 0"; else ok; fi
if [ "$(ls "$tmp/c")" = add_bcast_relu ]; then ok; else bad "--only built $(ls "$tmp/c" | wc -l) cases"; fi

# 2. Every committed golden was built from its case file as it is now.
stale=0 checked=0
for f in "$tests"/golden/cases/*.txt; do
  "$bin" opmodel "$f" --out "$tmp/now" > /dev/null 2> "$tmp/err" || true
done
for d in "$tmp"/now/*/; do
  n=$(basename "$d")
  g=$tests/golden/ops/$n
  [ -d "$g" ] || continue  # no golden (e.g. the official runtime rejects the case)
  checked=$((checked + 1))
  for x in "$d"*; do
    if ! cmp -s "$x" "$g/$(basename "$x")"; then
      stale=$((stale + 1))
      [ "$stale" -le 10 ] &&
        echo "FAIL: golden $n is stale: $(basename "$x") differs from what its case line builds" \
             "now (rerun tests/golden/regen.sh --only $n)"
      break
    fi
  done
done
if [ "$stale" = 0 ]; then ok; else
  bad "$stale stale goldens in total (the first 10 are listed)"; fi
echo "checked $checked committed goldens against their case files"

# 3. --list and usage errors.
if "$bin" opmodel "$smoke" --list | grep -qx "fc_int8_perchannel quant FULLY_CONNECTED 1"; then ok; else bad "--list"; fi
"$bin" opmodel > /dev/null 2>&1; [ $? = 2 ] && ok || bad "no arguments should exit 2"
"$bin" opmodel "$smoke" --out "$tmp/x" --bogus > /dev/null 2>&1; [ $? = 2 ] && ok || bad "--bogus should exit 2"
"$bin" opmodel "$tmp/missing.txt" --out "$tmp/x" 2> "$tmp/err" > /dev/null
if [ $? = 1 ] && grep -q "missing.txt: No such file" "$tmp/err"; then ok; else bad "missing case file"; fi

# 4. Bad case lines: each gives one line naming file, line, case and the problem.
while IFS='|' read -r want line; do
  [ -z "$line" ] && continue
  printf '%s\n' "$line" > "$tmp/bad.txt"
  "$bin" opmodel "$tmp/bad.txt" --out "$tmp/bad" > /dev/null 2> "$tmp/err"
  rc=$?
  if [ $rc = 1 ] && grep -qF "bad.txt:1: " "$tmp/err" && grep -qF -- "$want" "$tmp/err"; then
    ok
  else
    bad "case '$line': rc=$rc, expected message with '$want', got: $(head -c 300 "$tmp/err")"
  fi
done <<'CASES'
unknown operator 'ADDD'|c1 ADDD ; in a f32[2] ; out y f32[2]
unknown dtype 'f33'|c2 ADD ; in a f33[2] ; out y f32[2]
rand(lo,hi) needs two numbers|c3 ADD ; in a f32[2] rand(1) ; out y f32[2]
integer bounds within the i8 range|c4 ADD ; in a i8[2] rand(-200,0) ; out y i8[2]
vals(...) has 2 values, the shape has 3|c5 ADD ; const a f32[3] vals(1,2) ; out y f32[3]
per-channel quantization needs dim=D|c6 ADD ; in a i8[4,2] q([0.1,0.2],0) ; out y f32[2]
unknown type|c7 ADD ; in a f32[2] ; out y f32[2] ; opts AddOptions 0:i9=1
unknown options table 'FooOptions'|c8 ADD ; in a f32[2] ; out y f32[2] ; opts FooOptions
value out of range for i8|c9 ADD ; in a f32[2] ; out y f32[2] ; opts AddOptions 0:i8=300
unknown section 'wat'|c10 ADD ; in a f32[2] ; out y f32[2] ; wat x
no 'out' tensor|c11 ADD ; in a f32[2]
expected version vN|c12 ADD v0 ; in a f32[2] ; out y f32[2]
tensor name 'a' used twice|c13 ADD ; in a f32[2] ; in a f32[2] ; out y f32[2]
2 scales but dimension 0 has 3 entries|c14 ADD ; const w i8[3,2] rand(-1,1) q([0.1,0.2],0,dim=0) ; out y f32[2]
needs rand(lo,hi) or vals(...)|c15 ADD ; const w f32[2] ; out y f32[2]
bad scale '-1'|c16 ADD ; in a i8[2] q(-1,0) ; out y f32[2]
outputs take only q(...)|c17 ADD ; in a f32[2] ; out y f32[2] rand(0,1)
option field 0 given twice|c18 ADD ; in a f32[2] ; out y f32[2] ; opts AddOptions 0:i8=1 0:i8=2
use only [A-Za-z0-9_.-]|c/19 ADD ; in a f32[2] ; out y f32[2]
CASES

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
