#!/usr/bin/env bash
# run.sh BUILD_DIR - flovyn-events on a 3-node NATS cluster with TLS (cluster.test.mjs): three
# nats-servers on loopback (free ports, temporary stores, certificates made with openssl), the
# bridge, two gateways, SSE clients, a webhook receiver; nodes and a gateway killed by pid while
# events flow. Prints the failover figures as `# figure name value`. FV_KEEP=1 keeps the logs.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../support/node_suite.sh
source "$here/../support/node_suite.sh"
build="$(fv_suite_build_dir cluster "${1:-}")"
missing=()
command -v openssl >/dev/null || missing+=("openssl (apt-get install -y openssl)")
fv_suite_check "cluster tests" "$build" "${missing[@]}"
fv_suite_node_major "cluster tests" 20

fv_suite_run "$here" "$build" 300000
