#!/usr/bin/env bash
# Benchmark: Prometheus scrapes of a daemon running N containers (default 100).
#   - wall time of one GET /metrics (median and p90 of --scrapes back-to-back scrapes);
#   - the daemon's CPU per scrape (its utime+stime over those scrapes / their number);
#   - the daemon's CPU, as a share of one core, while scraped every second for
#     --seconds, next to the same window unscraped.
# dockerd (--metrics-addr: engine metrics only, no per-container series) is
# measured the same way in the same run. Goals (issue 15): <= 20 ms per scrape,
# <= 2% of one core at one scrape a second.
#
# Usage: bench/metrics.sh [--no-build] [-n CONTAINERS] [--scrapes N] [--seconds S] [--only berth|dockerd]
# Needs curl and dockerd (scripts/deps.sh). Everything runs on loopback under
# one temp dir; containers, daemons, the bridge and its nft table go on exit.
set -euo pipefail

BUILD=1
COUNT=100
SCRAPES=100
SECONDS_IDLE=30
ONLY=""
while [ $# -gt 0 ]; do
    case "$1" in
        --no-build) BUILD=0 ;;
        -n) COUNT="$2"; shift ;;
        --scrapes) SCRAPES="$2"; shift ;;
        --seconds) SECONDS_IDLE="$2"; shift ;;
        --only) ONLY="$2"; shift ;;
        -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
    shift
done

. "$(dirname "$0")/lib.sh"
bench_init metrics
BERTH="${BERTH_BIN:-$REPO/target/release/berth}"
BRIDGE="bm$UNIQUE"
NFT_TABLE="berth_bm$UNIQUE"
trap cleanup_with_bridge EXIT
trap 'exit 130' INT TERM

need_tools curl dockerd "$DOCKER_CLI"
build_release "$BUILD"

make_rootfs() {
    local root="$TMP/rootfs"
    mkdir -p "$root"/{bin,etc,tmp,proc,sys,dev,root}
    chmod 1777 "$root/tmp"
    cp /bin/busybox "$root/bin/busybox"
    for a in sh sleep true; do ln -s busybox "$root/bin/$a"; done
    printf 'root:x:0:0:root:/root:/bin/sh\n' >"$root/etc/passwd"
    printf 'root:x:0:\n' >"$root/etc/group"
    tar -C "$root" --numeric-owner --owner=0 --group=0 -cf "$TMP/rootfs.tar" .
}
make_rootfs

start_daemon() { # name port
    local name="$1" port="$2" dir="$TMP/$1"
    mkdir -p "$dir"
    local args=(-H "unix://$dir/daemon.sock" --data-root "$dir/root" --exec-root "$dir/exec"
        --pidfile "$dir/pid" --cgroup-parent "$CGROUP_PARENT-$name" --metrics-addr "127.0.0.1:$port")
    case "$name" in
        # berth's containers get a bridge of their own, so their network series are there too.
        berth) "$BERTH" daemon "${args[@]}" --bridge "$BRIDGE" --bridge-prefix "bm${UNIQUE:0:4}-" \
            --nft-table "$NFT_TABLE" --default-address-pool base=10.251.0.0/16,size=24 \
            >"$dir/log" 2>&1 </dev/null & ;;
        dockerd) dockerd "${args[@]}" --bridge=none --iptables=false --ip6tables=false \
            >"$dir/log" 2>&1 </dev/null & ;;
    esac
    local pid=$!
    PIDS+=("$pid")
    echo "$pid" >"$dir/main.pid"
    wait_ping "$dir/daemon.sock" "$pid" || { log "$name did not start"; tail -n 15 "$dir/log" >&2; return 1; }
}

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
hz() { getconf CLK_TCK; }
median() { sort -n | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
p90() { sort -n | awk '{ a[NR] = $1 } END { i = int(NR * 0.9); if (i < 1) i = 1; print a[i] }'; }

declare -A WALL WALL90 CPU SIZE SERIES IDLE BUSY
for name in berth dockerd; do
    [ -n "$ONLY" ] && [ "$ONLY" != "$name" ] && continue
    port="$(free_port)"
    start_daemon "$name" "$port"
    pid="$(cat "$TMP/$name/main.pid")"
    url="http://127.0.0.1:$port/metrics"
    dk "$name" import "$TMP/rootfs.tar" bench-base:0 >/dev/null
    log "== $name: starting $COUNT containers"
    for i in $(seq "$COUNT"); do
        dk "$name" run -d --name "m$i" --label "com.example.bench=metrics" --label "com.example.index=$i" \
            bench-base:0 sleep 3600 >/dev/null
    done
    curl -sf -o "$TMP/$name.scrape" "$url"
    SIZE[$name]="$(wc -c <"$TMP/$name.scrape")"
    SERIES[$name]="$(grep -vc '^#' "$TMP/$name.scrape")"
    for _ in 1 2 3; do curl -sf -o /dev/null "$url"; done # warm-up
    log "== $name: $SCRAPES scrapes back to back"
    : >"$TMP/$name.times"
    t0="$(cpu_ticks "$pid")"
    for _ in $(seq "$SCRAPES"); do
        curl -sf -o /dev/null -w '%{time_total}\n' "$url" >>"$TMP/$name.times"
    done
    t1="$(cpu_ticks "$pid")"
    WALL[$name]="$(median <"$TMP/$name.times" | awk '{ printf "%.1f", $1 * 1000 }')"
    WALL90[$name]="$(p90 <"$TMP/$name.times" | awk '{ printf "%.1f", $1 * 1000 }')"
    CPU[$name]="$(awk -v d=$((t1 - t0)) -v n="$SCRAPES" -v hz="$(hz)" 'BEGIN { printf "%.1f", d / hz * 1000 / n }')"
    log "== $name: ${SECONDS_IDLE}s unscraped, then ${SECONDS_IDLE}s scraped every second"
    t0="$(cpu_ticks "$pid")"
    sleep "$SECONDS_IDLE"
    t1="$(cpu_ticks "$pid")"
    IDLE[$name]="$(awk -v d=$((t1 - t0)) -v s="$SECONDS_IDLE" -v hz="$(hz)" 'BEGIN { printf "%.2f", d / hz / s * 100 }')"
    t0="$(cpu_ticks "$pid")"
    scrapers=()
    for _ in $(seq "$SECONDS_IDLE"); do
        curl -sf -o /dev/null "$url" &
        scrapers+=("$!")
        sleep 1
    done
    wait "${scrapers[@]}"
    t1="$(cpu_ticks "$pid")"
    BUSY[$name]="$(awk -v d=$((t1 - t0)) -v s="$SECONDS_IDLE" -v hz="$(hz)" 'BEGIN { printf "%.2f", d / hz / s * 100 }')"
    remove_containers "$name"
done

printf '\n%s running containers, %s scrapes back to back, %ss windows\n' "$COUNT" "$SCRAPES" "$SECONDS_IDLE"
printf '%-44s %12s %12s\n' metric berth dockerd
row() { printf '%-44s %12s %12s\n' "$1" "${2:-n/a}" "${3:-n/a}"; }
row "scrape wall time, median ms" "${WALL[berth]:-}" "${WALL[dockerd]:-}"
row "scrape wall time, p90 ms" "${WALL90[berth]:-}" "${WALL90[dockerd]:-}"
row "daemon CPU per scrape, ms" "${CPU[berth]:-}" "${CPU[dockerd]:-}"
row "daemon CPU unscraped, % of a core" "${IDLE[berth]:-}" "${IDLE[dockerd]:-}"
row "daemon CPU scraped at 1/s, % of a core" "${BUSY[berth]:-}" "${BUSY[dockerd]:-}"
row "scrape size, bytes" "${SIZE[berth]:-}" "${SIZE[dockerd]:-}"
row "series per scrape" "${SERIES[berth]:-}" "${SERIES[dockerd]:-}"
echo "(dockerd's scrape has its engine metrics only; berth's has every container's series too)"
