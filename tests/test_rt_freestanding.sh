#!/usr/bin/env bash
# test_rt_freestanding.sh: libkiln-rt must build for a microcontroller. Compiles every runtime and
# kernel source for a Cortex-M4 (thumbv7em-none-eabi, hard float) with clang, freestanding, with
# KILN_FREESTANDING (no default allocator) and only string.h/math.h declarations available
# (tests/freestanding/), then checks that the objects need nothing beyond a small allowlist of
# libc/libm functions and the compiler's runtime helpers. Prints the code and data size.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
command -v clang >/dev/null || { echo "SKIP: clang not installed (make deps installs it)"; exit 77; }
nm=$(command -v llvm-nm || command -v llvm-nm-14 || true)
size=$(command -v llvm-size || command -v llvm-size-14 || true)
[ -n "$nm" ] || { echo "SKIP: llvm-nm not installed (make deps installs llvm)"; exit 77; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
res=$(clang -print-resource-dir)
flags=(--target=thumbv7em-none-eabi -mcpu=cortex-m4 -mfloat-abi=hard -ffreestanding -nostdinc
       -isystem "$res/include" -isystem "$root/tests/freestanding" -std=c11 -Os
       -Wall -Wextra -Wshadow -Wno-unused-parameter -Werror -DKILN_FREESTANDING
       -I"$root/include" -I"$root/src")
n=0
for f in "$root"/src/rt/*.c "$root"/src/kernels/*.c "$root"/src/kernels/ref/*.c \
         "$root"/src/kernels/gemm/*.c; do
  o="$out/$(basename "$(dirname "$f")")_$(basename "$f" .c).o"
  if ! clang "${flags[@]}" -c "$f" -o "$o" 2>"$out/err"; then
    echo "FAIL: $f does not compile for thumbv7em-none-eabi:"; head -20 "$out/err"; exit 1
  fi
  n=$((n + 1))
done
# What the objects need from outside: libc/libm functions and the ARM EABI runtime helpers.
"$nm" --defined-only "$out"/*.o | awk 'NF == 3 {print $3}' | sort -u >"$out/defined"
"$nm" -u "$out"/*.o | awk 'NF >= 2 && $1 == "U" {print $2}' | sort -u >"$out/undef"
comm -23 "$out/undef" "$out/defined" >"$out/external"
allowed='^(__aeabi_[a-z0-9]+|mem(cpy|move|set|cmp)|str(len|cmp|ncmp|chr|str)|(ceil|floor|round|rint|lrint|llround|lround|trunc|fabs|fmax|fmin|fmod|exp|expm1|exp2|log|log1p|log2|log10|pow|sqrt|hypot|sin|cos|tan|tanh|sinh|cosh|atan|atan2|asin|acos|erf|erfc|frexp|ldexp|copysign|cbrt|nearbyint)f?)$'
bad=$(grep -Ev "$allowed" "$out/external" || true)
if [ -n "$bad" ]; then
  echo "FAIL: libkiln-rt needs symbols a bare-metal target does not have:"; echo "$bad"; exit 1
fi
echo "compiled $n files for thumbv7em-none-eabi; external symbols: $(wc -l <"$out/external")" \
     "($(grep -c '^__aeabi' "$out/external" || true) compiler helpers)"
grep -Ev '^__aeabi' "$out/external" | tr '\n' ' '; echo
if [ -n "$size" ]; then
  "$size" -t "$out"/*.o | tail -1 | awk '{printf "total text %d B, data %d B, bss %d B\n", $1, $2, $3}'
fi
echo "1 passed, 0 failed"
