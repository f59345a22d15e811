#!/usr/bin/env bash
# Benchmarks of flovyn-events (not part of the test command). Prints figures and ratios measured in
# one run against baselines on the same machine:
#   bus      - library publish vs raw nats.c js_PublishAsync, and catch-up read rate (bench_bus)
#   (BENCH_SECTIONS="sweep latency idle storm hold" picks parts of sse; default all)
#   sse      - flovyn-gateway (HTTP ingest -> JetStream -> SSE) vs nginx + nchan (POST -> EventSource)
#              on one stream: max sustainable publish rate at 1,000, 5,000 and 10,000 connections
#              (zero loss, p99 < 250 ms), latency and server CPU per delivery at 1,000 x 50/s,
#              5,000 x 15/s and 10,000 x 5/s, memory per idle connection and idle CPU with 10,000
#              idle streams, resume storm; then the gateway alone on both cores holding 20,000
#              streams (or as many as the open-file limit allows).
# Each server is pinned to core 0 (flovyn: the gateway and its nats-server), the load client to
# core 1.  Usage: tests/bench/run.sh [bus|sse|all]   (BENCH_QUICK=1 for a short smoke run;
# BENCH_RATES="100 120 140" and BENCH_CONNS="5000" give the sweep finer steps or fewer sizes;
# BENCH_NCHAN_PING=15 makes nchan send a keep-alive every 15 s like the gateway's --heartbeat,
# which nchan does not do by default)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
what=${1:-all}
quick=${BENCH_QUICK:-0}
"$root/scripts/install-deps.sh"
if ! dpkg-query -W -f='${Status}' libnginx-mod-nchan 2>/dev/null | grep -q "ok installed"; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q nginx-light libnginx-mod-nchan >/dev/null
fi
build="$root/build-bench"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DFLOVYN_WERROR=ON >/dev/null
cmake --build "$build" -j"$(nproc)" --target flovyn-gateway flovyn-bridge bench_sse bench_bus \
  bench_advisories >/dev/null
work=$(mktemp -d /tmp/flovyn-bench-XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT INT TERM
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do (echo >/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }
rss_kib() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<" $2"; }
client() { taskset -c 1 "$build/bench_sse" "$@"; }

if [[ $what == bus || $what == all ]]; then
  echo "== bus: library publish vs raw nats.c, catch-up =="
  taskset -c 0 "$build/bench_bus"
fi

[[ $what == sse || $what == all ]] || exit 0

# --- servers ---------------------------------------------------------------------------------
nats_port=$(free_port)
taskset -c 0 nats-server -js -a 127.0.0.1 -p "$nats_port" -sd "$work/nats" >"$work/nats.log" 2>&1 &
pids+=($!); nats_pid=$!
wait_port "$nats_port"
"$build/flovyn-bridge" init --nats-url "nats://127.0.0.1:$nats_port" >/dev/null
head -c 32 /dev/urandom | base64 >"$work/secret"
gw_port=$(free_port)
start_gateway() {
  taskset -c 0 "$build/flovyn-gateway" --nats-url "nats://127.0.0.1:$nats_port" \
    --listen "127.0.0.1:$gw_port" --jwt-secret-file "$work/secret" --max-connections 20000 \
    --max-connections-per-tenant 20000 --ingest-rate-per-tenant 1000000 --log-level warn \
    >>"$work/gateway.log" 2>&1 &
  gw_pid=$!
  pids+=($gw_pid)
  wait_port "$gw_port"
}
start_gateway
token=$("$build/flovyn-gateway" token --tenant bench --ttl 2h --jwt-secret-file "$work/secret" \
  --scope "events:read events:write")
auth="Authorization: Bearer $token"

nchan_port=$(free_port)
mkdir -p "$work/nchan"
cat >"$work/nchan/nginx.conf" <<EOF
load_module /usr/lib/nginx/modules/ngx_nchan_module.so;
worker_processes 1;
master_process off;
daemon off;
pid $work/nchan/nginx.pid;
error_log $work/nchan/error.log warn;
events { worker_connections 20000; }
http {
  access_log off;
  client_body_temp_path $work/nchan;
  server {
    listen 127.0.0.1:$nchan_port;
    location = /pub { nchan_publisher; nchan_channel_id bench; nchan_message_buffer_length 2000; }
    location = /sub { nchan_subscriber eventsource; nchan_channel_id bench; nchan_message_buffer_length 2000; nchan_subscriber_first_message newest;${BENCH_NCHAN_PING:+ nchan_eventsource_ping_interval $BENCH_NCHAN_PING;} }
  }
}
EOF
taskset -c 0 nginx -c "$work/nchan/nginx.conf" -p "$work/nchan" &
pids+=($!); nchan_pid=$!
wait_port "$nchan_port"

gw_args=(--port "$gw_port" --sub-path /v1/events/stream --pub-path /v1/events --pub-format flovyn --header "$auth" --server-pid "$gw_pid")
nc_args=(--port "$nchan_port" --sub-path /sub --pub-path /pub --pub-format raw --server-pid "$nchan_pid")
secs=5; [[ $quick == 1 ]] && secs=2
rates=(5 10 20 50 100 150 200 300 400 800)
[[ $quick == 1 ]] && rates=(20 100 400)
[[ -n ${BENCH_RATES:-} ]] && read -ra rates <<<"$BENCH_RATES"
read -ra sweep_conns <<<"${BENCH_CONNS:-1000 5000 10000}"
sections=${BENCH_SECTIONS:-sweep latency idle storm hold}
want() { [[ " $sections " == *" $1 "* ]]; }

# the steps of a sweep: BENCH_RATES for every size, else steps around each size's expected range
rates_for() { # conns
  if [[ -n ${BENCH_RATES:-} || $quick == 1 ]]; then echo "${rates[*]}"; return; fi
  case $1 in
    1000) echo "50 100 150 200 250 300 350 400 500 600 800" ;;
    5000) echo "10 15 20 25 30 40 50 60 70 80 100 120" ;;
    10000) echo "5 8 10 12 15 20 25 30 35 40 50 60" ;;
    *) echo "${rates[*]}" ;;
  esac
}

# highest rate with zero loss and p99 < 250 ms
sweep() { # name conns args...
  local name=$1 conns=$2; shift 2
  local best=0 line
  for r in $(rates_for "$conns"); do
    line=$(client "$@" --conns "$conns" --rate "$r" --seconds "$secs" --publishers 4)
    local lost p99 ready
    lost=$(field lost "$line"); p99=$(field p99_ms "$line"); ready=$(field ready "$line")
    local got
    got=$(awk "BEGIN{printf \"%d\", $(field publish_rate "$line")}")
    echo "  $name conns=$conns target=$r/s achieved=$got/s: $line" >&2
    # sustained = zero loss, p99 < 250 ms, and the publishers really reached 90% of the target
    # (when the server - or the load client - saturates, the paced publishers fall behind)
    if [[ $lost == 0 && $ready == "$conns" ]] && awk "BEGIN{exit !($p99 < 250 && $got >= 0.9*$r)}"; then
      best=$got
    else
      break
    fi
  done
  echo "$best"
}

declare -A R
want sweep && for conns in "${sweep_conns[@]}"; do
  echo "== max sustainable publish rate, $conns connections on one stream =="
  R[gw_$conns]=$(sweep gateway "$conns" "${gw_args[@]}")
  R[nc_$conns]=$(sweep nchan "$conns" "${nc_args[@]}")
  echo "flovyn-gateway: ${R[gw_$conns]} events/s   nchan: ${R[nc_$conns]} events/s   ratio: $(awk "BEGIN{printf \"%.2f\", ${R[gw_$conns]}/(${R[nc_$conns]}>0?${R[nc_$conns]}:1)}")x"
done

if want latency; then
ratio() { awk "BEGIN{printf \"%.2f\", $1/($2>0?$2:1)}"; }
for step in ${BENCH_LATENCY:-1000:50 5000:15 10000:5}; do
  conns=${step%%:*} rate=${step##*:}
  echo "== latency at $conns connections x $rate events/s =="
  lg=$(client "${gw_args[@]}" --conns "$conns" --rate "$rate" --seconds $((secs * 2)) --publishers 2)
  ln=$(client "${nc_args[@]}" --conns "$conns" --rate "$rate" --seconds $((secs * 2)) --publishers 2)
  for who in gateway nchan; do
    if [[ $who == gateway ]]; then l=$lg; label="flovyn-gateway"; else l=$ln; label="nchan         "; fi
    echo "$label p50=$(field p50_ms "$l") ms p99=$(field p99_ms "$l") ms lost=$(field lost "$l") received=$(field received "$l") cpu_s=$(field server_cpu_s "$l") cpu_us_per_delivery=$(field cpu_us_per_delivery "$l")"
  done
  echo "gateway/nchan: p50 $(ratio "$(field p50_ms "$lg")" "$(field p50_ms "$ln")")x p99 $(ratio "$(field p99_ms "$lg")" "$(field p99_ms "$ln")")x cpu per delivery $(ratio "$(field cpu_us_per_delivery "$lg")" "$(field cpu_us_per_delivery "$ln")")x"
done
fi

if want idle; then
idle_n=${BENCH_IDLE_CONNS:-10000}
echo "== $idle_n idle streams: memory per connection and idle CPU (20 s), fresh processes =="
# freed memory is not returned to the OS, so both servers start anew for this measurement
kill -TERM "$gw_pid"; wait "$gw_pid" 2>/dev/null || true
start_gateway
gw_args=(--port "$gw_port" --sub-path /v1/events/stream --pub-path /v1/events --pub-format flovyn --header "$auth" --server-pid "$gw_pid")
kill -TERM "$nchan_pid"; wait "$nchan_pid" 2>/dev/null || true
taskset -c 0 nginx -c "$work/nchan/nginx.conf" -p "$work/nchan" &
pids+=($!); nchan_pid=$!
wait_port "$nchan_port"
nc_args=(--port "$nchan_port" --sub-path /sub --pub-path /pub --pub-format raw --server-pid "$nchan_pid")
sleep 1
for name in gateway nchan; do
  if [[ $name == gateway ]]; then pid=$gw_pid; args=("${gw_args[@]}"); else pid=$nchan_pid; args=("${nc_args[@]}"); fi
  before=$(rss_kib "$pid")
  line=$(client "${args[@]}" --conns "$idle_n" --idle-seconds 20 --settle-seconds 10 --connect-rate 5000)
  during=$(field server_rss_kib "$line") # read by the client once every stream is open, settled
  per=$(( (during - before) * 1024 / idle_n ))
  cpu=$(field server_cpu_s "$line")
  echo "$name: ready=$(field ready "$line") rss_before=${before}KiB rss_with_${idle_n}=${during}KiB per_connection=${per} bytes idle_cpu=$(awk "BEGIN{printf \"%.2f\", 100*$cpu/20}")%"
done

fi

if want storm; then
# 5,000 clients resume 1,000 events behind: warm (the gateway's window holds those events), cold
# (the gateway restarted just before: an empty window), and nchan warm and after nginx restarted
# (its buffer is gone). JetStream consumers are counted from nats-server's own advisories.
echo "== resume storm: 5000 clients reconnecting 1000 events behind =="
adv_start() {
  taskset -c 1 "$build/bench_advisories" --nats-url "nats://127.0.0.1:$nats_port" >"$work/adv" &
  adv_pid=$!
  for _ in $(seq 50); do grep -q ready "$work/adv" 2>/dev/null && break; sleep 0.1; done
}
adv_stop() { # label: prints the consumers nats-server created since adv_start
  kill -TERM "$adv_pid"; wait "$adv_pid" 2>/dev/null || true
  echo "  JetStream consumers created during the $1: $(tail -1 "$work/adv")"
}
storm_prepare() { # args... -> the cursor 1,000 events back
  local one cur
  one=$(client "$@" --conns 1 --rate 5 --seconds 1 --publishers 1)
  cur=$(field last_id "$one")
  client "$@" --conns 1 --rate 2000 --seconds 30 --count 1000 --publishers 1 >/dev/null
  echo "$cur"
}
storm() { # name cursor expect-timeout args...
  local name=$1 cur=$2 tmo=$3; shift 3
  local line
  line=$(client "$@" --conns 5000 --last-event-id "$cur" --expect 1000 --expect-timeout "$tmo" \
    --idle-seconds 0.1)
  echo "$name: all live after $(field all_done_s "$line") s (done=$(field done "$line") of 5000, answered $(field ready "$line"), connect $(field connect_s "$line") s, events received $(field received "$line") of 5000000, server cpu $(field server_cpu_s "$line") s)"
}
gcur=$(storm_prepare "${gw_args[@]}")
adv_start
storm "flovyn-gateway warm" "$gcur" 120 "${gw_args[@]}"
adv_stop "warm storm"
kill -TERM "$gw_pid"; wait "$gw_pid" 2>/dev/null || true
start_gateway
gw_args=(--port "$gw_port" --sub-path /v1/events/stream --pub-path /v1/events --pub-format flovyn --header "$auth" --server-pid "$gw_pid")
adv_start
storm "flovyn-gateway cold (restarted just before)" "$gcur" 120 "${gw_args[@]}"
adv_stop "cold storm"
ncur=$(storm_prepare "${nc_args[@]}")
storm "nchan warm" "$ncur" 120 "${nc_args[@]}"
kill -TERM "$nchan_pid"; wait "$nchan_pid" 2>/dev/null || true
taskset -c 0 nginx -c "$work/nchan/nginx.conf" -p "$work/nchan" &
pids+=($!); nchan_pid=$!
wait_port "$nchan_port"
nc_args=(--port "$nchan_port" --sub-path /sub --pub-path /pub --pub-format raw --server-pid "$nchan_pid")
storm "nchan after nginx restarted (10 s wait)" "$ncur" 10 "${nc_args[@]}"
kill -0 "$nchan_pid" 2>/dev/null && echo "  nginx still running" ||
  echo "  nginx died (see its error log: $(tail -1 "$work/nchan/error.log" 2>/dev/null))"
fi

if want hold; then
# One gateway on both cores (no pinning) holds 20,000 streams, or fewer where the open-file hard
# limit (per process, also the load client's) is too low for that. Events at 10/s for
# 10 s must all arrive; then the idle CPU over 20 s with every stream open (from 10 s after the
# last one opened: a burst of opens keeps the gateway busy for a few seconds).
hard=$(ulimit -Hn)
hold_n=${BENCH_HOLD_CONNS:-20000}
# a socket being handed over from libmicrohttpd briefly has two descriptors: keep a quarter of the
# per-process limit (the gateway's and the load client's) free for opens in flight
if [[ $hard != unlimited ]] && ((hold_n > hard * 3 / 4)); then
  echo "  (open-file hard limit $hard: holding $((hard * 3 / 4)) streams instead of $hold_n)"
  hold_n=$((hard * 3 / 4))
fi
echo "== $hold_n streams on one gateway (both cores) =="
kill -TERM "$gw_pid"; wait "$gw_pid" 2>/dev/null || true
"$build/flovyn-gateway" --nats-url "nats://127.0.0.1:$nats_port" \
  --listen "127.0.0.1:$gw_port" --jwt-secret-file "$work/secret" --max-connections "$hold_n" \
  --max-connections-per-tenant "$hold_n" --ingest-rate-per-tenant 1000000 --log-level warn \
  >>"$work/gateway.log" 2>&1 &
gw_pid=$!; pids+=($gw_pid)
wait_port "$gw_port"
gw_args=(--port "$gw_port" --sub-path /v1/events/stream --pub-path /v1/events --pub-format flovyn --header "$auth" --server-pid "$gw_pid")
before=$(rss_kib "$gw_pid")
# clients connect at 700/s: one gateway opens ~500-900 tenant streams a second here (each open
# asks the stream for its last sequence), and a faster burst would need more descriptors than the
# hard limit leaves while libmicrohttpd hands sockets over
line=$("$build/bench_sse" "${gw_args[@]}" --conns "$hold_n" --rate 10 --seconds 10 --publishers 1 --connect-rate 700)
echo "deliveries: ready=$(field ready "$line") of $hold_n received=$(field received "$line") expected=$(field expected "$line") lost=$(field lost "$line") p50=$(field p50_ms "$line") ms p99=$(field p99_ms "$line") ms cpu_us_per_delivery=$(field cpu_us_per_delivery "$line")"
sleep 5 # the first client's streams are gone before the second one connects
line=$("$build/bench_sse" "${gw_args[@]}" --conns "$hold_n" --idle-seconds 20 --settle-seconds 10 --connect-rate 700)
during=$(field server_rss_kib "$line")
echo "idle: ready=$(field ready "$line") of $hold_n rss=${during}KiB (+$(( (during - before) / 1024 )) MiB) idle_cpu=$(awk "BEGIN{printf \"%.2f\", 100*$(field server_cpu_s "$line")/20}")%"
fi
