#!/usr/bin/env bash
# Builds the base image `debian:bookworm-slim` locally from the Debian archive, for machines that
# reach no container registry: mmdebstrap makes a minimal bookworm root file system (the apt
# sources this machine's apt would use for bookworm: the main archive, updates and security), and
# `podman import` turns it into an image named as podman and docker resolve the Dockerfile's
# `FROM debian:bookworm-slim`: docker.io/library/debian:bookworm-slim. Builds then use
# `--pull=never`, so nothing ever tries to reach a registry.
# Does nothing when the image is already present (FLOVYN_BASE_REBUILD=1 builds it again).
#   deploy/base-image.sh
# Environment: FLOVYN_DEBIAN_MIRROR (a mirror URI or a sources file, passed to mmdebstrap),
# CONTAINERS_CONF (default: deploy/containers.conf).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
export CONTAINERS_CONF="${CONTAINERS_CONF:-$here/containers.conf}"
image=docker.io/library/debian:bookworm-slim

if [[ "${FLOVYN_BASE_REBUILD:-0}" != 1 ]] && podman image exists "$image"; then
  echo "base-image: $image is present"
  exit 0
fi
command -v mmdebstrap >/dev/null || { echo "base-image: mmdebstrap is missing (scripts/install-deps.sh --test installs it)" >&2; exit 1; }

start=$(date +%s)
mirror=()
[[ -n "${FLOVYN_DEBIAN_MIRROR:-}" ]] && mirror=("$FLOVYN_DEBIAN_MIRROR")
tar=$(mktemp /tmp/flovyn-base-XXXXXX.tar)
log=$(mktemp /tmp/flovyn-base-XXXXXX.log)
trap 'rm -f "$tar" "$log"' EXIT

# minbase: essential packages and apt only. Like the slim images, no manual pages, no
# documentation other than copyright files, no translations; kept as a dpkg setting inside the
# image so packages installed later stay slim too. No recommended packages by default, and apt
# keeps neither downloaded packages nor its binary caches (an image layer would keep them). The
# merged-usr hook lays out the merged /usr itself, sparing the usrmerge package and its perl.
mmdebstrap --variant=minbase --quiet \
  --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
  --aptopt='APT::Install-Recommends "false"' \
  --aptopt='APT::Install-Suggests "false"' \
  --dpkgopt='path-exclude=/usr/share/man/*' \
  --dpkgopt='path-exclude=/usr/share/info/*' \
  --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-include=/usr/share/doc/*/copyright' \
  --dpkgopt='path-exclude=/usr/share/locale/*' \
  --dpkgopt='path-include=/usr/share/locale/locale.alias' \
  --dpkgopt='path-exclude=/usr/share/lintian/*' \
  --customize-hook='printf "%s\n" "APT::Keep-Downloaded-Packages \"false\";" \
      "Dir::Cache::pkgcache \"\";" "Dir::Cache::srcpkgcache \"\";" \
      >"$1/etc/apt/apt.conf.d/50flovyn-slim"' \
  --customize-hook='rm -rf "$1"/var/cache/apt/*.bin "$1"/var/log/apt/* "$1"/var/log/dpkg.log' \
  bookworm "$tar" "${mirror[@]}" >"$log" 2>&1 || { cat "$log" >&2; exit 1; }

podman import --quiet \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'CMD ["bash"]' \
  --message "debian bookworm minbase made by deploy/base-image.sh" \
  "$tar" "$image" >/dev/null
echo "base-image: $image built in $(($(date +%s) - start)) s"
