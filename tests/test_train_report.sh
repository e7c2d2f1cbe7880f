#!/usr/bin/env bash
# test_train_report.sh: `kiln train --report` writes the HTML report with both curves (one point
# per epoch, training and validation), and a report path that cannot be written is an error.
set -uo pipefail
bin=${KILN_BIN:?}
data=/usr/share/datasets/fashion-mnist
[ -d "$data" ] || { echo "SKIP: $data is absent (Debian package dataset-fashion-mnist)"; exit 77; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
spec=$(dirname "$0")/../models/fmnist_mlp.kiln
pass=0 fail=0
ok() { if "$@"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: $*"; fi; }
"$bin" train "$spec" --data "$data" --epochs 2 --limit 1000 --test-limit 200 --val-split 0.2 \
  --out "$tmp/run" --quiet --report "$tmp/r.html" >/dev/null 2>"$tmp/err"
ok test $? -eq 0
ok grep -q "Loss per epoch" "$tmp/r.html"
ok grep -q "Accuracy per epoch" "$tmp/r.html"
ok grep -q "validation loss" "$tmp/r.html"
ok test "$(grep -o "<svg" "$tmp/r.html" | wc -l)" -eq 2
ok test -z "$(grep -o '<script\|src="http' "$tmp/r.html")"
"$bin" train "$spec" --data "$data" --epochs 1 --limit 200 --test-limit 50 --out "$tmp/run2" \
  --quiet --report "$tmp/no/such/dir/r.html" >/dev/null 2>"$tmp/err2"
ok test $? -ne 0
ok grep -q "r.html" "$tmp/err2"
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
