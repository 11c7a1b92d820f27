# Sourced by the Python suites' run.sh scripts: `ensure_venv LABEL PYTHON
# VENV REQUIREMENTS` makes VENV with PYTHON and installs REQUIREMENTS into
# it, reusing it while the requirements file is unchanged. On Debian,
# `python3 -m venv` fails without the python3-venv package (no ensurepip);
# then python3-venv is installed with apt-get when run as root, and
# otherwise the venv is made --without-pip and pip bootstrapped into it
# with the system pip.

ensure_venv() {
    local label="$1" py="$2" venv="$3" req="$4"
    make_venv() {
        rm -rf "$venv"
        if "$py" -m venv "$venv" >/dev/null 2>&1 && "$venv/bin/python" -m pip --version >/dev/null 2>&1; then
            return 0
        fi
        rm -rf "$venv"
        # Debian/Ubuntu strip ensurepip out of the interpreter into python3-venv.
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
            echo "$label: python3 -m venv failed; installing python3-venv with apt-get" >&2
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
        echo "$label: bootstrapping pip into a --without-pip venv" >&2
        "$py" -m venv --without-pip "$venv"
        "$py" -m pip --python "$venv/bin/python" install -q --disable-pip-version-check pip
    }

    local stamp="$venv/.requirements"
    if [ ! -x "$venv/bin/python" ] || ! cmp -s "$req" "$stamp"; then
        if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -m pip --version >/dev/null 2>&1; then
            make_venv
        fi
        "$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$req"
        cp "$req" "$stamp"
    fi
}
