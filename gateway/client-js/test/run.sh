#!/usr/bin/env bash
# run.sh BUILD_DIR - the client's tests: the SSE parser on its own, then the client against real
# flovyn-gateway processes (BUILD_DIR/flovyn-gateway) on a real nats-server, which the tests start
# on free ports and stop by pid. Needs node (20+) and nats-server; no npm package.
# FV_KEEP=1 keeps the work directory with the process logs. Exit status is node's test runner's.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../../../tests/support/node_suite.sh
source "$here/../../../tests/support/node_suite.sh"
build="$(fv_suite_build_dir gateway/client-js/test/run.sh "${1:-}")"
fv_suite_check "client-js tests" "$build"
fv_suite_node_major "client-js tests" 20

fv_suite_run "$here" "$build" 120000
