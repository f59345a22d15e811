#!/usr/bin/env bash
# run.sh BUILD_DIR - docs/openapi.yaml checked twice: validated as an OpenAPI 3.1 document, and
# the answers of real flovyn-gateway processes (binaries in BUILD_DIR, a real nats-server) checked
# against it. npm dependencies come from the committed lock file (npm ci). Exit status is node's
# test runner's.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../support/node_suite.sh
source "$here/../support/node_suite.sh"
build="$(fv_suite_build_dir api "${1:-}")"

fv_suite_check api "$build"
fv_npm_ci "$here"

fv_suite_run "$here" "$build" 120000
