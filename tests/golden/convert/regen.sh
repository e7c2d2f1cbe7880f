#!/usr/bin/env bash
# Regenerates tests/golden/convert/<model>/: the Model Garden specs trained 3 seeded steps and
# converted by tests/test_convert --emit (model sha256 + a test input), and the official
# runtime's output for that input (expected_0.npy). Needs node and the oracle.
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
  "$oracle/tflite-run" "$d/model.tflite" --input "$d/input_0.npy" --out "$d/out" --quiet >/dev/null
  cp "$d/input_0.npy" "$here/$m/input_0.npy"
  cp "$d/out/output_0.npy" "$here/$m/expected_0.npy"
  cp "$d/sha256" "$here/$m/sha256"
  cp "$d/model.tflite" "$here/$m/model.tflite"
  echo "$m: $(cat "$d/sha256")"
done
