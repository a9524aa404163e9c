#!/usr/bin/env bash
# Benchmark: what user-namespace remapping costs a container's start.
# `docker run --rm IMAGE true` through the docker CLI, RUNS times in a row,
# on berth without and with --userns-remap default, and (unless --no-dockerd)
# on Debian's dockerd without and with it, all in one run; medians and the
# remapped/plain ratio per daemon.
#
# Usage: bench/userns.sh [--no-build] [--runs N] [--no-dockerd]
#   --no-build    use an existing target/release/berth (or $BERTH_BIN)
#   --runs N      containers per daemon (default 30; the median is printed)
#   --no-dockerd  berth only
# Target (issue 16): remapped start <= 1.10x plain. Makes the dockremap user
# and its /etc/subuid and /etc/subgid ranges if missing (as dockerd does).
set -euo pipefail

BUILD=1
RUNS=30
DOCKERD=1
while [ $# -gt 0 ]; do
    case "$1" in
        --no-build) BUILD=0 ;;
        --runs) RUNS="$2"; shift ;;
        --no-dockerd) DOCKERD=0 ;;
        -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
    shift
done

. "$(dirname "$0")/lib.sh"
bench_init userns
BERTH="${BERTH_BIN:-${CARGO_TARGET_DIR:-$REPO/target}/release/berth}"
NAMES=(berth berth-remap)
[ "$DOCKERD" = 1 ] && NAMES+=(dockerd dockerd-remap)
cleanup() {
    set +e
    remove_containers "${NAMES[@]}"
    bench_cleanup
}
trap cleanup EXIT
trap 'exit 130' INT TERM

need_tools curl python3 "$DOCKER_CLI"
[ "$DOCKERD" = 1 ] && need_tools dockerd
build_release "$BUILD"
# A remapped container's root (an unprivileged host id) must be able to
# traverse down to its daemon's data root, as with dockerd.
chmod 711 "$TMP"

busybox_rootfs sh true

start_daemon() { # name: berth*|dockerd*, remapped when it ends in -remap
    local extra=()
    case "$1" in *-remap) extra=(--userns-remap default) ;; esac
    start_bench_daemon "$1" "${1%%-*}" "${extra[@]}"
}

median_ms() { sort -n | awk '{ a[NR] = $1 } END { m = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2; printf "%.1f", m / 1e6 }'; }

declare -A MEDIAN
for name in "${NAMES[@]}"; do
    start_daemon "$name"
    dk "$name" import "$TMP/rootfs.tar" bench-busybox >/dev/null
    dk "$name" run --rm bench-busybox true # warm-up
    samples="$TMP/$name.samples"
    : >"$samples"
    for _ in $(seq "$RUNS"); do
        t0=$(date +%s%N)
        dk "$name" run --rm bench-busybox true
        t1=$(date +%s%N)
        echo $((t1 - t0)) >>"$samples"
    done
    MEDIAN[$name]="$(median_ms <"$samples")"
    log "$name: median ${MEDIAN[$name]} ms over $RUNS runs"
done

echo
echo "docker run --rm (median of $RUNS, ms)   plain   remapped   remapped/plain"
for d in berth dockerd; do
    [ -n "${MEDIAN[$d]:-}" ] || continue
    ratio="$(python3 -c "print(f'{${MEDIAN[$d-remap]} / ${MEDIAN[$d]}:.2f}')")"
    printf '%-38s %7s %10s %10sx\n' "$d" "${MEDIAN[$d]}" "${MEDIAN[$d-remap]}" "$ratio"
done
if [ -n "${MEDIAN[dockerd]:-}" ]; then
    python3 -c "print(f'berth remapped vs dockerd remapped: {${MEDIAN[berth-remap]} / ${MEDIAN[dockerd-remap]}:.2f}x')"
fi
