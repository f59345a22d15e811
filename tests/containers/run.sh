#!/usr/bin/env bash
# run.sh BUILD_DIR - the container test (containers.test.mjs): the files in deploy/ run for real
# with rootful podman - base image, images, compose with a 3-node TLS NATS cluster behind the
# HTTP/2 front, Chromium, a NATS node killed, stops, and the Kubernetes manifests checked against
# their schemas and played with podman. BUILD_DIR is not used (the images build the daemons
# themselves); it is taken for the same usage as the other suites.
# Installs its npm dependencies from the committed lock file (npm ci); never downloads a browser.
# Podman runs with deploy/containers.conf (CONTAINERS_CONF). Exit status is node's test runner's.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../support/node_suite.sh
source "$here/../support/node_suite.sh"
build="$(fv_suite_build_dir containers "${1:-}")"

export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
export FV_CHROMIUM="${FV_CHROMIUM:-/usr/bin/chromium}"
export CONTAINERS_CONF="${CONTAINERS_CONF:-$here/../../deploy/containers.conf}"
missing=()
command -v node >/dev/null || missing+=("node (apt-get install -y nodejs npm)")
command -v npm >/dev/null || missing+=("npm (apt-get install -y npm)")
[[ -x "$FV_CHROMIUM" ]] || missing+=("$FV_CHROMIUM (apt-get install -y chromium)")
if ((${#missing[@]})); then
  printf 'containers: missing %s\n' "${missing[@]}" >&2
  exit 1
fi
fv_npm_ci "$here"

fv_suite_run "$here" "$build" 900000
