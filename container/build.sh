#!/usr/bin/env bash
# Builds the adcs-harness image from what cargo makes: the static
# x86_64-unknown-linux-musl binary on an empty root (no base image is
# pulled). Needs Debian's musl-tools and podman (or docker: CONTAINER=docker).
#
#   container/build.sh [TAG]      (default: adcs-harness:latest)
set -euo pipefail
cd "$(dirname "$0")/.."
tag="${1:-adcs-harness:latest}"
engine="${CONTAINER:-podman}"
rustup target add x86_64-unknown-linux-musl >/dev/null 2>&1 \
  || { echo "rustup could not add the x86_64-unknown-linux-musl target" >&2; exit 1; }
cargo build --release --locked --target x86_64-unknown-linux-musl --bin adcs-harness
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
cp target/x86_64-unknown-linux-musl/release/adcs-harness container/Containerfile "$ctx/"
# Docker's format keeps the HEALTHCHECK (OCI's has none).
"$engine" build --quiet --format docker -t "$tag" -f "$ctx/Containerfile" "$ctx"
