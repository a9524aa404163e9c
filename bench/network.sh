#!/usr/bin/env bash
# Benchmark: networking, berth vs dockerd on one machine in one run.
#   - TCP throughput through a published port (iperf3, host -> container),
#     to 127.0.0.1 (dockerd: docker-proxy) and to the host's own address
#     (both: kernel DNAT);
#   - HTTP request rate through a published port (wrk -> busybox httpd);
#   - container-to-container round trip on a user network (ping) and TCP
#     throughput between two containers (iperf3).
# The daemons run one after the other (dockerd's FORWARD policy would
# otherwise drop berth's bridged traffic); the host's iptables state is
# saved first and restored on exit.
#
# Usage: bench/network.sh [--no-build] [-t SECONDS]
set -euo pipefail

SECS=5
BUILD=1
while [ $# -gt 0 ]; do
    case "$1" in
        --no-build) BUILD=0 ;;
        -t) SECS="$2"; shift ;;
        -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
    shift
done

. "$(dirname "$0")/lib.sh"
bench_init netbench

for tool in iperf3 wrk dockerd; do
    if ! command -v "$tool" >/dev/null; then
        log "installing $tool"
        pkg="$tool"; [ "$tool" = dockerd ] && pkg=docker.io
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$pkg" >/dev/null
    fi
done
iptables-save >"$TMP/iptables.before"

stop_daemon() { # name: its containers, networks, processes, mounts, bridges and rules
    set +e
    local name="$1"
    remove_containers "$name"
    if [ -S "$TMP/$name/daemon.sock" ]; then
        for n in $(dk "$name" network ls -q --filter type=custom 2>/dev/null); do
            dk "$name" network rm "$n" >/dev/null 2>&1
        done
    fi
    stop_pids
    kill_naming "$TMP/$name"
    sleep 0.3
    unmount_under "$TMP/$name"
    ip link del bnb0 2>/dev/null
    for l in $(ip -o link show | awk -F': ' '{ print $2 }' | cut -d@ -f1 | grep '^bnb-'); do
        ip link del "$l" 2>/dev/null
    done
    ip link del docker0 2>/dev/null
    nft delete table ip berth_netbench 2>/dev/null
    set -e
}

cleanup() {
    set +e
    stop_daemon berth
    stop_daemon dockerd
    iptables-restore <"$TMP/iptables.before"
    remove_cgroups
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# busybox plus iperf3 with the shared libraries it needs.
make_rootfs() {
    local root="$TMP/rootfs"
    mkdir -p "$root"/{bin,etc,tmp,www}
    chmod 1777 "$root/tmp"
    cp /bin/busybox "$root/bin/busybox"
    for a in sh echo cat ls sleep ping httpd wget seq timeout; do ln -s busybox "$root/bin/$a"; done
    cp "$(command -v iperf3)" "$root/bin/iperf3"
    for lib in $(ldd "$(command -v iperf3)" | grep -o '/[^ ]*'); do
        mkdir -p "$root$(dirname "$lib")"
        cp -L "$lib" "$root$lib"
    done
    printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/sh\n' >"$root/etc/passwd"
    printf 'root:x:0:\n' >"$root/etc/group"
    head -c 1024 /dev/zero | tr '\0' x >"$root/www/index.html"
    tar -C "$root" --numeric-owner --owner=0 --group=0 -cf "$TMP/rootfs.tar" .
}

start_daemon() {
    local name="$1" dir="$TMP/$1"
    mkdir -p "$dir"
    local args=(-H "unix://$dir/daemon.sock" --data-root "$dir/root" --exec-root "$dir/exec"
        --pidfile "$dir/pid" --cgroup-parent "$CGROUP_PARENT-$name")
    case "$name" in
        berth) "${BERTH_BIN:-${CARGO_TARGET_DIR:-$REPO/target}/release/berth}" daemon "${args[@]}" --bridge bnb0 \
            --bridge-prefix bnb- --nft-table berth_netbench >"$dir/log" 2>&1 </dev/null & ;;
        dockerd) dockerd "${args[@]}" >"$dir/log" 2>&1 </dev/null & ;;
    esac
    PIDS+=("$!")
    wait_ping "$dir/daemon.sock" "$!" && return 0
    log "$name did not start"
    tail -n 15 "$dir/log" >&2
    return 1
}

gbits() { python3 -c 'import json,sys; d=json.load(sys.stdin); print("%.2f" % (d["end"]["sum_received"]["bits_per_second"]/1e9))'; }

declare -A R
measure() {
    local name="$1" port="$2"
    start_daemon "$name"
    dk "$name" import "$TMP/rootfs.tar" nb:latest >/dev/null
    dk "$name" run -d --name srv -p "$port:5201" -p "$((port + 1)):80" nb:latest \
        sh -c 'httpd -p 80 -h /www; exec iperf3 -s' >/dev/null
    sleep 1
    local host_ip
    host_ip="$(ip -4 -o addr show scope global | awk '{ print $4 }' | cut -d/ -f1 | grep -v '^172\.' | head -1)"
    R[$name,lo]="$(iperf3 -c 127.0.0.1 -p "$port" -t "$SECS" -J | gbits)"
    R[$name,ext]="$(iperf3 -c "$host_ip" -p "$port" -t "$SECS" -J | gbits)"
    R[$name,rps]="$(wrk -t2 -c32 -d"${SECS}s" "http://127.0.0.1:$((port + 1))/" | awk '/Requests\/sec/ { printf "%.0f", $2 }')"
    dk "$name" network create benchnet >/dev/null
    dk "$name" run -d --name peer --network benchnet nb:latest iperf3 -s >/dev/null
    sleep 1
    R[$name,rtt]="$(dk "$name" run --rm --network benchnet nb:latest ping -c 50 -i 0.02 peer |
        awk -F/ '/min\/avg\/max/ { printf "%.3f", $4 }')"
    R[$name,c2c]="$(dk "$name" run --rm --network benchnet nb:latest iperf3 -c peer -t "$SECS" -J | gbits)"
    stop_daemon "$name"
}

if [ "$BUILD" = 1 ]; then
    log "building berth (release)..."
    (cd "$REPO" && cargo build --release -p berth -q)
fi
mkdir -p "$TMP/config"
make_rootfs
log "== berth";   measure berth 15201
log "== dockerd"; measure dockerd 25201

ratio() { python3 -c "import sys; a,b=float(sys.argv[1]),float(sys.argv[2]); print('%.2f' % (a/b) if b else 'nan')" "$1" "$2"; }
printf '\n%-44s %12s %12s %8s\n' "measure" "berth" "dockerd" "ratio"
printf '%-44s %12s %12s %8s\n' "iperf3 host->127.0.0.1:port (Gbit/s)" "${R[berth,lo]}" "${R[dockerd,lo]}" "$(ratio "${R[berth,lo]}" "${R[dockerd,lo]}")"
printf '%-44s %12s %12s %8s\n' "iperf3 host->host-ip:port (Gbit/s)" "${R[berth,ext]}" "${R[dockerd,ext]}" "$(ratio "${R[berth,ext]}" "${R[dockerd,ext]}")"
printf '%-44s %12s %12s %8s\n' "wrk 127.0.0.1:port, 1 KiB page (req/s)" "${R[berth,rps]}" "${R[dockerd,rps]}" "$(ratio "${R[berth,rps]}" "${R[dockerd,rps]}")"
printf '%-44s %12s %12s %8s\n' "ping container->container avg (ms)" "${R[berth,rtt]}" "${R[dockerd,rtt]}" "$(ratio "${R[berth,rtt]}" "${R[dockerd,rtt]}")"
printf '%-44s %12s %12s %8s\n' "iperf3 container->container (Gbit/s)" "${R[berth,c2c]}" "${R[dockerd,c2c]}" "$(ratio "${R[berth,c2c]}" "${R[dockerd,c2c]}")"
