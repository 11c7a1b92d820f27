#!/usr/bin/env bash
# Prepares a Wine prefix that runs the x86_64-pc-windows-gnu build:
# wineboot, then the ProcessPrng stand-in (bcryptprimitives.c) built with
# mingw into the prefix's system32. Prints the prefix.
#
#   WINEPREFIX=DIR .ci/wine/prepare.sh
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export WINEPREFIX="${WINEPREFIX:?set WINEPREFIX}"
export WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
wineboot -u >/dev/null 2>&1 || true
wineserver -w || true
sys32="$WINEPREFIX/drive_c/windows/system32"
[ -d "$sys32" ] || { echo "wine: no system32 in $WINEPREFIX after wineboot" >&2; exit 1; }
x86_64-w64-mingw32-gcc -shared -O2 -s -o "$sys32/bcryptprimitives.dll" \
    "$here/bcryptprimitives.c" "$here/bcryptprimitives.def" -ladvapi32
echo "$WINEPREFIX"
