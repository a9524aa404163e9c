#!/usr/bin/env bash
# Benchmark (not a test): `docker build` with the classic builder
# (DOCKER_BUILDKIT=0), berth daemon vs dockerd, same machine, same run:
#   cold     10-step single-stage build, --no-cache
#   cached   the same rebuilt with no change
#   stages   three stages, two of them independent, --no-cache
#   late     one COPY source near the end changed, then rebuilt
# Prints medians (ms) and berth/dockerd ratios (targets: cold <= 0.5, cached <= 0.2).
#
# Usage: bench/build.sh [-n RUNS] [--only berth|dockerd] [--no-build]
#   -n RUNS     timed runs per scenario (default 5)
#   --only X    benchmark one daemon only
#   --no-build  use an existing berth binary ($BERTH_BIN, default target/release/berth)
set -euo pipefail

RUNS=5
ONLY=""
BUILD=1
while [ $# -gt 0 ]; do
    case "$1" in
        -n) RUNS="$2"; shift ;;
        --only) ONLY="$2"; shift ;;
        --no-build) BUILD=0 ;;
        -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
    shift
done

. "$(dirname "$0")/lib.sh"
bench_init bbench
BERTH_BIN="${BERTH_BIN:-$REPO/target/release/berth}"
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

# ---- daemons ------------------------------------------------------------------
start_daemon() { # name -> sets DAEMON_PID
    local name="$1" dir="$TMP/$1"
    mkdir -p "$dir"
    local args=(-H "unix://$dir/daemon.sock" --data-root "$dir/root" --exec-root "$dir/exec"
        --pidfile "$dir/pid" --cgroup-parent "$CGROUP_PARENT-$name")
    case "$name" in
        berth) "$BERTH_BIN" daemon "${args[@]}" >"$dir/log" 2>&1 </dev/null & ;;
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



want() { [ -z "$ONLY" ] || [ "$ONLY" = "$1" ]; }

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

make_contexts() {
    local c="$TMP/ctx-single"
    mkdir -p "$c/app"
    for i in 1 2 3; do head -c 100000 /dev/urandom >"$c/app/blob$i"; done
    echo v1 >"$c/late.txt"
    cat >"$c/Dockerfile" <<'DOCKERFILE'
FROM busybox
ENV APP=/app MODE=bench
WORKDIR /app
COPY app/ /app/
RUN cat /app/blob1 /app/blob2 > /app/joined
RUN echo "$MODE" > /mode
LABEL org.example.bench=yes
EXPOSE 8080
COPY late.txt /late.txt
CMD ["cat", "/late.txt"]
DOCKERFILE
    c="$TMP/ctx-stages"
    mkdir -p "$c"
    cat >"$c/Dockerfile" <<'DOCKERFILE'
FROM busybox AS one
RUN echo one > /one && cat /bin/busybox > /big1
FROM busybox AS two
RUN echo two > /two && cat /bin/busybox > /big2
FROM busybox
COPY --from=one /one /one
COPY --from=two /two /two
RUN cat /one /two
DOCKERFILE
}

build() { # name context extra-args...
    local name="$1" ctx="$2"
    shift 2
    DOCKER_BUILDKIT=0 dk "$name" build -q "$@" "$ctx" >/dev/null 2>"$TMP/$name.err" || {
        log "$name: build failed:"; cat "$TMP/$name.err" >&2; return 1; }
}

ms_of() { # command... -> elapsed ms
    local start end
    start=$(date +%s%N)
    "$@"
    end=$(date +%s%N)
    echo $(((end - start) / 1000000))
}

scenario() { # name scenario -> median ms
    local name="$1" what="$2" i t times="$TMP/$1.$2.times"
    : >"$times"
    for i in $(seq "$RUNS"); do
        case "$what" in
            cold) t=$(ms_of build "$name" "$TMP/ctx-single" --no-cache -t bench:cold) ;;
            cached) build "$name" "$TMP/ctx-single" -t bench:cached
                t=$(ms_of build "$name" "$TMP/ctx-single" -t bench:cached) ;;
            stages) t=$(ms_of build "$name" "$TMP/ctx-stages" --no-cache -t bench:stages) ;;
            late) build "$name" "$TMP/ctx-single" -t bench:late
                echo "v$i-$RANDOM" >"$TMP/ctx-single/late.txt"
                t=$(ms_of build "$name" "$TMP/ctx-single" -t bench:late) ;;
        esac
        echo "$t" >>"$times"
    done
    sort -n "$times" | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

command -v "$DOCKER_CLI" >/dev/null || { log "docker CLI not found at $DOCKER_CLI"; exit 1; }
if want dockerd && ! command -v dockerd >/dev/null; then
    log "dockerd not installed; benchmarking berth only"
    ONLY=berth
fi
if want berth && [ "$BUILD" = 1 ]; then
    log "building berth (release)..."
    (cd "$REPO" && cargo build --release -p berth -q)
fi
mkdir -p "$TMP/config"
make_rootfs
make_contexts

SCENARIOS=(cold cached stages late)
declare -A MS
for name in berth dockerd; do
    want "$name" || continue
    log "== $name"
    start_daemon "$name"
    dk "$name" import --change 'CMD ["sh"]' "$TMP/rootfs.tar" busybox:latest >/dev/null
    for s in "${SCENARIOS[@]}"; do
        MS[$name.$s]="$(scenario "$name" "$s")"
        log "   $s: ${MS[$name.$s]} ms"
    done
done

printf '%-8s %10s %10s %8s\n' scenario berth dockerd ratio
for s in "${SCENARIOS[@]}"; do
    b="${MS[berth.$s]:-}"
    d="${MS[dockerd.$s]:-}"
    r="-"
    if [ -n "$b" ] && [ -n "$d" ] && [ "$d" != 0 ]; then r="$(awk -v b="$b" -v d="$d" 'BEGIN { printf "%.2f", b / d }')"; fi
    printf '%-8s %10s %10s %8s\n' "$s" "${b:--}" "${d:--}" "$r"
done
