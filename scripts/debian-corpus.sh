#!/usr/bin/env bash
# Makes (or reuses) the Debian 12 root filesystem tarball the real-image tests import:
# `debootstrap --variant=minbase bookworm`, plus the .debs of the packages the corpus installs,
# pre-fetched into /var/cache/apt/archives so `apt-get install` in the tests' Dockerfiles reads
# them from the image instead of the network (one build still downloads, through apt's _apt
# sandbox and a RUN --mount=type=cache).
#
# Cached in $BERTH_TEST_CACHE (default /var/cache/berth-tests) under a name keyed by suite,
# variant, mirror, package set and CORPUS_VERSION (bump it when the recipe changes); rebuilt
# when the key changes or the tarball is older than $BERTH_CORPUS_MAX_AGE_DAYS (default 7:
# the apt lists inside must still match what the mirror serves). Parallel callers wait on a
# lock instead of bootstrapping twice. Prints the tarball's path on stdout.
set -euo pipefail

CORPUS_VERSION=1
SUITE=bookworm
VARIANT=minbase
MIRROR=${BERTH_DEBIAN_MIRROR:-http://deb.debian.org/debian}
PACKAGES=(nginx postgresql postgresql-client redis-server redis-tools python3 curl procps locales passwd)
cache=${BERTH_TEST_CACHE:-/var/cache/berth-tests}
max_age_days=${BERTH_CORPUS_MAX_AGE_DAYS:-7}

key=$(printf '%s\n' "$CORPUS_VERSION" "$SUITE" "$VARIANT" "$MIRROR" "${PACKAGES[*]}" |
    sha256sum | cut -c1-16)
tarball="$cache/debian-$SUITE-$VARIANT-$key.tar"

mkdir -p "$cache"
exec 9>"$cache/.debian-corpus.lock"
flock 9

if [ -s "$tarball" ] && [ -z "$(find "$tarball" -mtime "+$max_age_days")" ]; then
    echo "$tarball"
    exit 0
fi

command -v debootstrap >/dev/null || {
    echo "debootstrap is missing: run scripts/deps.sh" >&2
    exit 1
}
work=$(mktemp -d "$cache/build.XXXXXX")
trap 'rm -rf "$work"' EXIT
root="$work/root"
echo "debian corpus: debootstrap --variant=$VARIANT $SUITE from $MIRROR (cached afterwards)" >&2
debootstrap --variant="$VARIANT" "$SUITE" "$root" "$MIRROR" >"$work/debootstrap.log" 2>&1 || {
    tail -30 "$work/debootstrap.log" >&2
    exit 1
}
# The packages' .debs ride in the image: builds install them without the network. The chroot
# needs a resolver only for this step; a container gets its own resolv.conf.
cp /etc/resolv.conf "$root/etc/resolv.conf"
chroot "$root" apt-get update -qq >&2
chroot "$root" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --download-only --no-install-recommends "${PACKAGES[@]}" >&2
: >"$root/etc/resolv.conf"
tar --numeric-owner --xattrs -C "$root" -cf "$work/rootfs.tar" .
rm -f "$cache"/debian-*.tar
mv "$work/rootfs.tar" "$tarball"
echo "$tarball"
