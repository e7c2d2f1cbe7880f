#!/usr/bin/env bash
# regen.sh: regenerates tests/golden/thirdparty/goldens.json.gz for test_quantize_thirdparty.sh:
# the models of tests/golden/gen/multiop.py (3 test inputs each), quantized by `kiln quantize` in
# int8, dynamic, float16 and int16x8 (int modes calibrated on the 128 samples of NAME.calib.npy,
# small models in int8 on --calib-random: see SMALL in qtp.py), run
# by the official runtime (tflite-run) and, for int8/int16x8, TFLite Micro (tflm-run). The
# sha256 of every quantized file is stored: when the quantizer writes other bytes, the test says
# so and this script must be run again (after checking the change, e.g. with
# bench/quantize_thirdparty.sh).
# Usage: tests/golden/thirdparty/regen.sh [--kiln PATH]   (env KILN_ORACLE=DIR: the oracles,
# default ../shared/oracle beside the repository). Takes a few minutes.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
kiln="$root/build/kiln"
[ "${1:-}" = "--kiln" ] && kiln="$2"
[ -x "$kiln" ] || { echo "regen.sh: no kiln CLI at $kiln (--kiln PATH)" >&2; exit 1; }
oracle="${KILN_ORACLE:-$root/../shared/oracle}"
[ -x "$oracle/tflite-run" ] || { echo "regen.sh: no oracle at $oracle" >&2; exit 1; }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
python3 "$root/tests/golden/gen/multiop.py" "$tmp/m" --samples 3
python3 "$here/qtp.py" regen "$kiln" "$oracle" "$tmp/m" "$here/goldens.json.gz"
