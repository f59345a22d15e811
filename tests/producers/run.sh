#!/usr/bin/env bash
# run.sh BUILD_DIR - the producer examples of docs/producers.md (examples/producers: the NATS
# JavaScript client, Go, C) run against a real nats-server provisioned by `flovyn-bridge init`,
# and what they publish is read back from a real flovyn-gateway (SSE and history). The JS
# example's npm dependencies come from its committed lock file (npm ci); Go and nats.c are
# Debian's (scripts/install-deps.sh --test). Exit status is node's test runner's.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../support/node_suite.sh
source "$here/../support/node_suite.sh"
build="$(fv_suite_build_dir producers "${1:-}")"

tools=()
command -v go >/dev/null || tools+=("go (apt-get install -y golang-go)")
[[ -d /usr/share/gocode/src/github.com/nats-io/nats.go ]] ||
  tools+=("the Go NATS client (apt-get install -y golang-github-nats-io-go-nats-dev)")
command -v cc >/dev/null || tools+=("cc (apt-get install -y build-essential)")
pkg-config --exists libnats 2>/dev/null || tools+=("nats.c (apt-get install -y libnats-dev pkg-config)")
fv_suite_check producers "$build" "${tools[@]}"
fv_npm_ci "$here/../../examples/producers/js"

fv_suite_run "$here" "$build" 180000
