#!/usr/bin/env bash
# Prints the path of a ready copy of ../shared/oracle (the official-runtime oracle), installing
# its npm packages into a writable copy when needed: ../shared is read-only here and in CI.
#   ORACLE=$(scripts/oracle.sh) && "$ORACLE/tflite-run" model.tflite --bench 100
# KILN_ORACLE overrides the location (default: build/oracle beside this project).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
src=${KILN_SHARED:-$here/../shared}/oracle
[ -d "$src" ] || { echo "oracle.sh: $src is absent" >&2; exit 2; }
if [ -d "$src/node_modules/@litertjs" ]; then echo "$src"; exit 0; fi
dst=${KILN_ORACLE:-$here/build/oracle}
if [ ! -d "$dst/node_modules/@litertjs" ]; then
  mkdir -p "$dst"
  cp -r "$src"/. "$dst"/
  chmod -R u+w "$dst"
  "$dst/install.sh" >&2
fi
echo "$dst"
