#!/bin/sh
# flovyn-make-certs [DIR]: makes, at the first start only, what a deployment must never commit:
#   DIR/tls/ca.crt                a private CA (EC P-256, 825 days; its key is thrown away once
#                                 the three certificates below are signed)
#   DIR/tls/nats.crt nats.key     the NATS servers' certificate (server and client use: routes
#                                 connect with it), SANs: $FLOVYN_NATS_NAMES, localhost, 127.0.0.1
#   DIR/tls/client.crt client.key the daemons' client certificate for NATS (verify is on)
#   DIR/tls/front.crt front.key   the HTTPS front's certificate, SANs: $FLOVYN_FRONT_NAMES,
#                                 localhost, 127.0.0.1 (signed by the CA: trust ca.crt, or accept
#                                 it as self-signed)
#   DIR/secret/jwt.secret         the gateways' HS256 secret (48 random bytes, base64)
# and DIR/ready last. When DIR/ready exists it does nothing, so restarts keep the same keys.
# Files belong to $FLOVYN_FILES_OWNER (default 10001:10001, the images' user), keys mode 0400.
set -eu
dir=${1:-/flovyn}
nats_names=${FLOVYN_NATS_NAMES:-nats-1 nats-2 nats-3}
front_names=${FLOVYN_FRONT_NAMES:-front}
owner=${FLOVYN_FILES_OWNER:-10001:10001}

if [ -e "$dir/ready" ]; then
  echo "flovyn-make-certs: $dir is ready already"
  exit 0
fi
umask 077
mkdir -p "$dir/tls" "$dir/secret"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

sans() { # names... -> subjectAltName value
  out=""
  for n in "$@" localhost; do out="${out}DNS:$n,"; done
  printf '%sIP:127.0.0.1' "$out"
}
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1.key" 2>/dev/null; }
leaf() { # name common-name extended-key-usage subject-alt-names
  key "$1"
  openssl req -new -key "$1.key" -subj "/O=flovyn-events/CN=$2" -out "$1.csr"
  {
    echo "basicConstraints=critical,CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=$3"
    [ -n "$4" ] && echo "subjectAltName=$4"
  } >"$1.ext"
  openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 825 \
    -extfile "$1.ext" -out "$1.crt" 2>/dev/null
}

key ca
openssl req -x509 -new -key ca.key -days 825 -subj "/O=flovyn-events/CN=flovyn-events local CA" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
  -out ca.crt
# shellcheck disable=SC2086 # word splitting of the name lists is wanted
leaf nats "${nats_names%% *}" serverAuth,clientAuth "$(sans $nats_names)"
leaf client flovyn-daemon clientAuth ""
# shellcheck disable=SC2086
leaf front "${front_names%% *}" serverAuth "$(sans $front_names)"
openssl rand -base64 48 | tr -d '\n' >jwt.secret

for f in ca.crt nats.crt client.crt front.crt; do install -m 0444 "$f" "$dir/tls/$f"; done
for f in nats.key client.key front.key; do install -m 0400 "$f" "$dir/tls/$f"; done
install -m 0400 jwt.secret "$dir/secret/jwt.secret"
chown -R "$owner" "$dir/tls" "$dir/secret"
chmod 0755 "$dir" "$dir/tls" "$dir/secret"
touch "$dir/ready"
echo "flovyn-make-certs: CA, NATS, client and front certificates and the JWT secret made in $dir"
