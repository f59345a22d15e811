#!/usr/bin/env bash
# Starts a 3-node nats-server cluster on loopback (ports 4222-4224) with stores under a temporary
# directory, provisions the streams with replicas 3, and waits; Ctrl-C stops the three servers
# (by pid). Point gateways and bridges at
#   --nats-url nats://127.0.0.1:4222,nats://127.0.0.1:4223,nats://127.0.0.1:4224
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
store=$(mktemp -d /tmp/flovyn-cluster-XXXXXX)
pids=()
trap 'kill -TERM "${pids[@]}" 2>/dev/null; wait; rm -rf "$store"' INT TERM EXIT
for i in 1 2 3; do
  sed "s#/var/lib/flovyn#$store#" "$here/nats/cluster-n$i.conf" >"$store/n$i.conf"
  nats-server -c "$store/n$i.conf" >"$store/n$i.log" 2>&1 &
  pids+=($!)
done
urls=nats://127.0.0.1:4222,nats://127.0.0.1:4223,nats://127.0.0.1:4224
bridge="${FLOVYN_BRIDGE:-$here/../build/flovyn-bridge}"
for _ in $(seq 100); do "$bridge" init --nats-url "$urls" --replicas 3 2>/dev/null && break; sleep 0.3; done
echo "cluster up: $urls (logs in $store)"
wait
