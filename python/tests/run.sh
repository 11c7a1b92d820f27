#!/usr/bin/env bash
# Tests the pip package as its users get it: builds the wheel from this
# checkout (maturin, from PyPI), installs it into a virtual environment with
# the pinned test requirements, and runs pytest on python/tests, where the
# fixtures come from the installed plugin and the binary from the wheel.
#
#   python/tests/run.sh [pytest options]
#
# The venv lives in $PYTHON_TEST_VENV (default: target/python-venv).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
py="${PYTHON:-python3}"
venv="${PYTHON_TEST_VENV:-$root/target/python-venv}"
wheels="$root/target/wheels"

command -v "$py" >/dev/null || { echo "python: $py not found" >&2; exit 2; }
. "$root/tests/venv.sh"
ensure_venv python "$py" "$venv" "$here/requirements.txt"

rm -rf "$wheels"
"$venv/bin/python" -m pip wheel -q --disable-pip-version-check --no-deps -w "$wheels" "$root"
"$venv/bin/python" -m pip install -q --disable-pip-version-check --force-reinstall --no-deps "$wheels"/adcs_harness-*.whl

# As an activated venv: the wheel's binary on PATH. Run from the tests
# folder so `adcs_harness` is the installed package, not the source tree;
# no cache files in the checkout.
export PATH="$venv/bin:$PATH"
cd "$here"
exec "$venv/bin/python" -m pytest -p no:cacheprovider -ra "$@" .
