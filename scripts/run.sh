#!/usr/bin/env bash
# The README's run command: installs what is missing, builds, starts a local nats-server (JetStream,
# store under .run/), provisions the streams, starts flovyn-bridge and flovyn-gateway, plays demo
# workflows, and prints the URL of the demo page. Ctrl-C stops everything it started (by pid).
#   FLOVYN_PORT (default 8080)  FLOVYN_NATS_PORT (default 4222)  FLOVYN_TENANT (default demo)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

scripts/install-deps.sh
cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$root/build" -j"$(nproc)" --target flovyn-bridge flovyn-gateway

port=${FLOVYN_PORT:-8080}
nats_port=${FLOVYN_NATS_PORT:-4222}
tenant=${FLOVYN_TENANT:-demo}
state="$root/.run"
mkdir -p "$state/nats"
[[ -s "$state/jwt.secret" ]] || head -c 48 /dev/urandom | base64 >"$state/jwt.secret"
chmod 600 "$state/jwt.secret"

pids=()
cleanup() {
  trap - INT TERM EXIT
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill -TERM "${pids[i]}" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  echo "stopped."
}
trap cleanup EXIT
trap "exit 0" INT TERM

# Something else already listening would be used instead of our nats-server (or our gateway would
# fail to start): say so and stop, rather than run against whatever answers there.
in_use() { (echo >/dev/tcp/127.0.0.1/"$1") 2>/dev/null; }
for p in "$nats_port:FLOVYN_NATS_PORT" "$port:FLOVYN_PORT" "$((port + 1)):FLOVYN_PORT (+1, the bridge)"; do
  if in_use "${p%%:*}"; then
    echo "port ${p%%:*} on 127.0.0.1 is already in use; set ${p#*:} to a free port" >&2
    exit 1
  fi
done

nats-server -js -a 127.0.0.1 -p "$nats_port" -sd "$state/nats" >"$state/nats.log" 2>&1 &
nats_pid=$!
pids+=($nats_pid)
for _ in $(seq 50); do in_use "$nats_port" && break; sleep 0.1; done
if ! kill -0 "$nats_pid" 2>/dev/null || ! in_use "$nats_port"; then
  echo "nats-server did not start; its log ($state/nats.log) ends with:" >&2
  tail -5 "$state/nats.log" >&2
  exit 1
fi
export FLOVYN_NATS_URL="nats://127.0.0.1:$nats_port"
export FLOVYN_LOG_FORMAT=text

"$root/build/flovyn-bridge" init
"$root/build/flovyn-bridge" run --http-addr 127.0.0.1:$((port + 1)) >"$state/bridge.log" 2>&1 &
pids+=($!)
"$root/build/flovyn-gateway" --listen "127.0.0.1:$port" --jwt-secret-file "$state/jwt.secret" \
  >"$state/gateway.log" 2>&1 &
pids+=($!)
"$root/build/flovyn-bridge" demo --tenant "$tenant" --loop >"$state/demo.log" 2>&1 &
pids+=($!)

token=$("$root/build/flovyn-gateway" token --tenant "$tenant" --ttl 12h \
  --jwt-secret-file "$state/jwt.secret" --scope "events:read events:write")
for _ in $(seq 50); do curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break; sleep 0.1; done

cat <<MSG

flovyn-events is running (logs in .run/):
  nats-server     nats://127.0.0.1:$nats_port
  flovyn-bridge   http://127.0.0.1:$((port + 1))/metrics
  flovyn-gateway  http://127.0.0.1:$port

Open the demo page:
  http://127.0.0.1:$port/?token=$token

Stream from a terminal:
  curl -N -H "Authorization: Bearer $token" http://127.0.0.1:$port/v1/events/stream

Ctrl-C stops everything.
MSG
wait -n "${pids[@]}" || true
echo "a component exited; see .run/*.log"
