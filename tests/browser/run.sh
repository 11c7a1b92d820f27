#!/usr/bin/env bash
# Runs the browser suite: headless Chromium, driven by Playwright, clicking
# through certsrv and the CA console of `adcs-harness serve`.
#
#   tests/browser/run.sh [PATH_TO_adcs-harness] [run.py options, e.g. --only pfx]
#
# The binary defaults to target/release/adcs-harness, else target/debug/.
# Chromium is $CHROMIUM, else the first of chromium, chromium-browser,
# google-chrome on PATH (on Debian: apt-get install chromium). The venv
# lives in $BROWSER_VENV (default: target/browser-venv). Screenshots of
# failed cases go to $BROWSER_ARTIFACTS (default: target/browser-artifacts).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
py="${PYTHON:-python3}"
venv="${BROWSER_VENV:-$root/target/browser-venv}"
req="$here/requirements.txt"

bin="${1:-}"
[ $# -gt 0 ] && shift
if [ -z "$bin" ]; then
    for cand in "$root/target/release/adcs-harness" "$root/target/debug/adcs-harness"; do
        if [ -x "$cand" ]; then bin="$cand"; break; fi
    done
fi
if [ -z "$bin" ] || [ ! -f "$bin" ]; then
    echo "browser: no adcs-harness binary (build it with cargo build, or pass its path)" >&2
    exit 2
fi
chromium="${CHROMIUM:-}"
if [ -z "$chromium" ]; then
    for cand in chromium chromium-browser google-chrome; do
        if command -v "$cand" >/dev/null; then chromium="$(command -v "$cand")"; break; fi
    done
fi
if [ -z "$chromium" ]; then
    echo "browser: no Chromium found (apt-get install chromium, or set CHROMIUM)" >&2
    exit 2
fi
command -v "$py" >/dev/null || { echo "browser: $py not found" >&2; exit 2; }

. "$root/tests/venv.sh"
ensure_venv browser "$py" "$venv" "$req"

exec "$venv/bin/python" "$here/run.py" --bin "$bin" --chromium "$chromium" \
    --artifacts "${BROWSER_ARTIFACTS:-$root/target/browser-artifacts}" "$@"
