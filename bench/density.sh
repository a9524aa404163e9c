#!/usr/bin/env bash
# Benchmark: start latency, throughput and density through the Engine API
# (curl on the unix socket: no CLI start-up in the figures), berth against
# Debian's dockerd in one run, same busybox image, no default bridge.
#
#   lifecycle   create+start+wait+delete of one container, sequential, median
#   8 clients   the same lifecycle from CLIENTS parallel clients, lifecycles/s
#   density     COUNT `sleep` containers started from CLIENTS clients: time
#               until all run, daemon RSS, the monitors' summed RSS and PSS,
#               `docker ps` (CLI) latency with COUNT running, removal time
#   logs        daemon RSS after `docker logs` of a 100 MB log
#
# Usage: bench/density.sh [--no-build] [-n COUNT] [-c CLIENTS] [-l RUNS] [--only berth|dockerd]
# Targets (issue 11): lifecycle <= 30 ms; >= 80 lifecycles/s with 8 clients;
# monitor <= 2 MB RSS; berth daemon <= 40 MB RSS at 1,000 containers and
# <= 25 MB after the 100 MB log.
set -euo pipefail

BUILD=1
COUNT=1000
CLIENTS=8
RUNS=30
ONLY=""
while [ $# -gt 0 ]; do
    case "$1" in
        --no-build) BUILD=0 ;;
        -n) COUNT="$2"; shift ;;
        -c) CLIENTS="$2"; shift ;;
        -l) RUNS="$2"; shift ;;
        --only) ONLY="$2"; shift ;;
        -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
    shift
done

. "$(dirname "$0")/lib.sh"
bench_init density
BERTH="${BERTH_BIN:-${CARGO_TARGET_DIR:-$REPO/target}/release/berth}"
trap bench_cleanup EXIT
need_tools curl "$DOCKER_CLI"
build_release "$BUILD"
busybox_rootfs sh sleep true head yes

now_ns() { date +%s%N; }

api() { # name method path [json] -> body on stdout
    local sock="$TMP/$1/daemon.sock" method="$2" path="$3" body="${4:-}"
    if [ -n "$body" ]; then
        curl -sf --unix-socket "$sock" -X "$method" -H 'Content-Type: application/json' \
            -d "$body" "http://d/v1.41$path"
    else
        curl -sf --unix-socket "$sock" -X "$method" "http://d/v1.41$path"
    fi
}

lifecycle() { # name -> one create+start+wait+delete through the API
    local id
    id="$(api "$1" POST /containers/create '{"Image":"busybox","Cmd":["true"]}' |
        sed 's/.*"Id":"\([0-9a-f]*\)".*/\1/')"
    api "$1" POST "/containers/$id/start" >/dev/null
    api "$1" POST "/containers/$id/wait" >/dev/null
    api "$1" DELETE "/containers/$id" >/dev/null
}

median_of() { sort -n | awk '{ a[NR] = $1 } END { print (NR ? a[int((NR + 1) / 2)] : "n/a") }'; }

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }

sum_kb() { # field pids... -> summed kB of that smaps_rollup/status field
    local field="$1" total=0 p v
    shift
    for p in "$@"; do
        v="$(awk -v f="$field:" '$1 == f { print $2 }' "/proc/$p/smaps_rollup" 2>/dev/null || true)"
        total=$((total + ${v:-0}))
    done
    echo "$total"
}

declare -A LAT RATE UP_S DRSS MON_RSS MON_PSS PS_MS RM_S LOG_RSS
for name in berth dockerd; do
    [ -n "$ONLY" ] && [ "$ONLY" != "$name" ] && continue
    if [ "$name" = dockerd ] && ! command -v dockerd >/dev/null; then
        log "dockerd not installed; berth only"
        continue
    fi
    log "== $name"
    start_bench_daemon "$name" "$name" || continue
    pid="$LAST_PID"
    dk "$name" import --change 'CMD ["sh"]' "$TMP/rootfs.tar" busybox:latest >/dev/null
    lifecycle "$name" # warm-up

    log "lifecycle latency ($RUNS sequential) ..."
    for _ in $(seq "$RUNS"); do
        s=$(now_ns); lifecycle "$name"; e=$(now_ns)
        echo $(((e - s) / 1000))
    done | median_of | awk '{ printf "%.1f\n", $1 / 1000 }' >"$TMP/lat"
    LAT[$name]="$(cat "$TMP/lat")"

    per_client=$((RUNS * 2 / CLIENTS + 1))
    log "$CLIENTS clients x $per_client lifecycles ..."
    s=$(now_ns)
    jobs_=()
    for _ in $(seq "$CLIENTS"); do
        (for _ in $(seq "$per_client"); do lifecycle "$name"; done) &
        jobs_+=($!)
    done
    wait "${jobs_[@]}"
    e=$(now_ns)
    RATE[$name]="$(awk -v n=$((CLIENTS * per_client)) -v ns=$((e - s)) 'BEGIN { printf "%.1f", n / (ns / 1e9) }')"

    log "density: $COUNT sleep containers from $CLIENTS clients ..."
    s=$(now_ns)
    jobs_=()
    for c in $(seq "$CLIENTS"); do
        (
            for i in $(seq "$c" "$CLIENTS" "$COUNT"); do
                id="$(api "$name" POST "/containers/create?name=d$i" \
                    '{"Image":"busybox","Cmd":["sleep","3600"]}' |
                    sed 's/.*"Id":"\([0-9a-f]*\)".*/\1/')"
                api "$name" POST "/containers/$id/start" >/dev/null
            done
        ) &
        jobs_+=($!)
    done
    wait "${jobs_[@]}"
    e=$(now_ns)
    UP_S[$name]="$(awk -v ns=$((e - s)) 'BEGIN { printf "%.1f", ns / 1e9 }')"
    running="$(dk "$name" ps -q | wc -l)"
    [ "$running" = "$COUNT" ] || log "$name: $running of $COUNT running"
    sleep 2
    DRSS[$name]="$(rss_kb "$pid")"
    mons=($(monitor_pids "$name"))
    MON_RSS[$name]="$(sum_kb Rss "${mons[@]}")"
    MON_PSS[$name]="$(sum_kb Pss "${mons[@]}")"
    for _ in 1 2 3 4 5; do
        s=$(now_ns); dk "$name" ps >/dev/null; e=$(now_ns)
        echo $(((e - s) / 1000000))
    done | median_of >"$TMP/ps"
    PS_MS[$name]="$(cat "$TMP/ps")"
    log "removing $COUNT ..."
    s=$(now_ns)
    jobs_=()
    for c in $(seq "$CLIENTS"); do
        (for i in $(seq "$c" "$CLIENTS" "$COUNT"); do api "$name" DELETE "/containers/d$i?force=1" >/dev/null; done) &
        jobs_+=($!)
    done
    # Not a bare `wait`: the daemon is a background job of this shell too.
    wait "${jobs_[@]}"
    e=$(now_ns)
    RM_S[$name]="$(awk -v ns=$((e - s)) 'BEGIN { printf "%.1f", ns / 1e9 }')"

    log "docker logs of a 100 MB log ..."
    dk "$name" run --name biglog busybox sh -c 'yes 0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789 | head -c 100000000' >/dev/null
    dk "$name" logs biglog >/dev/null
    sleep 2
    LOG_RSS[$name]="$(rss_kb "$pid")"
    dk "$name" rm -f biglog >/dev/null
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2fx", a / b; else print "n/a" }'; }
row() { # label array-name
    local -n arr="$2"
    printf '%-50s %12s %12s %10s\n' "$1" "${arr[berth]:-skipped}" "${arr[dockerd]:-skipped}" \
        "$(ratio "${arr[berth]:-}" "${arr[dockerd]:-}")"
}
printf '\n%-50s %12s %12s %10s\n' "metric" berth dockerd "berth/dockerd"
row "API lifecycle, median ms ($RUNS runs)" LAT
row "lifecycles/s, $CLIENTS clients" RATE
row "$COUNT containers started ($CLIENTS clients), s" UP_S
row "daemon RSS with $COUNT running, kB" DRSS
row "monitors' RSS, all $COUNT, kB" MON_RSS
row "monitors' PSS, all $COUNT, kB" MON_PSS
row "docker ps with $COUNT running, median ms" PS_MS
row "$COUNT removed ($CLIENTS clients), s" RM_S
row "daemon RSS after docker logs of 100 MB, kB" LOG_RSS
echo "(dockerd's RSS is dockerd's alone: its containerd is not counted.)"
