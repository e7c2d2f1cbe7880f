# lib.sh: the preamble of the golden regen.sh scripts that drive a test program's --write
# (rnn/, rnn_q/, control/); sourced, not run. regen_setup reads the command line
# ([--test-x PATH] names the test program test_x), finds that program in build/ or build-*/
# otherwise, checks the oracle (env KILN_ORACLE=DIR, default ../shared/oracle beside the
# repository) and makes a temporary folder removed on exit.
# Use: here="$(cd "$(dirname "$0")" && pwd)"; . "$here/../lib.sh"; regen_setup test_x "$@"
# Sets root (the repository), bin (the test program), oracle, tmp and steps (invokes per case).

regen_setup() {
    local prog="$1" opt="--${1//_/-}" c
    shift
    root="$(cd "$here/../../.." && pwd)"
    steps=4
    bin=""
    while [ $# -gt 0 ]; do
        case "$1" in
        "$opt") bin="$2"; shift 2 ;;
        *) echo "usage: $0 [$opt PATH]" >&2; exit 1 ;;
        esac
    done
    if [ -z "$bin" ]; then
        for c in "$root"/build/tests/"$prog" "$root"/build-*/tests/"$prog"; do
            [ -x "$c" ] && bin="$c" && break
        done
    fi
    [ -x "$bin" ] || { echo "regen.sh: build $prog first (or pass $opt)" >&2; exit 1; }
    oracle="${KILN_ORACLE:-$root/../shared/oracle}"
    [ -x "$oracle/tflite-run" ] || { echo "regen.sh: no oracle at $oracle" >&2; exit 1; }
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT
}
