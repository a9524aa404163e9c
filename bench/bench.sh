#!/usr/bin/env bash
# Benchmark: `docker run --rm busybox true` latency and idle daemon memory,
# berth daemon vs dockerd, on one machine in one run. Prints medians and ratios.
#
# Usage: bench/bench.sh [--install] [-n RUNS] [--only berth|dockerd] [--no-build]
#                       [--extended] [--churn N] [--tree-mb MB]
#   --install   apt-get install docker.io (dockerd + containerd + runc) first
#   -n RUNS     timed runs per daemon (default 20)
#   --only X    benchmark one daemon only
#   --no-build  use an existing target/release/berth (or $BERTH_BIN)
#   --extended  also: create/start/stop/rm throughput of N containers with
#               resource limits, docker cp in/out of an MB-sized tree, and
#               docker save/load of an MB-sized image
#   --churn N   containers in the throughput run (default 100)
#   --tree-mb M size of the cp tree and of the saved image (default 200)
#   --repeat R  rounds of each cp and save/load measure; the median is shown
#               (default 3: one round of a second or less moved by 2x here)
# The docker CLI used is /usr/local/bin/docker (override with DOCKER_CLI).
# Every daemon runs on private sockets and roots under one temp dir; all of it
# (processes, mounts, cgroups, files) is removed on exit, even on failure.
set -euo pipefail

RUNS=20
INSTALL=0
ONLY=""
BUILD=1
EXTENDED=0
CHURN=100
TREE_MB=200
REPEAT=3
while [ $# -gt 0 ]; do
    case "$1" in
        --install) INSTALL=1 ;;
        -n) RUNS="$2"; shift ;;
        --only) ONLY="$2"; shift ;;
        --no-build) BUILD=0 ;;
        --extended) EXTENDED=1 ;;
        --churn) CHURN="$2"; shift ;;
        --tree-mb) TREE_MB="$2"; shift ;;
        --repeat) REPEAT="$2"; shift ;;
        -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
    shift
done

. "$(dirname "$0")/lib.sh"
bench_init bench
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

if [ "$INSTALL" = 1 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null
fi

want() { [ -z "$ONLY" ] || [ "$ONLY" = "$1" ]; }

# ---- the busybox image, from the host's static busybox ---------------------
make_rootfs() {
    local root="$TMP/rootfs"
    mkdir -p "$root"/{bin,etc,tmp,proc,sys,dev,root}
    chmod 1777 "$root/tmp"
    cp /bin/busybox "$root/bin/busybox"
    for a in sh echo cat ls sleep id true false; do ln -s busybox "$root/bin/$a"; done
    printf 'root:x:0:0:root:/root:/bin/sh\n' >"$root/etc/passwd"
    printf 'root:x:0:\n' >"$root/etc/group"
    tar -C "$root" --numeric-owner --owner=0 --group=0 -cf "$TMP/rootfs.tar" .
}

# ---- daemons ------------------------------------------------------------------
start_daemon() { # name -> sets DAEMON_PID
    local name="$1" dir="$TMP/$1"
    mkdir -p "$dir"
    local args=(-H "unix://$dir/daemon.sock" --data-root "$dir/root" --exec-root "$dir/exec"
        --pidfile "$dir/pid" --cgroup-parent "$CGROUP_PARENT-$name")
    case "$name" in
        # Both without a default bridge, as before networking landed (comparable figures).
        # Debug level for the timeline of a start (a few lines per container).
        berth) "${BERTH_BIN:-${CARGO_TARGET_DIR:-$REPO/target}/release/berth}" daemon "${args[@]}" --bridge none --log-level debug \
            >"$dir/log" 2>&1 </dev/null & ;;
        dockerd) dockerd "${args[@]}" --bridge=none --iptables=false --ip6tables=false \
            >"$dir/log" 2>&1 </dev/null & ;;
    esac
    local pid=$!
    PIDS+=("$pid")
    for _ in $(seq 600); do
        if curl -sf --unix-socket "$dir/daemon.sock" http://d/_ping >/dev/null 2>&1; then
            DAEMON_PID="$pid"
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    log "$name did not start; last log lines:"
    tail -n 15 "$dir/log" >&2
    return 1
}


rss_kb() { # pids... -> summed VmRSS in kB
    local total=0 pid kb
    for pid in "$@"; do
        kb="$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || true)"
        total=$((total + ${kb:-0}))
    done
    echo "$total"
}

daemon_pids() { # name main-pid -> the daemon and helpers it owns
    local name="$1" pid="$2"
    echo "$pid"
    if [ "$name" = dockerd ]; then
        # dockerd's managed containerd lives under its exec root.
        for p in /proc/[0-9]*; do
            if tr '\0' ' ' 2>/dev/null <"$p/cmdline" | grep -q "^containerd .*$TMP/dockerd/exec"; then
                echo "${p#/proc/}"
            fi
        done
    fi
}

monitor_memory() { # name -> "rss_kB pss_kB" per running container (10 idle sleepers)
    local name="$1" n=10 i pids rss pss
    for i in $(seq "$n"); do
        dk "$name" run -d --name "mon$i" busybox sleep 600 >/dev/null || return 1
    done
    # Idle: berth's monitors give back the pages of their start-up and of
    # the daemon's requests after a quiet second.
    sleep 2
    pids="$(monitor_pids "$name")"
    rss="$(rss_kb $pids)"
    pss=0
    for p in $pids; do
        pss=$((pss + $(awk '/^Pss:/ { print $2 }' "/proc/$p/smaps_rollup" 2>/dev/null || echo 0)))
    done
    for i in $(seq "$n"); do dk "$name" rm -f "mon$i" >/dev/null; done
    echo "$((rss / n)) $((pss / n))"
}

timeline() { # berth daemon log -> median ms of each phase of the `run --rm` containers
    sed 's/\x1b\[[0-9;]*m//g' "$1" | awk '
        function t(ts,   a) { split(substr(ts, 12, 15), a, ":"); return (a[1] * 3600 + a[2] * 60 + a[3]) * 1000 }
        / POST \/containers\/[0-9a-f]+\/start/ { match($0, /containers\/[0-9a-f]+\/start/); id = substr($0, RSTART + 11, RLENGTH - 17); m[id, "req"] = t($1) }
        /container=/ {
            id = $0; sub(/.*container=/, "", id); sub(/ .*/, "", id)
            if ($0 ~ /rootfs mounted, spec ready/) m[id, "ready"] = t($1)
            else if ($0 ~ /shim created the container/) { m[id, "created"] = t($1); r = $0; sub(/.*runtime create /, "", r); m[id, "rt"] = r + 0 }
            else if ($0 ~ /: started /) m[id, "started"] = t($1)
            else if ($0 ~ /exited with/) m[id, "exited"] = t($1)
            else if ($0 ~ /exit recorded/) m[id, "recorded"] = t($1)
            else if ($0 ~ /: removed /) { m[id, "removed"] = t($1); ids[id] = 1 }
        }
        END {
            split("req ready created started exited recorded removed", k, " ")
            for (id in ids) {
                ok = 1; for (i in k) if (!((id, k[i]) in m)) ok = 0
                if (!ok) continue
                n++
                p[1, n] = m[id, "ready"] - m[id, "req"]
                p[2, n] = m[id, "created"] - m[id, "ready"] - m[id, "rt"]
                p[3, n] = m[id, "rt"]
                p[4, n] = m[id, "started"] - m[id, "created"]
                p[5, n] = m[id, "exited"] - m[id, "started"]
                p[6, n] = m[id, "recorded"] - m[id, "exited"]
                p[7, n] = m[id, "removed"] - m[id, "recorded"]
            }
            split("start request to rootfs mounted and spec written|shim spawned and set up|runtime create (berth runtime: libcontainer)|start (the shim releases init, state)|the process runs (true)|exit recorded, rootfs unmounted|container and layer removed", label, "|")
            for (j = 1; j <= 7; j++) {
                for (i = 1; i <= n; i++) {
                    x = p[j, i]
                    for (h = i - 1; h >= 1 && v[h] > x; h--) v[h + 1] = v[h]
                    v[h + 1] = x
                }
                printf "  %-52s %7.1f ms\n", label[j], (n ? v[int((n + 1) / 2)] : 0)
                delete v
            }
            printf "  (median over %d containers)\n", n
        }'
}

median() { sort -n | awk '{ a[NR] = $1 } END { if (NR == 0) { print "nan"; exit } if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

time_runs() { # name -> median milliseconds
    local name="$1" sock="$TMP/$1/daemon.sock"
    if command -v hyperfine >/dev/null 2>&1; then
        DOCKER_HOST="unix://$sock" DOCKER_CONFIG="$TMP/config" \
            hyperfine -N --style none --runs "$RUNS" --warmup 1 \
            --export-csv "$TMP/$name.csv" "$DOCKER_CLI run --rm busybox true" >/dev/null
        # command,mean,stddev,median,... in seconds
        awk -F, 'NR == 2 { printf "%.1f\n", $4 * 1000 }' "$TMP/$name.csv"
        return
    fi
    dk "$name" run --rm busybox true >/dev/null || return 1 # warm-up
    local i start end times="$TMP/$name.times"
    : >"$times"
    for i in $(seq "$RUNS"); do
        start=$(date +%s%N)
        dk "$name" run --rm busybox true >/dev/null || return 1
        end=$(date +%s%N)
        echo "$(((end - start) / 1000))" >>"$times"
    done
    median <"$times" | awk '{ printf "%.1f\n", $1 / 1000 }'
}

# ---- extended benchmark ------------------------------------------------------------
now_ns() { date +%s%N; }
per_sec() { # count start-ns end-ns -> count per second
    awk -v n="$1" -v a="$2" -v b="$3" 'BEGIN { printf "%.1f\n", n / ((b - a) / 1e9) }'
}

make_tree() { # dir MB -> a tree of 1 MiB random files in 10 dirs plus small files
    local dir="$1" mb="$2" i
    mkdir -p "$dir"
    for i in $(seq "$mb"); do
        local d="$dir/d$((i % 10))"
        mkdir -p "$d"
        head -c 1048576 /dev/urandom >"$d/f$i"
    done
    mkdir -p "$dir/small"
    for i in $(seq 500); do echo "small file $i" >"$dir/small/s$i"; done
}

tree_mb() { du -sm --apparent-size "$1" | awk '{ print $1 }'; }

churn() { # name -> containers/s for create+start+stop+rm of $CHURN limited containers
    local name="$1" i ids=() start end
    start=$(now_ns)
    for i in $(seq "$CHURN"); do
        ids+=("$(dk "$name" create --memory 64m --cpus 0.5 --pids-limit 100 busybox sleep 3600)") || return 1
    done
    dk "$name" start "${ids[@]}" >/dev/null || return 1
    dk "$name" stop -t 0 "${ids[@]}" >/dev/null || return 1
    dk "$name" rm "${ids[@]}" >/dev/null || return 1
    end=$(now_ns)
    per_sec "$CHURN" "$start" "$end"
}

median() { # numbers on stdin -> their median
    sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.1f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

medians() { # fn name -> the column-wise medians of $REPEAT rounds of "fn name"
    local fn="$1" name="$2" i rows=() cols c out=()
    for i in $(seq "$REPEAT"); do
        rows+=("$("$fn" "$name")") || return 1
    done
    cols=$(awk '{ print NF; exit }' <<<"${rows[0]}")
    for c in $(seq "$cols"); do
        out+=("$(printf '%s\n' "${rows[@]}" | awk -v c="$c" '{ print $c }' | median)")
    done
    echo "${out[*]}"
}

cp_rates() { # name -> "in-MB/s out-MB/s put-MB/s" for docker cp of $TMP/tree
    local name="$1" c start mid end put_s put_e mb
    mb="$(tree_mb "$TMP/tree")"
    c="$(dk "$name" run -d busybox sleep 3600)" || return 1
    start=$(now_ns)
    dk "$name" cp "$TMP/tree" "$c:/tree" || return 1
    mid=$(now_ns)
    dk "$name" cp "$c:/tree" "$TMP/$name/tree-out" || return 1
    end=$(now_ns)
    [ "$(tree_mb "$TMP/$name/tree-out")" = "$mb" ] || { log "$name: cp out lost data"; return 1; }
    rm -rf "$TMP/$name/tree-out"
    # The daemon's side alone: the CLI's own walk and tar bound both daemons
    # near the same rate, so the same upload is also PUT from a ready tar.
    put_s=$(now_ns)
    curl -sf --unix-socket "$TMP/$name/daemon.sock" -H "Content-Type: application/x-tar" \
        -T "$TMP/tree.tar" "http://d/v1.41/containers/$c/archive?path=/tmp" >/dev/null || return 1
    put_e=$(now_ns)
    dk "$name" rm -f "$c" >/dev/null
    echo "$(per_sec "$mb" "$start" "$mid") $(per_sec "$mb" "$mid" "$end") $(per_sec "$mb" "$put_s" "$put_e")"
}

save_load_rates() { # name -> "save-MB/s load-MB/s" for an image of $TMP/big.tar
    local name="$1" start mid end mb out="$TMP/$name/saved.tar"
    dk "$name" import "$TMP/big.tar" bench-big:latest >/dev/null || return 1
    start=$(now_ns)
    dk "$name" save -o "$out" bench-big:latest || return 1
    mid=$(now_ns)
    dk "$name" rmi bench-big:latest >/dev/null || return 1
    dk "$name" load -q -i "$out" >/dev/null || return 1
    end=$(now_ns)
    mb="$(du -m --apparent-size "$out" | awk '{ print $1 }')"
    rm -f "$out"
    dk "$name" rmi bench-big:latest >/dev/null
    echo "$(per_sec "$mb" "$start" "$mid") $(per_sec "$mb" "$mid" "$end")"
}

# ---- main ------------------------------------------------------------------------
command -v "$DOCKER_CLI" >/dev/null || { log "docker CLI not found at $DOCKER_CLI"; exit 1; }
if want dockerd && ! command -v dockerd >/dev/null; then
    log "dockerd not installed (run with --install); benchmarking berth only"
    ONLY=berth
fi
if want berth && [ "$BUILD" = 1 ]; then
    log "building berth (release)..."
    (cd "$REPO" && cargo build --release -p berth -q)
fi
mkdir -p "$TMP/config"
make_rootfs
if [ "$EXTENDED" = 1 ]; then
    log "making a ${TREE_MB} MB tree and image..."
    make_tree "$TMP/tree" "$TREE_MB"
    tar -C "$TMP" -cf "$TMP/tree.tar" tree
    # The big image: the busybox rootfs plus the tree.
    cp -a "$TMP/tree" "$TMP/rootfs/data"
    tar -C "$TMP/rootfs" --numeric-owner --owner=0 --group=0 -cf "$TMP/big.tar" .
    rm -rf "$TMP/rootfs/data"
fi

declare -A MS RSS_FRESH RSS_AFTER MON_RSS MON_PSS CHURN_RATE CP_IN CP_PUT CP_OUT SAVE_RATE LOAD_RATE
for name in berth dockerd; do
    want "$name" || continue
    log "== $name"
    if ! start_daemon "$name"; then
        MS[$name]="n/a"; RSS_FRESH[$name]="n/a"; RSS_AFTER[$name]="n/a"
        continue
    fi
    if ! dk "$name" import --change 'CMD ["sh"]' "$TMP/rootfs.tar" busybox:latest >/dev/null; then
        log "$name: import failed"
        MS[$name]="n/a"; RSS_FRESH[$name]="n/a"; RSS_AFTER[$name]="n/a"
        continue
    fi
    pid="$DAEMON_PID"
    sleep 2
    RSS_FRESH[$name]="$(rss_kb $(daemon_pids "$name" "$pid"))"
    log "timing $RUNS x docker run --rm busybox true ..."
    if ! MS[$name]="$(time_runs "$name")"; then
        log "$name: docker run failed"
        MS[$name]="n/a"
    fi
    # The timeline is of these runs alone, not of the containers that follow.
    [ "$name" = berth ] && cp "$TMP/berth/log" "$TMP/berth/runs.log"
    sleep 2
    RSS_AFTER[$name]="$(rss_kb $(daemon_pids "$name" "$pid"))"
    log "monitor memory of 10 running containers ..."
    if r="$(monitor_memory "$name")"; then
        MON_RSS[$name]="${r% *}"; MON_PSS[$name]="${r#* }"
    else
        log "$name: monitor memory failed"; MON_RSS[$name]="n/a"; MON_PSS[$name]="n/a"
    fi
    if [ "$EXTENDED" = 1 ]; then
        log "churn: $CHURN x create/start/stop/rm with limits ..."
        CHURN_RATE[$name]="$(churn "$name")" || { log "$name: churn failed"; CHURN_RATE[$name]="n/a"; }
        log "docker cp in/out of ${TREE_MB} MB ..."
        if r="$(medians cp_rates "$name")"; then
            read -r CP_IN[$name] CP_OUT[$name] CP_PUT[$name] <<<"$r"
        else
            log "$name: cp failed"; CP_IN[$name]="n/a"; CP_OUT[$name]="n/a"; CP_PUT[$name]="n/a"
        fi
        log "docker save/load of a ${TREE_MB} MB image ..."
        if r="$(medians save_load_rates "$name")"; then
            SAVE_RATE[$name]="${r% *}"; LOAD_RATE[$name]="${r#* }"
        else
            log "$name: save/load failed"; SAVE_RATE[$name]="n/a"; LOAD_RATE[$name]="n/a"
        fi
    fi
done

ratio() { # a b -> a/b or n/a
    awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2fx", a / b; else print "n/a" }'
}

row() { # label array-name -> one line: berth, dockerd, berth/dockerd
    local -n arr="$2"
    printf '%-44s %12s %12s %10s\n' "$1" "${arr[berth]:-skipped}" "${arr[dockerd]:-skipped}" \
        "$(ratio "${arr[berth]:-}" "${arr[dockerd]:-}")"
}

printf '\n%-44s %12s %12s %10s\n' "metric ($RUNS runs)" berth dockerd "berth/dockerd"
row "docker run --rm busybox true, median ms" MS
row "idle RSS after start, kB" RSS_FRESH
row "idle RSS after the runs, kB" RSS_AFTER
row "monitor RSS per running container, kB" MON_RSS
row "monitor PSS per running container, kB" MON_PSS
echo "(dockerd RSS includes its managed containerd; berth RSS is the daemon alone."
echo " Monitors: berth-shim vs containerd-shim-runc-v2, 10 idle sleep containers.)"
if [ -f "$TMP/berth/runs.log" ]; then
    echo
    echo "where a berth 'docker run --rm' goes (daemon debug log):"
    timeline "$TMP/berth/runs.log"
fi
if [ "$EXTENDED" = 1 ]; then
    echo
    printf '%-44s %12s %12s %10s\n' "extended (higher is better)" berth dockerd "berth/dockerd"
    row "create+start+stop+rm x$CHURN (limits), ctr/s" CHURN_RATE
    row "docker cp into container (${TREE_MB} MB), MB/s" CP_IN
    row "  the same upload PUT from a ready tar (curl), MB/s" CP_PUT
    row "docker cp out of container (${TREE_MB} MB), MB/s" CP_OUT
    row "docker save (${TREE_MB} MB image), MB/s" SAVE_RATE
    row "docker load (${TREE_MB} MB image), MB/s" LOAD_RATE
fi
