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

# Certipy 5 (Kerberos web enrollment) needs Python >= 3.12: a second venv
# when such an interpreter is around; its case SKIPs otherwise.
py5="${CERTIPY5_PYTHON:-}"
if [ -z "$py5" ]; then
    for cand in python3.13 python3.12 "$HOME"/.pyenv/versions/3.1[2-9]*/bin/python3; do
        if command -v "$cand" >/dev/null 2>&1 && "$cand" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then
            py5="$(command -v "$cand")"; break
        fi
    done
fi
if [ -n "$py5" ]; then
    venv5="${CERTIPY5_VENV:-$root/target/certipy5-venv}"
    ensure_venv certipy5 "$py5" "$venv5" "$here/requirements-certipy5.txt"
    export CERTIPY5="$venv5/bin/certipy"
fi

# impacket's ntlmrelayx (ESC11) and acme2certifier's ms_icpr handler: their
# own venv (an older pyOpenSSL than the main one; see requirements-relay.txt).
venv_relay="${RELAY_VENV:-$root/target/relay-venv}"
ensure_venv relay "$py" "$venv_relay" "$here/requirements-relay.txt"
export NTLMRELAYX="$venv_relay/bin/ntlmrelayx.py"
export ACME2CERTIFIER_PYTHON="$venv_relay/bin/python"

exec "$venv/bin/python" "$here/run.py" --bin "$bin" "$@"
