#!/usr/bin/env bash
# Runs the interop suite: real PyPI clients (certsrv, certipy-ad) against
# `adcs-harness serve`.
#
#   tests/interop/run.sh [PATH_TO_adcs-harness] [run.py options, e.g. --only certipy]
#
# The binary defaults to target/release/adcs-harness, else target/debug/.
# The venv lives in $INTEROP_VENV (default: target/interop-venv) and is
# reused while requirements.txt is unchanged. Needs python3 (>= 3.11) and
# either a working `python3 -m venv` or pip: on Debian, `python3 -m venv`
# fails without the python3-venv package (no ensurepip); then this script
# installs python3-venv with apt-get when run as root, and otherwise makes
# the venv --without-pip and bootstraps pip into it with the system pip.
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

make_venv() {
    rm -rf "$venv"
    if "$py" -m venv "$venv" >/dev/null 2>&1 && "$venv/bin/python" -m pip --version >/dev/null 2>&1; then
        return 0
    fi
    rm -rf "$venv"
    # Debian/Ubuntu strip ensurepip out of the interpreter into python3-venv.
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "interop: python3 -m venv failed; installing python3-venv with apt-get" >&2
        if { DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-venv >/dev/null 2>&1 ||
             { apt-get update -q >/dev/null 2>&1 &&
               DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-venv >/dev/null; }; } &&
           "$py" -m venv "$venv" >/dev/null 2>&1 && "$venv/bin/python" -m pip --version >/dev/null 2>&1; then
            return 0
        fi
        rm -rf "$venv"
    fi
    # Fallback: a venv without pip, then the system pip installs pip into it
    # (pip >= 22.3 has --python; inside a venv PEP 668 does not apply).
    echo "interop: bootstrapping pip into a --without-pip venv" >&2
    "$py" -m venv --without-pip "$venv"
    "$py" -m pip --python "$venv/bin/python" install -q --disable-pip-version-check pip
}

stamp="$venv/.interop-requirements"
if [ ! -x "$venv/bin/python" ] || ! cmp -s "$req" "$stamp"; then
    if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -m pip --version >/dev/null 2>&1; then
        make_venv
    fi
    "$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$req"
    cp "$req" "$stamp"
fi

exec "$venv/bin/python" "$here/run.py" --bin "$bin" "$@"
