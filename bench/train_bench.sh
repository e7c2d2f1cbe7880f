#!/usr/bin/env bash
# train_bench.sh: Kiln vs PyTorch (Debian python3-torch 1.13) training throughput on the two
# Fashion-MNIST models, same architecture, batch, optimizer (Adam, lr 1e-3) and thread count,
# at 1 and 2 threads, printed side by side with the ratio. With --full, also the full-length
# accuracy runs of issue #5 (MLP 10 epochs >= 0.89, CNN 15 epochs >= 0.915).
# Usage: bench/train_bench.sh [BUILD_DIR] [--full] [--reps N]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
build=$root/build
full=0
reps=1
while [ $# -gt 0 ]; do
  case $1 in
    --full) full=1 ;;
    --reps) reps=$2; shift ;;
    *) build=$1 ;;
  esac
  shift
done
kiln=$build/kiln
data=/usr/share/datasets/fashion-mnist
py=/usr/bin/python3
[ -x "$kiln" ] || { echo "train_bench: build first ($kiln missing)"; exit 1; }
[ -f $data/train-images-idx3-ubyte.gz ] || { echo "train_bench: $data missing (apt-get install dataset-fashion-mnist)"; exit 1; }
$py -c "import torch" 2>/dev/null || { echo "train_bench: apt-get install -y python3-torch"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
json() { $py -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$@"; }

# samples per run (first N of the training set): MLP 20,000 (313 steps), CNN 6,400 (100 steps)
limit_of() { [ "$1" = mlp ] && echo 20000 || echo 6400; }

echo "Training throughput, batch 64, Adam (samples/s of wall time; best of $reps, runs alternate)"
echo "cpu: samples per CPU-second of all the process's threads (robust on a busy machine)"
printf "%-6s %8s %12s %12s %8s %12s %12s %8s\n" model threads kiln pytorch ratio kiln-cpu torch-cpu ratio
for m in mlp cnn; do
  for th in 1 2; do
    lim=$(limit_of $m)
    kbest=0; tbest=0; kcb=0; tcb=0
    for r in $(seq "$reps"); do
      limarg=(); [ "$lim" != 0 ] && limarg=(--limit "$lim")
      "$kiln" train "$root/models/fmnist_$m.kiln" --data $data --epochs 1 --batch 64 \
        --threads "$th" --seed 1 --test-limit 1000 --quiet "${limarg[@]}" --out "$tmp/$m" 2>/dev/null
      k=$(json "$tmp/$m/summary.json" samples_per_second)
      kc=$($py -c "import json; d=json.load(open('$tmp/$m/summary.json')); print(d['samples_per_second'] * d['seconds'] / d['cpu_seconds'])")
      $py "$here/torch_train.py" $m --threads "$th" --limit "$lim" > "$tmp/torch.json"
      t=$($py -c "import json; print(json.load(open('$tmp/torch.json'))['samples_per_second'])")
      tc=$($py -c "import json; d=json.load(open('$tmp/torch.json')); print(d['samples'] / d['cpu_seconds'])")
      kbest=$($py -c "print(max($kbest, $k))"); tbest=$($py -c "print(max($tbest, $t))")
      kcb=$($py -c "print(max($kcb, $kc))"); tcb=$($py -c "print(max($tcb, $tc))")
    done
    printf "%-6s %8d %12.0f %12.0f %8.2f %12.0f %12.0f %8.2f\n" $m "$th" "$kbest" "$tbest" \
      "$($py -c "print($kbest / $tbest)")" "$kcb" "$tcb" "$($py -c "print($kcb / $tcb)")"
  done
done

if [ $full = 1 ]; then
  echo
  echo "Full-length accuracy runs (2 threads)"
  ok=1
  for spec in "mlp 10 0.89" "cnn 15 0.915"; do
    set -- $spec
    "$kiln" train "$root/models/fmnist_$1.kiln" --data $data --epochs "$2" --batch 64 \
      --threads 2 --seed 1 --quiet --out "$tmp/full_$1"
    acc=$(json "$tmp/full_$1/summary.json" test_accuracy)
    secs=$(json "$tmp/full_$1/summary.json" seconds)
    pass=$($py -c "print('PASS' if $acc >= $3 else 'FAIL')")
    [ "$pass" = PASS ] || ok=0
    printf "%-4s %2d epochs: test accuracy %.4f (needs >= %s) %s, %.0f s\n" "$1" "$2" "$acc" "$3" "$pass" "$secs"
  done
  [ $ok = 1 ] || exit 1
fi
