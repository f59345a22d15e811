#!/usr/bin/env bash
# run.sh BUILD_DIR - the browser end-to-end tests against the binaries in BUILD_DIR.
#
# Installs the two npm dependencies from the committed lock file (npm ci) and never lets anything
# download a browser: Chromium comes from the system (Debian package `chromium`, or FV_CHROMIUM).
# Screenshots go to BUILD_DIR/e2e/. Exit status is node's test runner's.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
build="${1:-}"
if [[ -z "$build" || ! -d "$build" ]]; then
  echo "usage: tests/e2e/run.sh BUILD_DIR" >&2
  exit 2
fi
build="$(cd "$build" && pwd)"

export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
chromium="${FV_CHROMIUM:-/usr/bin/chromium}"

missing=()
command -v node >/dev/null || missing+=("node (apt-get install -y nodejs npm)")
command -v npm >/dev/null || missing+=("npm (apt-get install -y npm)")
command -v nats-server >/dev/null || missing+=("nats-server (apt-get install -y nats-server)")
[[ -x "$chromium" ]] || missing+=("$chromium (apt-get install -y chromium)")
for b in flovyn-gateway flovyn-bridge; do
  [[ -x "$build/$b" ]] || missing+=("$build/$b (cmake --build $build)")
done
if ((${#missing[@]})); then
  printf 'e2e: missing %s\n' "${missing[@]}" >&2
  exit 1
fi

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
