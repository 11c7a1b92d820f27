#!/usr/bin/env bash
# Starts container/compose.yaml with podman-compose (from PyPI, in a venv
# under target/) and enrolls through it from the host: the compose file
# the guide shows must run as written.
#
#   container/compose_check.sh IMAGE CLIENT_BINARY
set -euo pipefail
cd "$(dirname "$0")/.."
image="$1"
client="$(cd "$(dirname "$2")" && pwd)/$(basename "$2")"
root=$PWD
venv=$root/target/compose-venv
[ -x "$venv/bin/podman-compose" ] || {
  python3 -m venv "$venv" && "$venv/bin/pip" install -q podman-compose==1.6.0
} || { echo "could not install podman-compose from PyPI" >&2; exit 1; }
work=$(mktemp -d)
# This machine's podman needs runc (crun refuses a cgroup-v1 hybrid host).
printf '[engine]\nruntime = "runc"\n' > "$work/containers.conf"
export CONTAINERS_CONF="$work/containers.conf" ADCS_HARNESS_IMAGE="$image"
compose=("$venv/bin/podman-compose" -f "$root/container/compose.yaml" -p adcs-compose-check)
cleanup() {
  "${compose[@]}" down -v >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
"${compose[@]}" up -d >/dev/null 2>&1 || { "${compose[@]}" up -d; exit 1; }
name=adcs-compose-check_adcs_1
podman exec "$name" /adcs-harness ready --wait 60 /data/ready.json
podman cp "$name:/data/ready-root.pem" "$work/root.pem"
printf '[NewRequest]\nSubject = "CN=web01.contoso.test"\n' > "$work/web.inf"
cd "$work"
ADCS_HARNESS_PASSWORD=Alice-Passw0rd "$client" req enroll --server https://127.0.0.1:8443/certsrv/ \
  --user 'CONTOSO\alice' --ca-file root.pem --template WebServer --store store web.inf
echo "compose: enrolled through container/compose.yaml"
