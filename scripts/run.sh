#!/usr/bin/env bash
# The main job on a fresh machine: install what is missing, build berth, start a
# daemon on a local data root, import a busybox image and run a hello container.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cargo build --release -p berth
BERTH=$PWD/target/release/berth
root=${BERTH_DEMO_ROOT:-/tmp/berth-demo}
sock=unix://$root/berth.sock
mkdir -p "$root"
if ! curl -sf --unix-socket "$root/berth.sock" http://berth/_ping >/dev/null 2>&1; then
    "$BERTH" daemon -H "$sock" --data-root "$root/data" --exec-root "$root/exec" \
        --pidfile "$root/berth.pid" >"$root/daemon.log" 2>&1 &
    for _ in $(seq 100); do
        curl -sf --unix-socket "$root/berth.sock" http://berth/_ping >/dev/null 2>&1 && break
        sleep 0.05
    done
fi
export BERTH_HOST=$sock
if ! "$BERTH" image inspect busybox:latest >/dev/null 2>&1; then
    rootfs=$(mktemp -d)
    mkdir -p "$rootfs/bin" "$rootfs/etc"
    cp /bin/busybox "$rootfs/bin/busybox"
    for applet in $("$rootfs/bin/busybox" --list); do
        [ "$applet" = busybox ] || ln -sf busybox "$rootfs/bin/$applet"
    done
    printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$rootfs/etc/passwd"
    printf 'root:x:0:\nnogroup:x:65534:\n' >"$rootfs/etc/group"
    tar -C "$rootfs" -cf - . | "$BERTH" import --change 'CMD ["sh"]' - busybox:latest
    rm -rf "$rootfs"
fi
"$BERTH" run --rm busybox echo "hello from a berth container"
echo "daemon: $sock (log $root/daemon.log, pid $(cat "$root/berth.pid"))"
echo "try:    BERTH_HOST=$sock $BERTH ps -a    or    DOCKER_HOST=$sock docker ps -a"
