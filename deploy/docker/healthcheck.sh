#!/bin/bash
# flovyn-healthcheck [PATH]: the image's HEALTHCHECK. Asks the daemon that is this container's
# PID 1 for PATH (default /readyz) on its own HTTP address - the gateway's --listen, the bridge's
# --http-addr, from its command line, else its environment, else the default - and exits 0 on
# 200. Plain bash over /dev/tcp, so the image needs no HTTP client.
path=${1:-/readyz}
mapfile -d '' argv </proc/1/cmdline
case "${argv[0]##*/}" in
  flovyn-gateway) flag=--listen addr=${FLOVYN_LISTEN:-127.0.0.1:8080} ;;
  flovyn-bridge) flag=--http-addr addr=${FLOVYN_HTTP_ADDR:-127.0.0.1:8081} ;;
  *) echo "flovyn-healthcheck: PID 1 is ${argv[0]:-unknown}, not a flovyn daemon" >&2; exit 1 ;;
esac
for ((i = 1; i < ${#argv[@]}; i++)); do
  case "${argv[i]}" in
    "$flag") addr=${argv[i + 1]:-$addr} ;;
    "$flag"=*) addr=${argv[i]#*=} ;;
  esac
done
host=${addr%:*} port=${addr##*:}
[[ -z $host || $host == 0.0.0.0 || $host == '*' ]] && host=127.0.0.1
[[ $host == '[::]' ]] && host=::1
host=${host#[} host=${host%]}
exec 3<>"/dev/tcp/$host/$port" || exit 1
printf 'GET %s HTTP/1.0\r\nHost: %s\r\n\r\n' "$path" "$host" >&3
read -r -t 3 proto status _ <&3 || { echo "flovyn-healthcheck: no answer from $addr" >&2; exit 1; }
[[ $status == 200 ]] || { echo "flovyn-healthcheck: $path on $addr answered $status" >&2; exit 1; }
