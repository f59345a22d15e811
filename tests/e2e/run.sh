#!/usr/bin/env bash
# run.sh BUILD_DIR - the browser end-to-end tests against the binaries in BUILD_DIR.
#
# Installs the two npm dependencies from the committed lock file (npm ci) and never lets anything
# download a browser: Chromium comes from the system (Debian package `chromium`, or FV_CHROMIUM).
# Screenshots go to BUILD_DIR/e2e/. Exit status is node's test runner's.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../support/node_suite.sh
source "$here/../support/node_suite.sh"
build="$(fv_suite_build_dir e2e "${1:-}")"

export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
chromium="${FV_CHROMIUM:-/usr/bin/chromium}"

browser=()
[[ -x "$chromium" ]] || browser+=("$chromium (apt-get install -y chromium)")
fv_suite_check e2e "$build" "${browser[@]}"
fv_npm_ci "$here"

mkdir -p "$build/e2e"
FV_CHROMIUM="$chromium" fv_suite_run "$here" "$build" 180000
