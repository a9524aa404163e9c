#!/usr/bin/env bash
# Cluster networking figures on this machine, in one run, on three berth hosts in network
# namespaces of their own wired to a test switch (10.79.0.0/24):
#   - throughput (iperf3, 5 s) from a task on host 1 to a task on host 2 over an overlay
#     network, the same between containers on the hosts' own network (`--network host`)
#     straight over the test switch (the underlay: the issue's "same over the plain test
#     bridge"), and between the hosts' processes without containers, alternated
#     OVERLAY_ROUNDS times (default 3; the machine is noisy): medians, and the median of the
#     rounds' ratios overlay/containers (the target) and overlay/processes;
#   - requests per second (wrk, 10 s, 16 connections, from host 1) to a 3-task busybox httpd
#     service through the routing mesh (host 1's published port), straight to one of its
#     tasks, and through Debian's haproxy (round robin over the same three tasks);
#   - failover: host 3's daemon killed (-9) and its cable pulled; the time until requests
#     through the mesh succeed again without a failure for 2 s, and the requests that failed.
# Debian's dockerd cannot be the anchor here: its VIPs and routing mesh need IPVS, which this
# kernel lacks.
#
# Usage: bench/overlay.sh        (BERTH_BIN: default target/release/berth; OVERLAY_ROUNDS;
#   OVERLAY_RPS=MASK: receive packet steering on every host's underlay interface, so that
#   a receiving host's packets are processed on the CPUs MASK names rather than charged to the
#   sending CPU: separate machines would each have their own; the kernel's default is none)
set -euo pipefail
case "${1:-}" in -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;; esac
REPO="$(cd "$(dirname "$0")/.." && pwd)"
DAEMON="$REPO/scripts/docker-py/daemon.sh"
export BERTH_BIN="${BERTH_BIN:-$REPO/target/release/berth}"
export DAEMON_LOG_LEVEL=warn
for tool in iperf3 haproxy wrk; do
    command -v "$tool" >/dev/null || {
        echo "installing $tool" >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$tool" >/dev/null
    }
done
TMP="$(mktemp -d /tmp/bench-overlay.XXXX)"
TAG="bo$$"
HAPROXY_PID=""
cleanup() {
    set +e
    [ -n "$HAPROXY_PID" ] && kill "$HAPROXY_PID" 2>/dev/null
    for i in 1 2 3; do "$DAEMON" stop "$TMP/h$i" >/dev/null 2>&1; done
    for i in 1 2 3; do ip netns del "$TAG-h$i" 2>/dev/null; done
    ip netns del "$TAG-sw" 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT

in_host() { local i="$1"; shift; ip netns exec "$TAG-h$i" "$@"; }
d() { local i="$1"; shift; DOCKER_HOST="unix://$TMP/h$i/daemon.sock" docker "$@"; }

ip netns add "$TAG-sw"
ip -n "$TAG-sw" link add br0 type bridge
ip -n "$TAG-sw" link set br0 up
mkdir -p "$TMP/rootfs/bin"
cp "$(command -v busybox)" "$TMP/rootfs/bin/busybox"
for t in sh sleep httpd mkdir hostname chroot; do ln -s busybox "$TMP/rootfs/bin/$t"; done
tar -C "$TMP/rootfs" -cf "$TMP/bb.tar" .
for i in 1 2 3; do
    ip netns add "$TAG-h$i"
    ip link add "eth0" netns "$TAG-h$i" type veth peer name "p$i" netns "$TAG-sw"
    ip -n "$TAG-sw" link set "p$i" master br0 up
    ip -n "$TAG-h$i" addr add "10.79.0.$i/24" dev eth0
    ip -n "$TAG-h$i" link set eth0 up
    if [ -n "${OVERLAY_RPS:-}" ]; then
        ip netns exec "$TAG-h$i" sh -c "echo $OVERLAY_RPS > /sys/class/net/eth0/queues/rx-0/rps_cpus"
    fi
    DAEMON_NETNS="/run/netns/$TAG-h$i" "$DAEMON" start berth "$TMP/h$i" >/dev/null
    d "$i" import "$TMP/bb.tar" bb:1 >/dev/null
done
d 1 swarm init --advertise-addr 10.79.0.1 >/dev/null
TOKEN="$(d 1 swarm join-token -q worker)"
for i in 2 3; do d "$i" swarm join --advertise-addr "10.79.0.$i" --token "$TOKEN" 10.79.0.1:2377 >/dev/null; done
node_id() { d "$1" info --format '{{.Swarm.NodeID}}'; }
N1="$(node_id 1)"
N2="$(node_id 2)"

wait_running() { # service count
    local deadline=$(($(date +%s) + 120))
    until [ "$(d 1 service ps -q --filter desired-state=running --filter "name=$1" "$1" 2>/dev/null |
        while read -r t; do d 1 inspect --format '{{.Status.State}}' "$t"; done | grep -c running)" -ge "$2" ]; do
        [ "$(date +%s)" -lt "$deadline" ] || { echo "timed out waiting for $1" >&2; exit 1; }
        sleep 0.5
    done
}
container_of() { d "$1" ps -q --filter "label=com.docker.swarm.service.name=$2" | head -1; }

# ---- throughput: overlay vs the switch ----
d 1 network create -d overlay perf >/dev/null
# The host's iperf3, read-only, with a /tmp of its own (iperf3 writes a temp file).
HOSTFS=(--mount type=bind,source=/,target=/host,readonly --mount type=tmpfs,target=/host/tmp)
d 1 service create -d --name srv --network perf --constraint "node.id==$N2" "${HOSTFS[@]}" \
    bb:1 chroot /host iperf3 -s >/dev/null 2>&1
d 1 service create -d --name cli --network perf --constraint "node.id==$N1" "${HOSTFS[@]}" \
    bb:1 sleep 1d >/dev/null 2>&1
wait_running srv 1
wait_running cli 1
SRV_IP="$(d 2 inspect --format '{{(index .NetworkSettings.Networks "perf").IPAddress}}' "$(container_of 2 srv)")"
CLI="$(container_of 1 cli)"
# The same two containers' settings on the hosts' own network: only the path differs.
d 2 run -d --name hsrv --network host "${HOSTFS[@]}" bb:1 chroot /host iperf3 -s -p 5202 >/dev/null
d 1 run -d --name hcli --network host "${HOSTFS[@]}" bb:1 sleep 1d >/dev/null
gbps() {
    python3 -c '
import json, sys
r = json.load(sys.stdin)
if "error" in r:
    sys.exit("iperf3: " + r["error"])
print("%.2f" % (r["end"]["sum_received"]["bits_per_second"] / 1e9))'
}
median() { python3 -c 'import statistics, sys; print("%.2f" % statistics.median(map(float, sys.argv[1:])))' "$@"; }
sleep 1
OVERLAYS=()
CPLAINS=()
PLAINS=()
RATIOS=()
PRATIOS=()
for _ in $(seq "${OVERLAY_ROUNDS:-3}"); do
    o="$(d 1 exec "$CLI" chroot /host iperf3 -c "$SRV_IP" -t 5 -J | gbps)"
    c="$(d 1 exec hcli chroot /host iperf3 -c 10.79.0.2 -p 5202 -t 5 -J | gbps)"
    in_host 2 iperf3 -s -D -1 >/dev/null
    sleep 0.5
    p="$(in_host 1 iperf3 -c 10.79.0.2 -t 5 -J | gbps)"
    OVERLAYS+=("$o")
    CPLAINS+=("$c")
    PLAINS+=("$p")
    RATIOS+=("$(python3 -c "print('%.2f' % ($o / $c))")")
    PRATIOS+=("$(python3 -c "print('%.2f' % ($o / $p))")")
done
OVERLAY="$(median "${OVERLAYS[@]}")"
CPLAIN="$(median "${CPLAINS[@]}")"
PLAIN="$(median "${PLAINS[@]}")"
RATIO="$(median "${RATIOS[@]}")"
PRATIO="$(median "${PRATIOS[@]}")"
d 1 service rm srv cli >/dev/null
d 1 rm -f hcli >/dev/null
d 2 rm -f hsrv >/dev/null

# ---- requests per second: mesh, one task, haproxy ----
d 1 service create -d --name web --replicas 3 -p 8080:80 bb:1 \
    sh -c 'mkdir /www && hostname > /www/index.html && exec httpd -f -p 80 -h /www' >/dev/null 2>&1
wait_running web 3
TASK_IPS=()
for i in 1 2 3; do
    for c in $(d "$i" ps -q --filter label=com.docker.swarm.service.name=web); do
        TASK_IPS+=("$(d "$i" inspect --format '{{(index .NetworkSettings.Networks "ingress").IPAddress}}' "$c")")
    done
done
rps() { in_host 1 wrk -t2 -c16 -d10s "$1" | awk '/Requests\/sec/ {print $2}'; }
sleep 2
MESH="$(rps http://10.79.0.1:8080/)"
ONE="$(rps "http://${TASK_IPS[0]}:80/")"
{
    printf 'global\n  maxconn 4096\ndefaults\n  mode http\n  timeout connect 5s\n  timeout client 30s\n  timeout server 30s\n'
    printf 'frontend f\n  bind 10.79.0.1:9090\n  default_backend b\nbackend b\n  balance roundrobin\n'
    n=0
    for ip in "${TASK_IPS[@]}"; do n=$((n + 1)); printf '  server t%d %s:80\n' "$n" "$ip"; done
} >"$TMP/haproxy.cfg"
# Not through in_host: a backgrounded function is a subshell, and killing
# it left haproxy running after the bench. `ip netns exec` execs haproxy
# (-db: in the foreground), so $! is haproxy itself.
ip netns exec "$TAG-h1" haproxy -q -db -f "$TMP/haproxy.cfg" &
HAPROXY_PID=$!
sleep 1
HAPROXY="$(rps http://10.79.0.1:9090/)"

# ---- failover ----
pid3="$(cat "$TMP/h3/daemon.pid")"
t0="$(date +%s.%N)"
kill -KILL "$pid3"
ip -n "$TAG-sw" link set p3 down
failed=0
ok_since=""
while :; do
    now="$(date +%s.%N)"
    if in_host 2 curl -sf --max-time 1 -o /dev/null http://10.79.0.1:8080/; then
        [ -n "$ok_since" ] || ok_since="$now"
        python3 -c "import sys; sys.exit(0 if $now - $ok_since >= 2 else 1)" && break
    else
        failed=$((failed + 1))
        ok_since=""
    fi
    python3 -c "import sys; sys.exit(0 if $now - $t0 < 60 else 1)" || { echo "no recovery in 60 s" >&2; break; }
    sleep 0.05
done
FAILOVER="$(python3 -c "print('%.1f' % ($ok_since - $t0))")"

ratio() { python3 -c "print('%.2f' % ($1 / $2))"; }
echo "overlay iperf3 task->task across hosts, median: ${OVERLAY} Gbit/s; the same containers' settings on the hosts' network, over the switch: ${CPLAIN} Gbit/s; overlay/plain per round ${RATIOS[*]}, median ${RATIO}x (target >= 0.9)"
echo "  host processes (no container) over the switch: ${PLAIN} Gbit/s; overlay/that per round ${PRATIOS[*]}, median ${PRATIO}x"
echo "  rounds: overlay ${OVERLAYS[*]}; containers over the switch ${CPLAINS[*]}; processes over the switch ${PLAINS[*]}"
echo "wrk req/s: mesh (3 tasks) ${MESH}; one task straight ${ONE}; haproxy (3 tasks) ${HAPROXY}"
echo "  mesh/one $(ratio "$MESH" "$ONE")x (target >= 0.9); mesh/haproxy $(ratio "$MESH" "$HAPROXY")x (target >= 1.5)"
echo "failover: requests through the mesh steady again ${FAILOVER} s after a host running a task died (${failed} failed requests; target <= 5 s)"
