#!/usr/bin/env bash
# Benchmark: berth registry vs Debian's docker-registry (distribution 2.8) on
# one machine in one run, plus push/pull of a ~1 GiB multi-layer image through
# the engines (berth daemon -> berth registry vs dockerd -> docker-registry).
#
# Usage: bench/registry.sh [--no-build] [--layers N] [--layer-mb MB] [--seconds S]
#   --no-build   use an existing target/release/berth
#   --layers N   layers of the engine image (default 8)
#   --layer-mb   MiB of random data per layer (default 128; 8 x 128 = 1 GiB)
#   --seconds S  wrk duration for the manifest GET test (default 10)
# Needs wrk, docker-registry, dockerd, curl (scripts/deps.sh installs them).
# Everything runs on loopback under one temp dir, removed on exit.
set -euo pipefail

BUILD=1
LAYERS=8
LAYER_MB=128
SECONDS_WRK=10
while [ $# -gt 0 ]; do
    case "$1" in
        --no-build) BUILD=0 ;;
        --layers) LAYERS="$2"; shift ;;
        --layer-mb) LAYER_MB="$2"; shift ;;
        --seconds) SECONDS_WRK="$2"; shift ;;
        -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
    shift
done

. "$(dirname "$0")/lib.sh"
bench_init regbench
BERTH="${BERTH_BIN:-$REPO/target/release/berth}"
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

need_tools wrk curl dockerd /usr/bin/docker-registry "$DOCKER_CLI"
build_release "$BUILD"

wait_http() { # url
    for _ in $(seq 100); do
        curl -sf -o /dev/null "$1" && return 0
        sleep 0.1
    done
    log "no answer from $1"
    return 1
}

# ---- registries ----------------------------------------------------------------
BERTH_PORT="$(free_port)"
"$BERTH" registry serve --addr "127.0.0.1:$BERTH_PORT" --root "$TMP/berth-registry" \
    >"$TMP/berth-registry.log" 2>&1 </dev/null &
PIDS+=("$!")
DIST_PORT="$(free_port)"
cat >"$TMP/dist.yml" <<YML
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $TMP/docker-registry
http:
  addr: 127.0.0.1:$DIST_PORT
YML
/usr/bin/docker-registry serve "$TMP/dist.yml" >"$TMP/docker-registry.log" 2>&1 </dev/null &
PIDS+=("$!")
wait_http "http://127.0.0.1:$BERTH_PORT/v2/"
wait_http "http://127.0.0.1:$DIST_PORT/v2/"

# A 100 MiB blob, a config and a manifest naming them, in both.
head -c $((100 << 20)) /dev/urandom >"$TMP/blob"
printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}' >"$TMP/config.json"
sha() { echo "sha256:$(sha256sum "$1" | cut -d' ' -f1)"; }
BLOB_DIGEST="$(sha "$TMP/blob")"
CONFIG_DIGEST="$(sha "$TMP/config.json")"
cat >"$TMP/manifest.json" <<JSON
{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"$CONFIG_DIGEST","size":$(stat -c %s "$TMP/config.json")},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"$BLOB_DIGEST","size":$(stat -c %s "$TMP/blob")}]}
JSON
MT="application/vnd.oci.image.manifest.v1+json"

upload() { # base file digest
    local loc
    loc="$(curl -sf -D - -o /dev/null -X POST "$1/v2/bench/blob/blobs/uploads/" |
        awk 'tolower($1) == "location:" { print $2 }' | tr -d '\r')"
    case "$loc" in http*) ;; *) loc="$1$loc" ;; esac
    case "$loc" in *\?*) loc="$loc&digest=$3" ;; *) loc="$loc?digest=$3" ;; esac
    curl -sf -o /dev/null -X PUT -H 'Content-Type: application/octet-stream' --data-binary "@$2" "$loc"
}

declare -A RPS MBS PUSH PULL
for name in berth docker-registry; do
    if [ "$name" = berth ]; then base="http://127.0.0.1:$BERTH_PORT"; else base="http://127.0.0.1:$DIST_PORT"; fi
    upload "$base" "$TMP/blob" "$BLOB_DIGEST"
    upload "$base" "$TMP/config.json" "$CONFIG_DIGEST"
    curl -sf -o /dev/null -X PUT -H "Content-Type: $MT" --data-binary "@$TMP/manifest.json" \
        "$base/v2/bench/blob/manifests/v1"
    log "== $name: manifest GET under wrk (${SECONDS_WRK}s, 2 threads, 32 connections)"
    RPS[$name]="$(wrk -t2 -c32 -d"${SECONDS_WRK}s" -H "Accept: $MT" "$base/v2/bench/blob/manifests/v1" |
        awk '/^Requests\/sec:/ { printf "%.0f\n", $2 }')"
    log "== $name: 100 MiB blob GET, 5 runs"
    speeds=()
    for _ in 1 2 3 4 5; do
        speeds+=("$(curl -sf -o /dev/null -w '%{speed_download}' "$base/v2/bench/blob/blobs/$BLOB_DIGEST")")
    done
    MBS[$name]="$(printf '%s\n' "${speeds[@]}" | sort -n | awk '{ a[NR] = $1 } END { printf "%.0f\n", a[3] / 1048576 }')"
done

# ---- engines ---------------------------------------------------------------------
make_rootfs() {
    local root="$TMP/rootfs"
    mkdir -p "$root"/{bin,etc,tmp,proc,sys,dev,root}
    chmod 1777 "$root/tmp"
    cp /bin/busybox "$root/bin/busybox"
    for a in sh echo cat ls sleep id true false head dd; do ln -s busybox "$root/bin/$a"; done
    printf 'root:x:0:0:root:/root:/bin/sh\n' >"$root/etc/passwd"
    printf 'root:x:0:\n' >"$root/etc/group"
    tar -C "$root" --numeric-owner --owner=0 --group=0 -cf "$TMP/rootfs.tar" .
}
make_rootfs

start_daemon() { # name
    local name="$1" dir="$TMP/$1"
    mkdir -p "$dir"
    local args=(-H "unix://$dir/daemon.sock" --data-root "$dir/root" --exec-root "$dir/exec"
        --pidfile "$dir/pid" --cgroup-parent "$CGROUP_PARENT-$name")
    case "$name" in
        berth) "$BERTH" daemon "${args[@]}" >"$dir/log" 2>&1 </dev/null & ;;
        dockerd) dockerd "${args[@]}" --bridge=none --iptables=false --ip6tables=false \
            >"$dir/log" 2>&1 </dev/null & ;;
    esac
    local pid=$!
    PIDS+=("$pid")
    for _ in $(seq 600); do
        curl -sf --unix-socket "$dir/daemon.sock" http://d/_ping >/dev/null 2>&1 && return 0
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    log "$name did not start"; tail -n 15 "$dir/log" >&2
    return 1
}


now_ms() { echo $(($(date +%s%N) / 1000000)); }

for name in berth dockerd; do
    if [ "$name" = berth ]; then reg="127.0.0.1:$BERTH_PORT"; else reg="127.0.0.1:$DIST_PORT"; fi
    start_daemon "$name"
    dk "$name" import "$TMP/rootfs.tar" bench-base:0 >/dev/null
    log "== $name: building a $LAYERS x $LAYER_MB MiB image"
    img=bench-base:0
    for i in $(seq "$LAYERS"); do
        dk "$name" run --name "layer$i" "$img" dd if=/dev/urandom of="/data$i" bs=1M count="$LAYER_MB" 2>/dev/null
        dk "$name" commit "layer$i" "bench-big:$i" >/dev/null
        dk "$name" rm "layer$i" >/dev/null
        img="bench-big:$i"
    done
    target="$reg/bench/big:v1"
    dk "$name" tag "$img" "$target"
    log "== $name: push to $reg"
    t0=$(now_ms); dk "$name" push "$target" >/dev/null; t1=$(now_ms)
    PUSH[$name]=$((t1 - t0))
    for i in $(seq "$LAYERS"); do dk "$name" rmi "bench-big:$i" >/dev/null 2>&1 || true; done
    dk "$name" rmi "$target" >/dev/null
    log "== $name: pull from $reg"
    t0=$(now_ms); dk "$name" pull "$target" >/dev/null; t1=$(now_ms)
    PULL[$name]=$((t1 - t0))
    dk "$name" rmi "$target" bench-base:0 >/dev/null 2>&1 || true
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2fx", a / b; else print "n/a" }'; }

printf '\n%-48s %12s %16s %8s\n' metric berth docker-registry ratio
printf '%-48s %12s %16s %8s\n' "manifest GET, requests/s (wrk)" "${RPS[berth]}" "${RPS[docker-registry]}" \
    "$(ratio "${RPS[berth]}" "${RPS[docker-registry]}")"
printf '%-48s %12s %16s %8s\n' "100 MiB blob GET, MiB/s (median of 5)" "${MBS[berth]}" "${MBS[docker-registry]}" \
    "$(ratio "${MBS[berth]}" "${MBS[docker-registry]}")"
total=$((LAYERS * LAYER_MB))
printf '%-48s %12s %16s %8s\n' "push ${total} MiB image via engine, ms" "${PUSH[berth]}" "${PUSH[dockerd]}" \
    "$(ratio "${PUSH[dockerd]}" "${PUSH[berth]}")"
printf '%-48s %12s %16s %8s\n' "pull ${total} MiB image via engine, ms" "${PULL[berth]}" "${PULL[dockerd]}" \
    "$(ratio "${PULL[dockerd]}" "${PULL[berth]}")"
echo "(ratio: berth's advantage; engine rows pair berth daemon+berth registry vs dockerd+docker-registry)"
