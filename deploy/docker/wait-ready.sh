#!/bin/sh
# flovyn-wait-ready FILE COMMAND...: waits (60 s at most) until FILE exists, then runs COMMAND in
# this process, so the daemon stays PID 1 and gets the container's SIGTERM. Compose starts every
# service at once; this holds a service until the `certs` service has made its certificates.
file=$1
shift
i=0
while [ ! -e "$file" ]; do
  i=$((i + 1))
  if [ "$i" -gt 300 ]; then
    echo "flovyn-wait-ready: $file did not appear in 60 s (did the certs service fail?)" >&2
    exit 1
  fi
  sleep 0.2
done
exec "$@"
