#!/usr/bin/env bash
# The SCOM procedure as a Windows machine runs it: the Windows-built client
# under Wine enrolls against the Linux-built server into Wine's certificate
# store (--system-store: LocalMachine\My, the key in the SChannel CSP),
# imports for SCOM into Wine's real registry (--system-registry), and the
# values are read back with `wine reg query`; then `scom check` reads the
# store and registry again, and the key (not exportable) is refused by
# `store export` with NTE_BAD_KEY_STATE. Exits non-zero on any difference.
#
#   WINEPREFIX=DIR .ci/wine/scom.sh LINUX_BINARY WINDOWS_EXE
set -euo pipefail
linux_bin="$1" windows_exe="$2"
export WINEDEBUG=-all
work=$(mktemp -d)
cleanup() { [ -n "${server:-}" ] && kill "$server" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

"$linux_bin" serve --ready-file "$work/ready.json" >"$work/serve.log" 2>&1 &
server=$!
for _ in $(seq 1 200); do [ -s "$work/ready.json" ] && break; sleep 0.05; done
[ -s "$work/ready.json" ] || { cat "$work/serve.log"; echo "scom under wine: serve was not ready" >&2; exit 1; }
field() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))$1)" "$work/ready.json"; }
url=$(field "['certsrv_url']")
user=$(field "['users'][0]['user']")
password=$(field "['users'][0]['password']")
root=$(field "['root_cert']")
pin=$(openssl x509 -in "$root" -noout -fingerprint -sha1 | sed 's/.*=//; s/://g')

key='HKLM\SOFTWARE\Microsoft\Microsoft Operations Manager\3.0\Machine Settings'
wine reg delete "$key" /f >/dev/null 2>&1 || true

ADCS_HARNESS_PASSWORD="$password" wine "$windows_exe" scom enroll --server "$url" --user "$user" \
    --ca-thumbprint "$pin" --fqdn scom01.contoso.test --system-store --system-registry --json \
    >"$work/enroll.json"
thumbprint=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['imported']['thumbprint'])" "$work/enroll.json")
serial=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['imported']['serial'])" "$work/enroll.json")

query=$(wine reg query "$key" | tr -d '\r')
echo "$query"
echo "$query" | grep -qi "ChannelCertificateHash[[:space:]]*REG_SZ[[:space:]]*$thumbprint" \
    || { echo "scom under wine: ChannelCertificateHash is not $thumbprint" >&2; exit 1; }
# REG_BINARY: the serial's bytes reversed, as MOMCertImport writes them.
reversed=$(python3 -c "import sys; b=bytes.fromhex(sys.argv[1]); print(b[::-1].hex().upper())" "$serial")
echo "$query" | grep -qi "ChannelCertificateSerialNumber[[:space:]]*REG_BINARY[[:space:]]*$reversed" \
    || { echo "scom under wine: ChannelCertificateSerialNumber is not $reversed" >&2; exit 1; }

wine "$windows_exe" scom check --fqdn scom01.contoso.test --system-store --system-registry >"$work/check.txt" \
    || { cat "$work/check.txt"; echo "scom under wine: scom check failed" >&2; exit 1; }
grep -q "20053" "$work/check.txt" || { cat "$work/check.txt"; echo "scom under wine: no 20053 from scom check" >&2; exit 1; }
grep -q "KeySpec is 1 (AT_KEYEXCHANGE) in \`Microsoft RSA SChannel Cryptographic Provider\`" "$work/check.txt" \
    || { cat "$work/check.txt"; echo "scom under wine: the key is not read from the SChannel CSP" >&2; exit 1; }

set +e
wine "$windows_exe" store export --system-store "$thumbprint" 'C:\scom.pfx' --password x >"$work/export.out" 2>&1
code=$?
set -e
grep -q "0x8009000b (-2146893813 NTE_BAD_KEY_STATE)" "$work/export.out" && [ "$code" = 1 ] \
    || { cat "$work/export.out"; echo "scom under wine: export of the non-exportable key was not refused (exit $code)" >&2; exit 1; }
wine "$windows_exe" store delete --system-store "$thumbprint" >/dev/null
echo "scom under wine: enrolled $thumbprint into the system store, registry read back, scom check ends with 20053, export refused with NTE_BAD_KEY_STATE"
