#!/usr/bin/env bash
# test_help_docs.sh: every command's `--help` text stands verbatim in its doc page (README's
# promise). scripts/sync_help.py KILN rewrites the pages when a help text changes.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
kiln=${KILN_BIN:-$root/build/kiln}
pass=0 fail=0
for pair in run:run inspect:inspect train:train summary:train convert:convert quantize:quantize \
            eval:eval bench:bench opmodel:opmodel; do
  cmd=${pair%%:*} page=$root/docs/${pair#*:}.md
  help=$("$kiln" "$cmd" --help)
  if [ -z "$help" ]; then echo "FAIL: kiln $cmd --help printed nothing"; fail=$((fail + 1)); continue; fi
  if python3 -c 'import sys; sys.exit(0 if open(sys.argv[1]).read().find(sys.stdin.read().rstrip()) >= 0 else 1)' \
       "$page" <<<"$help"; then
    pass=$((pass + 1))
  else
    echo "FAIL: docs/${pair#*:}.md does not hold the text of kiln $cmd --help (run scripts/sync_help.py $kiln)"
    fail=$((fail + 1))
  fi
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
