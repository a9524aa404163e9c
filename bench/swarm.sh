#!/usr/bin/env bash
# Swarm figures, berth vs dockerd's single-node swarm, on this machine in one run:
#   - `service create --replicas N` until N tasks run (polled through the API, so the
#     CLI's own 5 s "verify" wait is not counted for either daemon);
#   - `service update --image` rolling over the N tasks with --update-parallelism P
#     until every running task has the new image;
#   - the daemon's RSS (and its etcd member's, for berth) with the N tasks running;
#   - the scheduler's placement rate (the cluster crate's example, release build);
#   - the control plane at scale against a real etcd: 1,000 simulated nodes and a
#     50,000-task service placed by the leader loop, then reported running by simulated
#     agents (the swarm crate's sim_cluster example): tasks/s, etcd writes/s, RSS.
# The failover figure (a host killed and cut off, its tasks running elsewhere) comes
# from the 3-host e2e test `e2e_swarm_nodes`, which prints it.
#
# Usage: bench/swarm.sh [-n REPLICAS] [-p PARALLELISM] [--only berth|dockerd]
# Daemons run through scripts/docker-py/daemon.sh (own roots, netns, cgroup parent) and
# are stopped on exit. BERTH_BIN picks the berth binary (default target/release/berth).
set -euo pipefail
N=50
P=10
ONLY=""
while [ $# -gt 0 ]; do
    case "$1" in
        -n) N="$2"; shift ;;
        -p) P="$2"; shift ;;
        --only) ONLY="$2"; shift ;;
        *) echo "unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done
REPO="$(cd "$(dirname "$0")/.." && pwd)"
DAEMON="$REPO/scripts/docker-py/daemon.sh"
export BERTH_BIN="${BERTH_BIN:-$REPO/target/release/berth}"
TMP="$(mktemp -d /tmp/bench-swarm.XXXX)"
DIRS=()
cleanup() {
    for d in "${DIRS[@]}"; do "$DAEMON" stop "$d" >/dev/null 2>&1 || true; done
    rm -rf "$TMP"
}
trap cleanup EXIT

# A static busybox image, as the other benches use.
mkdir -p "$TMP/rootfs/bin"
cp "$(command -v busybox)" "$TMP/rootfs/bin/busybox"
ln -s busybox "$TMP/rootfs/bin/top"
tar -C "$TMP/rootfs" -cf "$TMP/bb.tar" .

now() { date +%s.%N; }

# running_with IMAGE: tasks running with IMAGE and desired running.
running_with() {
    curl -s --unix-socket "$SOCK" 'http://d/v1.41/tasks?filters=%7B%22service%22%3A%5B%22bench%22%5D%7D' |
        python3 -c '
import json, sys
img = sys.argv[1]
n = sum(1 for t in json.load(sys.stdin)
        if t["Status"]["State"] == "running" and t["DesiredState"] == "running"
        and t["Spec"]["ContainerSpec"]["Image"].split("@")[0] == img)
print(n)' "$1"
}

wait_running() { # image count
    local deadline=$(($(date +%s) + 600))
    until [ "$(running_with "$1")" -ge "$2" ]; do
        [ "$(date +%s)" -lt "$deadline" ] || { echo "timed out waiting for $2 x $1" >&2; return 1; }
        sleep 0.2
    done
}

run() { # kind
    local kind="$1" dir="$TMP/$1"
    DIRS+=("$dir")
    local host
    host="$("$DAEMON" start "$kind" "$dir")"
    SOCK="$dir/daemon.sock"
    export DOCKER_HOST="$host"
    docker import "$TMP/bb.tar" bb:1 >/dev/null
    docker tag bb:1 bb:2
    docker swarm init --advertise-addr 127.0.0.1 >/dev/null
    local t0 t1 t2
    t0=$(now)
    docker service create -d --name bench --replicas "$N" bb:1 top >/dev/null 2>&1
    wait_running bb:1 "$N"
    t1=$(now)
    docker service update -d --image bb:2 --update-parallelism "$P" --update-delay 0s bench >/dev/null 2>&1
    wait_running bb:2 "$N"
    t2=$(now)
    local rss etcd_pid
    rss=$(awk '/VmRSS/ {print int($2/1024)}' "/proc/$(cat "$dir/daemon.pid")/status")
    etcd_pid=$(pgrep -f "etcd.*$dir" | head -1 || true)
    if [ -n "$etcd_pid" ]; then
        rss="$rss MB (its etcd member $(awk '/VmRSS/ {print int($2/1024)}' "/proc/$etcd_pid/status") MB)"
    else
        rss="$rss MB"
    fi
    RSS[$kind]="$rss"
    CREATE[$kind]=$(echo "$t1 - $t0" | bc)
    UPDATE[$kind]=$(echo "$t2 - $t1" | bc)
    printf '%-8s create %d replicas: %6.2f s   rolling update (parallelism %d): %6.2f s   RSS with %d tasks: %s\n' \
        "$kind" "$N" "${CREATE[$kind]}" "$P" "${UPDATE[$kind]}" "$N" "${RSS[$kind]}"
    docker service rm bench >/dev/null
    "$DAEMON" stop "$dir" >/dev/null 2>&1 || true
}

declare -A CREATE UPDATE RSS
[ "$ONLY" = dockerd ] || run berth
[ "$ONLY" = berth ] || run dockerd
if [ -z "$ONLY" ]; then
    printf 'ratio berth/dockerd: create %.2fx   update %.2fx\n' \
        "$(echo "${CREATE[berth]} / ${CREATE[dockerd]}" | bc -l)" \
        "$(echo "${UPDATE[berth]} / ${UPDATE[dockerd]}" | bc -l)"
fi
echo "scheduler:"
(cd "$REPO" && cargo run -q --release -p cluster --example schedule_rate 2>/dev/null | tail -3)
echo "control plane with simulated nodes (real etcd):"
(cd "$REPO" && cargo run -q --release -p swarm --example sim_cluster -- 1000 50000 2>/dev/null | tail -3)
