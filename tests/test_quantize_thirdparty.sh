#!/usr/bin/env bash
# test_quantize_thirdparty.sh: `kiln quantize` on multi-op float models written the way
# TensorFlow's converter writes third-party Keras models (tests/golden/gen/multiop.py: MobileNetV2
# and squeeze-excite blocks, U-Net pieces, DS-CNN, attention, embedding classifier, 2 inputs /
# 2 outputs, ...), in int8, dynamic, float16 and int16x8. The quantized files must be those the
# goldens were made from (sha256), and Kiln's outputs on them must equal the official runtime's
# (--arith litert; bit-exact in the int modes, 1e-5 relative in float16/dynamic) and TFLite
# Micro's (default dialect, bit-exact). Goldens: tests/golden/thirdparty/ (regen.sh);
# open findings: tests/golden/thirdparty/known_failures.lst (XFAIL). Needs python3.
set -u
bin=${KILN_BIN:-build/kiln}
tests=${KILN_TESTS:-$(cd "$(dirname "$0")" && pwd)}
command -v python3 > /dev/null || { echo "SKIP: python3 is not installed"; exit 77; }
[ -x "$bin" ] || { echo "FAIL: no kiln CLI at $bin"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
[ -f "$tests/golden/thirdparty/goldens.json.gz" ] || {
    echo "FAIL: tests/golden/thirdparty/goldens.json.gz is missing (regen.sh)"; exit 1; }
python3 "$tests/golden/gen/multiop.py" "$tmp/m" --samples 3 > /dev/null || {
    echo "FAIL: multiop.py"; exit 1; }
python3 "$tests/golden/thirdparty/qtp.py" check "$bin" "$tmp/m" \
    "$tests/golden/thirdparty/goldens.json.gz" "$tests/golden/thirdparty/known_failures.lst"
