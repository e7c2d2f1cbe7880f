#!/usr/bin/env bash
# Regenerates tests/golden/convert/<model>/: the Model Garden specs trained 3 seeded steps and
# converted by tests/test_convert --emit (model sha256, a random input and for 28x28 models the
# first Fashion-MNIST test image, KILN_FASHION_MNIST=DIR), and the official runtime's output
# for each input (expected_K.npy; the LSTM classifier on the tfjs-tflite runtime). Needs node and the oracle (KILN_ORACLE=DIR: a ready copy, see scripts/oracle.sh).
#   tests/golden/convert/regen.sh BUILD_DIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
build=${1:?usage: regen.sh BUILD_DIR}
oracle=$("$root/scripts/oracle.sh")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
KILN_TESTS=$root/tests "$build/tests/test_convert" --emit "$tmp"
for d in "$tmp"/*/; do
  m=$(basename "$d")
  mkdir -p "$here/$m"
  # LiteRT.js rejects variable tensors (the LSTM's state): its older tfjs-tflite runtime runs them
  rt=litert
  case $m in lstm*) rt=tfjs-tflite ;; esac
  rm -f "$here/$m"/input_*.npy "$here/$m"/expected_*.npy
  for in in "$d"/input_*.npy; do  # input_0: random; input_1: a real Fashion-MNIST image (28x28)
    k=${in##*/input_}
    k=${k%.npy}
    "$oracle/tflite-run" "$d/model.tflite" --runtime $rt --input "$in" --out "$d/out$k" \
      --quiet >/dev/null
    cp "$in" "$here/$m/input_$k.npy"
    cp "$d/out$k/output_0.npy" "$here/$m/expected_$k.npy"
  done
  cp "$d/sha256" "$here/$m/sha256"
  cp "$d/model.tflite" "$here/$m/model.tflite"
  echo "$m ($rt): $(cat "$d/sha256")"
done
