#!/usr/bin/env bash
# Runs the interop suite: real PyPI clients (certsrv, certipy-ad) against
# `adcs-harness serve`.
#
#   tests/interop/run.sh [PATH_TO_adcs-harness] [run.py options, e.g. --only certipy]
#
# The binary defaults to target/release/adcs-harness, else target/debug/.
# The venv lives in $INTEROP_VENV (default: target/interop-venv) and is
# reused while requirements.txt is unchanged (tests/venv.sh). Needs
# python3 (>= 3.11) and either a working `python3 -m venv` or pip.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
py="${PYTHON:-python3}"
venv="${INTEROP_VENV:-$root/target/interop-venv}"
req="$here/requirements.txt"

bin="${1:-}"
[ $# -gt 0 ] && shift
if [ -z "$bin" ]; then
    for cand in "$root/target/release/adcs-harness" "$root/target/debug/adcs-harness" \
                "$root/target/release/adcs-harness.exe" "$root/target/debug/adcs-harness.exe"; do
        if [ -x "$cand" ]; then bin="$cand"; break; fi
    done
fi
if [ -z "$bin" ] || [ ! -f "$bin" ]; then
    echo "interop: no adcs-harness binary (build it with cargo build --release, or pass its path)" >&2
    exit 2
fi

command -v "$py" >/dev/null || { echo "interop: $py not found" >&2; exit 2; }

. "$root/tests/venv.sh"
ensure_venv interop "$py" "$venv" "$req"

exec "$venv/bin/python" "$here/run.py" --bin "$bin" "$@"
