#!/usr/bin/env bash
# run.sh BUILD_DIR - the browser end-to-end tests against the binaries in BUILD_DIR.
#
# Installs the two npm dependencies from the committed lock file (npm ci) and never lets anything
# download a browser: Chromium comes from the system (Debian package `chromium`, or FV_CHROMIUM).
# Screenshots go to BUILD_DIR/e2e/. Exit status is node's test runner's.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../support/node-suite.sh
source "$here/../support/node-suite.sh"
suite_build_dir tests/e2e/run.sh "${1:-}"

export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
chromium="${FV_CHROMIUM:-/usr/bin/chromium}"

extra=()
command -v npm >/dev/null || extra+=("npm (apt-get install -y npm)")
[[ -x "$chromium" ]] || extra+=("$chromium (apt-get install -y chromium)")
suite_require e2e 18 "${extra[@]}"

# npm ci only when the installed tree does not match the lock file
stamp="$here/node_modules/.lock-stamp"
if [[ ! -f "$stamp" ]] || ! cmp -s "$here/package-lock.json" "$stamp"; then
  (cd "$here" && npm ci --no-audit --no-fund --loglevel=error)
  cp "$here/package-lock.json" "$stamp"
fi

mkdir -p "$build/e2e"
cd "$here"
FV_BUILD_DIR="$build" FV_CHROMIUM="$chromium" \
  exec node --test --test-concurrency=1 --test-timeout=180000 ./*.test.mjs
