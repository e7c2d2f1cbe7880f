#!/usr/bin/env bash
# Installs the Debian packages Kiln needs that are missing (build tools, zlib, the Fashion-MNIST
# data set, flatc for the independent schema check, clang/llvm for the fuzzer and the
# microcontroller build check). Does nothing when all are present.
set -euo pipefail
need=()
have() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
for p in build-essential cmake zlib1g-dev dataset-fashion-mnist flatbuffers-compiler clang llvm; do
  have "$p" || need+=("$p")
done
[ ${#need[@]} -eq 0 ] && exit 0
echo "setup: installing ${need[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
