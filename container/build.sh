#!/usr/bin/env bash
# Builds the adcs-harness image from what cargo and Debian provide; no base
# image is pulled.
#
#   container/build.sh [TAG]         the static x86_64-unknown-linux-musl
#                                    binary on an empty root (default tag
#                                    adcs-harness:latest); needs musl-tools
#   container/build.sh --kdc [TAG]   with MIT's KDC for `serve --kerberos`:
#                                    a Debian root filesystem (mmdebstrap,
#                                    this machine's release) with krb5-kdc,
#                                    and the glibc build (default tag
#                                    adcs-harness:kdc); needs mmdebstrap
#
# podman by default (CONTAINER=docker for docker). ADCS_HARNESS_BIN names a
# binary already built for the KDC image instead of a release build (CI
# uses its test build, stripped); DEBIAN_SUITE and DEBIAN_MIRROR choose the
# root filesystem's release and archive.
set -euo pipefail
cd "$(dirname "$0")/.."
engine="${CONTAINER:-podman}"
kdc=
if [ "${1:-}" = "--kdc" ]; then
  kdc=1
  shift
fi
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT

if [ -z "$kdc" ]; then
  tag="${1:-adcs-harness:latest}"
  rustup target add x86_64-unknown-linux-musl >/dev/null 2>&1 \
    || { echo "rustup could not add the x86_64-unknown-linux-musl target" >&2; exit 1; }
  cargo build --release --locked --target x86_64-unknown-linux-musl --bin adcs-harness
  cp target/x86_64-unknown-linux-musl/release/adcs-harness container/Containerfile "$ctx/"
  # Docker's format keeps the HEALTHCHECK (OCI's has none).
  "$engine" build --quiet --format docker -t "$tag" -f "$ctx/Containerfile" "$ctx"
  exit 0
fi

tag="${1:-adcs-harness:kdc}"
# The KDC's programs and the GSS-API library serve loads at run time are
# glibc's, so the binary is the glibc build, on the release it was built on.
suite="${DEBIAN_SUITE:-$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")}"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
base="adcs-harness-kdc-root:$suite"
command -v mmdebstrap >/dev/null || { echo "container/build.sh --kdc needs Debian's mmdebstrap" >&2; exit 1; }
if [ -n "${ADCS_HARNESS_BIN:-}" ]; then
  bin="$ADCS_HARNESS_BIN"
else
  cargo build --release --locked --bin adcs-harness
  bin=target/release/adcs-harness
fi
objcopy --strip-debug "$bin" "$ctx/adcs-harness"
if ! "$engine" image exists "$base" 2>/dev/null; then
  mode=root
  [ "$(id -u)" -eq 0 ] || mode=unshare
  # Only what `serve --kerberos` runs: krb5kdc, kdb5_util, kadmin.local
  # and libgssapi-krb5; no documentation, manuals or translations.
  mmdebstrap --quiet --mode="$mode" --variant=essential \
    --include=krb5-kdc,krb5-admin-server,libgssapi-krb5-2 \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/info/*' \
    "$suite" "$ctx/root.tar" "$mirror"
  "$engine" import --quiet "$ctx/root.tar" "$base" >/dev/null
  rm -f "$ctx/root.tar"
fi
cp container/Containerfile.kdc "$ctx/"
"$engine" build --quiet --format docker --build-arg "BASE=$base" -t "$tag" -f "$ctx/Containerfile.kdc" "$ctx"
