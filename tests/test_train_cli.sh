#!/usr/bin/env bash
# test_train_cli.sh: kiln train and kiln summary end to end on Fashion-MNIST: output files and
# summary.json keys, exact --resume (byte-identical checkpoint), Ctrl-C (saves, exits 130,
# resumable), and the errors a user hits (spec syntax, truncated IDX, labels, usage).
set -u
bin=${KILN_BIN:-build/kiln}
root=$(cd "$(dirname "$0")/.." && pwd)
data=/usr/share/datasets/fashion-mnist
py=python3
if [ ! -f $data/train-images-idx3-ubyte.gz ]; then
  echo "SKIP: Fashion-MNIST is not installed at $data"; exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0; fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }
expect() { if eval "$1"; then ok; else bad "$2"; fi; }
jget() { $py -c "import json,sys; v=json.load(open(sys.argv[1]))[sys.argv[2]]; print(v)" "$1" "$2"; }

# summary
out=$("$bin" summary "$root/models/fmnist_mlp.kiln"); rc=$?
expect '[ $rc = 0 ] && echo "$out" | grep -q "Total params: 235146"' "summary mlp: $out"
out=$("$bin" summary "$root/models/fmnist_cnn.kiln")
expect 'echo "$out" | grep -q "Total params: 50186" && echo "$out" | grep -q "(None, 7, 7, 64)"' "summary cnn"
"$bin" summary "$root/models/fmnist_cnn.kiln" --json > "$tmp/s.json"
expect '[ "$(jget "$tmp/s.json" params)" = 50186 ]' "summary --json params"

# a short run: files and summary keys
# constant lr: a cosine schedule spans the --epochs of each invocation, so a 1-epoch run is
# not the first third of a 3-epoch one
common=(--data $data --batch 64 --seed 3 --limit 2000 --test-limit 1000 --quiet --schedule constant)
"$bin" train "$root/models/fmnist_mlp.kiln" "${common[@]}" --epochs 3 --out "$tmp/a" 2> "$tmp/a.log"
rc=$?
expect '[ $rc = 0 ]' "train exit $rc: $(cat "$tmp/a.log")"
expect '[ -s "$tmp/a/model.kckpt" ] && ls "$tmp/a"/events.out.tfevents.* >/dev/null 2>&1' "output files"
for k in test_accuracy test_loss epochs params samples_per_second seconds; do
  expect '[ -n "$(jget "$tmp/a/summary.json" $k)" ]' "summary.json lacks $k"
done
expect '[ "$(jget "$tmp/a/summary.json" epochs)" = 3 ]' "epochs in summary.json"
acc=$(jget "$tmp/a/summary.json" test_accuracy)
expect "$py -c 'import sys; sys.exit(0 if $acc > 0.7 else 1)'" "accuracy $acc"

# resume: 1 epoch, then resume to 3: the same checkpoint bytes as the straight run
"$bin" train "$root/models/fmnist_mlp.kiln" "${common[@]}" --epochs 1 --out "$tmp/b" 2>/dev/null
"$bin" train "$root/models/fmnist_mlp.kiln" "${common[@]}" --epochs 3 --out "$tmp/c" \
  --resume "$tmp/b/model.kckpt" 2> "$tmp/c.log"
expect 'cmp -s "$tmp/a/model.kckpt" "$tmp/c/model.kckpt"' "resumed checkpoint differs: $(cat "$tmp/c.log")"
expect '[ "$(jget "$tmp/c/summary.json" test_accuracy)" = "$acc" ]' "resumed accuracy"

# Ctrl-C: a checkpoint is saved, exit 130, and it resumes
"$bin" train "$root/models/fmnist_cnn.kiln" --data $data --batch 32 --epochs 50 \
  --test-limit 100 --out "$tmp/d" 2> "$tmp/d.log" &
pid=$!
for i in $(seq 120); do grep -q "epoch 1/" "$tmp/d.log" 2>/dev/null && break; sleep 0.5; done
sleep 1
kill -INT $pid
wait $pid
rc=$?
expect '[ $rc = 130 ]' "SIGINT exit $rc: $(tail -3 "$tmp/d.log")"
expect 'grep -q "interrupted at epoch 1" "$tmp/d.log"' "interrupt message: $(tail -2 "$tmp/d.log")"
expect '[ -s "$tmp/d/model.kckpt" ]' "checkpoint after SIGINT"
"$bin" train "$root/models/fmnist_cnn.kiln" --data $data --batch 32 --epochs 1 --limit 64 \
  --test-limit 100 --quiet --out "$tmp/e" --resume "$tmp/d/model.kckpt" 2> "$tmp/e.log"
rc=$?
expect '[ $rc = 0 ]' "resume after SIGINT: $(cat "$tmp/e.log")"

# errors
printf 'model m\ninput x 28 28 1\nconv2d 8 3 padding=sideways\n' > "$tmp/bad.kiln"
"$bin" train "$tmp/bad.kiln" --data $data --out "$tmp/f" 2> "$tmp/f.log"; rc=$?
expect '[ $rc = 1 ] && grep -q "bad.kiln:3:20: conv2d: bad value" "$tmp/f.log"' "spec error: $(cat "$tmp/f.log")"
mkdir -p "$tmp/trunc"
head -c 100000 $data/train-images-idx3-ubyte.gz > "$tmp/trunc/train-images-idx3-ubyte.gz"
cp $data/train-labels-idx1-ubyte.gz $data/t10k-* "$tmp/trunc/"
"$bin" train "$root/models/fmnist_mlp.kiln" --data "$tmp/trunc" --out "$tmp/g" 2> "$tmp/g.log"; rc=$?
expect '[ $rc = 1 ] && grep -qi "trunc" "$tmp/g.log"' "truncated IDX: $(cat "$tmp/g.log")"
printf 'a,b,c,label\n1,2,3,0\n4,5,6,1\n7,8,1\n' > "$tmp/bad.csv"
printf 'input x 3\ndense 2\nloss sparse_categorical_crossentropy from_logits\n' > "$tmp/csv.kiln"
"$bin" train "$tmp/csv.kiln" --data "$tmp/bad.csv" --out "$tmp/i" 2> "$tmp/i.log"; rc=$?
expect '[ $rc = 1 ] && grep -q "bad.csv:4: 3 columns, expected 4" "$tmp/i.log"' "csv: $(cat "$tmp/i.log")"
printf 'input x 28 28 1\nflatten\ndense 5\nloss sparse_categorical_crossentropy from_logits\n' > "$tmp/five.kiln"
"$bin" train "$tmp/five.kiln" --data $data --limit 500 --out "$tmp/h" 2> "$tmp/h.log"; rc=$?
expect '[ $rc = 1 ] && grep -q "out of range \[0, 5)" "$tmp/h.log"' "labels: $(cat "$tmp/h.log")"
"$bin" train "$root/models/fmnist_mlp.kiln" --data $data 2> /dev/null; rc=$?
expect '[ $rc = 2 ]' "usage error exit $rc"
"$bin" train --help > /dev/null; rc=$?
expect '[ $rc = 0 ]' "--help"

echo "$pass passed, $fail failed"
[ $fail = 0 ]
