#!/usr/bin/env bash
# Installs every build, run and test dependency from Debian's packages, only what is missing, so a
# second run takes a moment. Used by both README commands (scripts/run.sh and scripts/test.sh).
#   scripts/install-deps.sh          build + run dependencies
#   scripts/install-deps.sh --test   also the test-only ones (clang for fuzzers, clang-format for
#                                    scripts/check-format.sh, Chromium, Node, and Go with
#                                    Debian's Go NATS client for the producer examples, and rootful
#                                    podman with podman-compose, mmdebstrap, runc, netavark and
#                                    aardvark-dns (DNS between containers), catatonit (pods) for
#                                    the container test, docker-compose to check the compose file)
set -euo pipefail

pkgs=(build-essential cmake pkg-config git ca-certificates curl openssl
      nats-server libnats-dev libmicrohttpd-dev libprotobuf-c-dev protobuf-c-compiler
      libcmocka-dev libjansson-dev libjwt-dev libcurl4-openssl-dev libssl-dev libjsmn-dev)
if [[ "${1:-}" == "--test" ]]; then
  pkgs+=(clang libclang-rt-dev clang-format chromium nodejs npm
         golang-go golang-github-nats-io-go-nats-dev
         podman podman-compose mmdebstrap runc netavark aardvark-dns catatonit iptables
         python3-yaml docker-compose)
  # kubectl renders the kustomize base (tests/containers, deploy/k8s/podman-play.sh): Debian's
  # kubernetes-client, unless a kubectl is already there (it would clash with that one's files)
  command -v kubectl >/dev/null || pkgs+=(kubernetes-client)
fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# node/npm may come from outside Debian's packages on some machines: accept working binaries
if [[ " ${missing[*]} " == *" nodejs "* ]] && command -v node >/dev/null; then
  missing=("${missing[@]/nodejs}")
fi
if [[ " ${missing[*]} " == *" npm "* ]] && command -v npm >/dev/null; then
  missing=("${missing[@]/npm}")
fi
read -r -a missing <<<"${missing[*]}"

if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  sudo=""
  [[ $(id -u) -ne 0 ]] && sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -q
  $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
