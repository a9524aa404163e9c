#!/usr/bin/env bash
# Installs the Debian packages berth's build, runtime and tests need, only when missing.
set -euo pipefail
packages=(busybox-static tini crun git procps util-linux libseccomp-dev pkg-config iptables nftables iproute2 iputils-ping curl ca-certificates skopeo openssl docker-compose podman docker-registry wrk)
missing=()
for p in "${packages[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "installing: ${missing[*]}"
    if [ "$(id -u)" != 0 ]; then
        echo "need root to apt-get install ${missing[*]}" >&2
        exit 1
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if ! command -v docker >/dev/null; then
    # The e2e tests drive the real docker CLI; Debian ships it in docker.io.
    echo "installing the docker CLI (docker.io)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null
fi
