#!/usr/bin/env bash
# A test aid: runs the Kubernetes base in deploy/k8s with `podman kube play` on this machine.
#   deploy/k8s/podman-play.sh up     renders the base through an overlay that fills its Secrets
#                                    (certificates and a JWT secret made here, never kept),
#                                    converts it to one Pod per replica (podman-play-convert.py:
#                                    podman runs no StatefulSet or Service) with fixed addresses
#                                    on a podman network of its own, and plays them: 3 NATS
#                                    nodes, 2 bridges, 2 gateways
#   deploy/k8s/podman-play.sh down   removes every pod, volume, network and file that `up` made
# The images are the ones `podman-compose -f deploy/compose.yaml build` makes; nothing is pulled.
# The gateways are published on 127.0.0.1:$FLOVYN_PLAY_GATEWAY_PORT and the port after it
# (default 18080, 18081). Mint a token:
#   podman exec flovyn-gateway-0-gateway flovyn-gateway token --tenant T --ttl 1h \
#     --jwt-secret-file /flovyn/secret/jwt.secret
# Environment: FLOVYN_PLAY_DIR (state, default /tmp/flovyn-podman-play), FLOVYN_PLAY_NETWORK
# (default flovyn-k8s-play), FLOVYN_PLAY_GATEWAY_PORT, CONTAINERS_CONF (default
# deploy/containers.conf).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
export CONTAINERS_CONF="${CONTAINERS_CONF:-$here/../containers.conf}"
state="${FLOVYN_PLAY_DIR:-/tmp/flovyn-podman-play}"
network="${FLOVYN_PLAY_NETWORK:-flovyn-k8s-play}"
gateway_port="${FLOVYN_PLAY_GATEWAY_PORT:-18080}"
label="io.flovyn-events/podman-play=$network"

down() {
  local pods=() vols=()
  # in the reverse of the start order: the daemons stop while NATS still answers
  [[ -f "$state/pods/plan" ]] && mapfile -t pods < <(tac "$state/pods/plan" | awk '{print $3}')
  [[ -f "$state/pods/volumes" ]] && mapfile -t vols <"$state/pods/volumes"
  # and anything an earlier `up` on this network labelled, whose state was lost
  mapfile -t -O "${#pods[@]}" pods < <(podman pod ps --filter "label=$label" --format '{{.Name}}')
  mapfile -t -O "${#vols[@]}" vols < <(podman volume ls --filter "label=$label" --format '{{.Name}}')
  local p
  for p in "${pods[@]}"; do
    # stop first (SIGTERM, 10 s grace): the daemons drain and exit 0; then remove
    podman pod exists "$p" && { podman pod stop -t 10 "$p" >/dev/null; podman pod rm -f "$p" >/dev/null; }
  done
  for p in "${vols[@]}"; do
    podman volume exists "$p" && podman volume rm -f "$p" >/dev/null
  done
  if podman network exists "$network"; then podman network rm -f "$network" >/dev/null; fi
  rm -rf "$state"
  echo "podman-play: down"
}

up() {
  if [[ -e "$state" ]] || podman network exists "$network"; then
    echo "podman-play: $state or the network $network exists: run '$0 down' first" >&2
    exit 1
  fi
  local img
  for img in flovyn-events:latest flovyn-nats:latest flovyn-front:latest; do
    podman image exists "$img" ||
      { echo "podman-play: no image $img: podman-compose -f deploy/compose.yaml build" >&2; exit 1; }
  done
  mkdir -p "$state/overlay" "$state/files"
  # what the Secrets hold, made by the same tool as compose's: the NATS certificate names the
  # StatefulSet's stable names
  podman run --rm --pull=never --user 0 -v "$state/files:/flovyn" \
    -e FLOVYN_NATS_NAMES="flovyn-nats-0.flovyn-nats flovyn-nats-1.flovyn-nats flovyn-nats-2.flovyn-nats flovyn-nats" \
    flovyn-front:latest flovyn-make-certs /flovyn >/dev/null
  cp "$state/files/tls/"{ca.crt,nats.crt,nats.key,client.crt,client.key} \
     "$state/files/secret/jwt.secret" "$state/overlay/"
  # an overlay as a deployment would have: the base plus the Secrets' content
  cat >"$state/overlay/kustomization.yaml" <<EOF
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
bases:
  - $(realpath --relative-to="$state/overlay" "$here")
secretGenerator:
  - name: flovyn-tls
    behavior: replace
    files: [ca.crt, nats.crt, nats.key, client.crt, client.key]
  - name: flovyn-jwt
    behavior: replace
    files: [jwt.secret]
generatorOptions:
  disableNameSuffixHash: true
EOF
  kubectl kustomize "$state/overlay" >"$state/rendered.yaml" 2> >(grep -v deprecated >&2)

  podman network create --label "$label" "$network" >/dev/null
  local subnet
  subnet=$(podman network inspect "$network" --format '{{range .Subnets}}{{.Subnet}} {{end}}' | awk '{print $1}')
  python3 "$here/podman-play-convert.py" "$state/rendered.yaml" "$state/pods" --subnet "$subnet" \
    --label "$network" --volume-prefix "$network-" --publish "flovyn-gateway:http=$gateway_port"

  local file ip pod
  while read -r file ip pod; do
    podman kube play --network "$network" --ip "$ip" "$file" >"$state/play-$pod.log" 2>&1 ||
      { cat "$state/play-$pod.log" >&2; echo "podman-play: $pod failed to start" >&2; exit 1; }
    echo "podman-play: $pod at $ip"
  done <"$state/pods/plan"
  echo "podman-play: gateways on http://127.0.0.1:$gateway_port and http://127.0.0.1:$((gateway_port + 1))"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  *) echo "usage: $0 up|down" >&2; exit 2 ;;
esac
