#!/bin/sh
# gemm.sh: builds bench/gemm_bench.c against Debian's OpenBLAS (installing libopenblas-dev
# when it is missing) and prints kiln_sgemm vs cblas_sgemm GFLOP/s at 1 and 2 threads.
# Usage: bench/gemm.sh [--all] [--cpu-time] [--shapes]   (--all: also the transposed variants;
# --shapes: also the products of the training issue's models at batch 64;
# --cpu-time: process CPU time instead of wall time, a tuning aid on a loaded machine)
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
if [ ! -e /usr/include/x86_64-linux-gnu/cblas.h ] && [ ! -e /usr/include/cblas.h ] ||
   ! ls /usr/lib/*/openblas-pthread/libopenblas.so >/dev/null 2>&1; then
    echo "installing libopenblas-dev" >&2
    SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get install -y libopenblas-dev >&2
fi
blasdir=$(dirname "$(ls /usr/lib/*/openblas-pthread/libopenblas.so | head -1)")
out=${TMPDIR:-/tmp}/kiln-gemm-bench
mkdir -p "$out"
CFLAGS="-std=c11 -O2 -D_POSIX_C_SOURCE=200809L -I$here/include -I$here/src"
src="$here/src/kernels/gemm/gemm.c $here/src/util/pool.c"
objs=
case "$(uname -m)" in
x86_64|i?86)
    gcc $CFLAGS -mavx2 -mfma -c "$here/src/kernels/x86/gemm_avx2.c" -o "$out/avx2.o"
    gcc $CFLAGS -mavx512f -mavx512bw -mavx512vl -mavx512dq -mfma -mavx2 \
        -c "$here/src/kernels/x86/gemm_avx512.c" -o "$out/avx512.o"
    src="$src $here/src/kernels/x86/cpu.c"
    objs="$out/avx2.o $out/avx512.o";;
esac
gcc $CFLAGS -I/usr/include/x86_64-linux-gnu "$here/bench/gemm_bench.c" $src $objs \
    -L"$blasdir" -Wl,-rpath,"$blasdir" -lopenblas -lpthread -lm -o "$out/gemm_bench"
"$out/gemm_bench" "$@"
