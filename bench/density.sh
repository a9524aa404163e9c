#!/usr/bin/env bash
# Benchmark: start latency, throughput and density through the Engine API
# (no CLI start-up in the figures), berth against
# Debian's dockerd in one run, same busybox image, no default bridge.
#
#   lifecycle   create+start+wait+delete of one container, sequential, median,
#               on kept-alive connections as an SDK makes them (lifecycle.py);
#               beside it `runc run` and `crun run` of the bundle berth made
#               for the same image (the ratio column: berth / bare runc)
#   8 clients   the same lifecycle from CLIENTS parallel clients, lifecycles/s;
#               then again while another client lists the containers every 5 ms:
#               that rate, and the list's latency
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
        -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
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

# One create+start+wait+delete after another through the API on kept-alive
# connections (bench/lifecycle.py), then CLIENTS clients at once: prints
# "median-ms rate phases" for a daemon.
lifecycles() { # name
    python3 "$(dirname "$0")/lifecycle.py" "$TMP/$1/daemon.sock" --runs "$RUNS" --clients "$CLIENTS" |
        python3 -c 'import json,sys; d=json.load(sys.stdin); p=d["phases_ms"]
if d["errors"]: print("lifecycle errors:", d["errors"], file=sys.stderr)
print(d["median_ms"], d["rate"] or "n/a", "/".join(str(p[k]) for k in ("create","start","wait","delete")),
      "%s/%s" % (d["list_ms"]["p50"], d["list_ms"]["p90"]), d["rate_listed"] or "n/a")'
}

# The bare runtime's lifecycle of the bundle berth made for a container of
# the same image (its namespaces, mounts, capabilities, seccomp filter), with
# `true` as its process: what the engine adds is measured against this.
make_bundle() { # name -> $TMP/bundle
    local id src
    id="$(dk "$1" run -d --name bundle-src busybox sleep 3600)"
    src="$(find "$TMP/$1" -path "*/$id/bundle/config.json" | head -n 1)"
    [ -n "$src" ] || { log "no config.json of $id"; return 1; }
    mkdir -p "$TMP/bundle"
    python3 - "$src" "$TMP/bundle/config.json" "$TMP/rootfs" "$CGROUP_PARENT-bare" <<'PY'
import json, sys
src, dst, rootfs, cgroup = sys.argv[1:]
spec = json.load(open(src))
spec["root"] = {"path": rootfs, "readonly": False}
spec["process"]["args"] = ["true"]
spec["process"]["terminal"] = False
spec.pop("hooks", None)
spec["linux"]["cgroupsPath"] = "/" + cgroup.strip("/") + "/bare"
json.dump(spec, open(dst, "w"))
PY
}

bare_lifecycle() { # runtime -> median ms of `RUNTIME run` of $TMP/bundle, or n/a
    local rt="$1" i s e
    command -v "$rt" >/dev/null || { echo n/a; return; }
    for i in $(seq "$RUNS"); do
        s=$(now_ns)
        "$rt" --root "$TMP/$rt-state" run --bundle "$TMP/bundle" "bare-$i" </dev/null >/dev/null 2>"$TMP/$rt.err" ||
            { log "$rt run failed: $(tail -n 3 "$TMP/$rt.err")"; echo n/a; return; }
        e=$(now_ns)
        echo $(((e - s) / 1000))
    done | median_of | awk '{ printf "%.1f\n", $1 / 1000 }'
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

BARE_RUNC=n/a; BARE_CRUN=n/a
declare -A PHASES LISTS LAT RATE RATE_LISTED UP_S DRSS MON_RSS MON_PSS PS_MS RM_S LOG_RSS
for name in berth dockerd; do
    measures "$name" || continue
    log "== $name"
    start_bench_daemon "$name" "$name" || continue
    pid="$LAST_PID"
    dk "$name" import --change 'CMD ["sh"]' "$TMP/rootfs.tar" busybox:latest >/dev/null
    if [ "$name" = berth ] && make_bundle "$name"; then
        log "bare runtimes: runc run, crun run of berth's bundle ($RUNS each) ..."
        BARE_RUNC="$(bare_lifecycle runc)"
        BARE_CRUN="$(bare_lifecycle crun)"
        dk "$name" rm -f bundle-src >/dev/null
    fi
    log "lifecycles: $RUNS sequential, then $CLIENTS clients ..."
    read -r lat rate phases lists listed < <(lifecycles "$name")
    LAT[$name]="$lat"; RATE[$name]="$rate"; PHASES[$name]="$phases"; LISTS[$name]="$lists"
    RATE_LISTED[$name]="$listed"

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
    # berth's memory keeper returns freed memory after an idle second, at
    # most every 5 s: sampled after that, the figure is the idle daemon's
    # whatever the timing of the last release (at 2 s it was either).
    sleep 6
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
    sleep 6
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
printf '%-50s %12s %12s\n' "  create/start/wait/delete, median ms" "${PHASES[berth]:-}" "${PHASES[dockerd]:-}"
printf '%-50s %12s %12s %10s\n' "  bare runc run / crun run of berth's bundle, ms" "$BARE_RUNC" "$BARE_CRUN" \
    "$(ratio "${LAT[berth]:-}" "$BARE_RUNC")"
row "lifecycles/s, $CLIENTS clients" RATE
row "  the same while a client lists every 5 ms" RATE_LISTED
printf '%-50s %12s %12s\n' "  GET /containers/json meanwhile, p50/p90 ms" "${LISTS[berth]:-}" "${LISTS[dockerd]:-}"
row "$COUNT containers started ($CLIENTS clients), s" UP_S
row "daemon RSS with $COUNT running, kB" DRSS
row "monitors' RSS, all $COUNT, kB" MON_RSS
row "monitors' PSS, all $COUNT, kB" MON_PSS
row "docker ps with $COUNT running, median ms" PS_MS
row "$COUNT removed ($CLIENTS clients), s" RM_S
row "daemon RSS after docker logs of 100 MB, kB" LOG_RSS
echo "(dockerd's RSS is dockerd's alone: its containerd is not counted.)"
