#!/usr/bin/env bash
# Benchmark: berth's HTTP router (--router-addr) against Debian's nginx and
# haproxy as reverse proxies for the same route (Host: bench.test) to the same
# busybox httpd containers on berth's bridge (round robin):
#   - throughput (wrk requests/s) and p99 latency, keep-alive from the client,
#     for a 1 KiB and a 100 KiB response;
#   - each proxy's CPU time (user + system, its threads and worker
#     processes) per request: the steadier figure of its own cost, as wrk
#     and the backends share the two cores with it;
#   - ratios berth/nginx and berth/haproxy (throughput: > 1 is better for berth;
#     p99 and CPU: < 1 is better for berth).
# busybox httpd closes each connection, so every proxy opens one backend
# connection per request: the same cost for all three, and the backends'
# fork per connection weighs on the figures. `--backend nginx` serves the
# same files from Debian's nginx in the containers (the host's binary and
# its libraries), with keep-alive: then each proxy's own cost shows. berth writes an access
# log line per request (its daemon log), nginx too (a file); haproxy logs nothing.
# Goal (issue 18): berth >= 1.0x nginx.
#
# The machine is noisy (one proxy's figure swings by 10-20% from run to
# run), so the three proxies are measured in turn, ROUNDS times: the table
# gives medians, and ratios are the medians of each round's ratios.
#
# Usage: bench/router.sh [--no-build] [--seconds S] [--rounds R] [--connections C]
#                        [--backends N] [--backend busybox|nginx]
#   --seconds S      wrk duration per measure (default 10)
#   --rounds R       measures of each proxy, in turn (default 3)
#   --connections C  wrk connections (default 64; 2 threads)
#   --backends N     httpd containers behind the route (default 2)
# Needs wrk, nginx, haproxy, curl (scripts/deps.sh). Everything runs on
# loopback and berth's own bridge under one temp dir, removed on exit.
set -euo pipefail

BUILD=1
SECS=10
ROUNDS=3
CONNS=64
BACKENDS=2
BACKEND=busybox
while [ $# -gt 0 ]; do
    case "$1" in
        --no-build) BUILD=0 ;;
        --seconds) SECS="$2"; shift ;;
        --rounds) ROUNDS="$2"; shift ;;
        --connections) CONNS="$2"; shift ;;
        --backends) BACKENDS="$2"; shift ;;
        --backend) BACKEND="$2"; shift ;;
        -h|--help) sed -n '2,32p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
    shift
done

. "$(dirname "$0")/lib.sh"
bench_init router
BERTH="${BERTH_BIN:-$REPO/target/release/berth}"
BRIDGE="br$UNIQUE"
NFT_TABLE="berth_br$UNIQUE"
trap cleanup_with_bridge EXIT
trap 'exit 130' INT TERM

need_tools curl wrk nginx haproxy "$DOCKER_CLI"
build_release "$BUILD"
busybox_rootfs sh httpd mkdir head tr
if [ "$BACKEND" = nginx ]; then
    # The host's nginx and the libraries it links, into the same rootfs.
    root="$TMP/rootfs"
    mkdir -p "$root/usr/sbin" "$root/etc"
    cp /usr/sbin/nginx "$root/usr/sbin/nginx"
    for lib in $(ldd /usr/sbin/nginx | grep -o '/[^ ]*'); do
        mkdir -p "$root$(dirname "$lib")"
        cp -L "$lib" "$root$lib"
    done
    printf 'root:x:0:\n' >"$root/etc/group"
    cat >"$root/etc/nginx.conf" <<'CONF'
user root;
worker_processes 1;
daemon off;
pid /tmp/nginx.pid;
error_log stderr;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 1000000;
    client_body_temp_path /tmp/body;
    proxy_temp_path /tmp/proxy;
    fastcgi_temp_path /tmp/fastcgi;
    uwsgi_temp_path /tmp/uwsgi;
    scgi_temp_path /tmp/scgi;
    server { listen 80; root /www; }
}
CONF
    tar -C "$root" --numeric-owner --owner=0 --group=0 -cf "$TMP/rootfs.tar" .
    SERVE='exec nginx -c /etc/nginx.conf'
else
    SERVE='exec httpd -f -p 80 -h /www'
fi

ROUTER_PORT="$(free_port)"
NGINX_PORT="$(free_port)"
HAPROXY_PORT="$(free_port)"
dir="$TMP/berth"
mkdir -p "$dir"
"$BERTH" daemon -H "unix://$dir/daemon.sock" --data-root "$dir/root" --exec-root "$dir/exec" \
    --pidfile "$dir/pid" --cgroup-parent "$CGROUP_PARENT-berth" \
    --bridge "$BRIDGE" --bridge-prefix "br${UNIQUE:0:4}-" --nft-table "$NFT_TABLE" \
    --default-address-pool base=10.252.0.0/16,size=24 \
    --router-addr "127.0.0.1:$ROUTER_PORT" >"$dir/log" 2>&1 </dev/null &
PIDS+=("$!")
BERTH_PID="$!"
wait_ping "$dir/daemon.sock" "$!" || { log "berth did not start"; tail -n 15 "$dir/log" >&2; exit 1; }
dk berth import "$TMP/rootfs.tar" bench-httpd:0 >/dev/null

IPS=()
for i in $(seq "$BACKENDS"); do
    dk berth run -d --name "web$i" --label berth.http.host=bench.test --label berth.http.port=80 \
        bench-httpd:0 sh -c 'mkdir -p /www && head -c 1024 /dev/zero | tr "\0" a >/www/1k &&
            head -c 102400 /dev/zero | tr "\0" b >/www/100k && '"$SERVE" >/dev/null
    IPS+=("$(dk berth inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "web$i")")
done
log "backends: ${IPS[*]}"

# nginx: the same route, keep-alive to clients, HTTP/1.1 to backends.
servers=""
for ip in "${IPS[@]}"; do servers+="        server $ip:80;"$'\n'; done
cat >"$TMP/nginx.conf" <<EOF
worker_processes 2;
pid $TMP/nginx.pid;
error_log $TMP/nginx-error.log;
events { worker_connections 4096; }
http {
    access_log $TMP/nginx-access.log;
    upstream bench { 
$servers        keepalive 64;
    }
    server {
        listen 127.0.0.1:$NGINX_PORT;
        server_name bench.test;
        location / {
            proxy_pass http://bench;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host \$host;
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
        }
    }
}
EOF
nginx -c "$TMP/nginx.conf" -g 'daemon off;' >"$TMP/nginx.out" 2>&1 &
PIDS+=("$!")
NGINX_PID="$!"

hservers=""
n=0
for ip in "${IPS[@]}"; do n=$((n + 1)); hservers+="    server web$n $ip:80"$'\n'; done
cat >"$TMP/haproxy.cfg" <<EOF
global
    nbthread 2
    maxconn 4096
defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
    option forwardfor
frontend bench
    bind 127.0.0.1:$HAPROXY_PORT
    default_backend web
backend web
    balance roundrobin
    http-reuse always
$hservers
EOF
haproxy -f "$TMP/haproxy.cfg" -db >"$TMP/haproxy.out" 2>&1 &
PIDS+=("$!")
HAPROXY_PID="$!"

for port in "$ROUTER_PORT" "$NGINX_PORT" "$HAPROXY_PORT"; do
    for _ in $(seq 100); do
        [ "$(curl -s -o /dev/null -w '%{http_code}' -H 'Host: bench.test' "http://127.0.0.1:$port/1k")" = 200 ] && break
        sleep 0.1
    done
    [ "$(curl -s -o /dev/null -w '%{http_code}' -H 'Host: bench.test' "http://127.0.0.1:$port/1k")" = 200 ] ||
        { log "nothing answers on $port"; exit 1; }
done

# CPU time (user + system, clock ticks) of a process and its children
# (nginx's workers); the proxies' cost per request is the steadier figure on
# a machine whose two cores wrk and the backends share with the proxy.
ticks() {
    local pid t=0
    for pid in "$1" $(pgrep -P "$1" || true); do
        t=$((t + $(awk '{ print $14 + $15 }' "/proc/$pid/stat" 2>/dev/null || echo 0)))
    done
    echo "$t"
}
declare -A R
declare -A PID=([berth]="$BERTH_PID" [nginx]="$NGINX_PID" [haproxy]="$HAPROXY_PID")
HZ="$(getconf CLK_TCK)"
measure() { # name port path: appends this round's figures to R[name,path,*]
    local out t0 t1 rps n cpu p99 err
    t0="$(ticks "${PID[$1]}")"
    out="$(wrk -t2 -c"$CONNS" -d"${SECS}s" --latency -H 'Host: bench.test' "http://127.0.0.1:$2$3")"
    t1="$(ticks "${PID[$1]}")"
    rps="$(awk '/Requests\/sec/ { printf "%.0f", $2 }' <<<"$out")"
    n="$(awk '/requests in/ { print $1 }' <<<"$out")"
    # CPU microseconds per request.
    cpu="$(python3 -c "import sys; t,n,hz=map(float,sys.argv[1:]); print('%.1f' % (t*1e6/hz/n) if n else 'nan')" \
        "$((t1 - t0))" "$n" "$HZ")"
    # wrk prints p99 as e.g. 12.34ms, 850.00us or 1.20s: in ms.
    p99="$(awk '$1 == "99%" { v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v);
        f = (u == "us") ? 0.001 : (u == "s") ? 1000 : 1; printf "%.2f", v * f }' <<<"$out")"
    err="$(awk '/Non-2xx|Socket errors/ { print }' <<<"$out" | tr '\n' ' ')"
    R[$1,$3,rps]+=" $rps"
    R[$1,$3,cpu]+=" $cpu"
    R[$1,$3,p99]+=" $p99"
    log "$1 $3: $rps req/s, p99 $p99 ms, $cpu CPU us/request $err"
}
for round in $(seq "$ROUNDS"); do
    log "round $round of $ROUNDS"
    for path in /1k /100k; do
        measure berth "$ROUTER_PORT" "$path"
        measure nginx "$NGINX_PORT" "$path"
        measure haproxy "$HAPROXY_PORT" "$path"
    done
done

# median VALUES... / ratio "A1 A2 .." "B1 B2 ..": the median of the rounds' A/B.
median() { python3 -c 'import statistics, sys; v = [float(x) for x in sys.argv[1:]]; print(("%.0f" if statistics.median(v) >= 1000 else "%.2f") % statistics.median(v))' "$@"; }
ratio() { python3 -c '
import statistics, sys
a, b = ([float(x) for x in s.split()] for s in sys.argv[1:])
r = [x / y for x, y in zip(a, b) if y]
print("%.2f" % statistics.median(r) if r else "nan")' "$1" "$2"; }
printf '\nwrk -t2 -c%s -d%ss, keep-alive, Host: bench.test, %s %s backends; medians of %s rounds\n' \
    "$CONNS" "$SECS" "$BACKENDS" "$BACKEND" "$ROUNDS"
printf '%-22s %10s %10s %10s %10s %10s\n' "measure" "berth" "nginx" "haproxy" "b/nginx" "b/haproxy"
for path in /1k /100k; do
    name="${path#/}"
    for m in "rps:req/s" "p99:p99 (ms)" "cpu:CPU us/req"; do
        key="${m%%:*}"
        # shellcheck disable=SC2086 # the rounds' figures, one argument each
        printf '%-22s %10s %10s %10s %10s %10s\n' "$name ${m#*:}" "$(median ${R[berth,$path,$key]})" \
            "$(median ${R[nginx,$path,$key]})" "$(median ${R[haproxy,$path,$key]})" \
            "$(ratio "${R[berth,$path,$key]}" "${R[nginx,$path,$key]}")" \
            "$(ratio "${R[berth,$path,$key]}" "${R[haproxy,$path,$key]}")"
    done
    printf '%-22s %s\n' "$name berth/nginx" "req/s per round:$(python3 -c '
import sys
a, b = ([float(x) for x in s.split()] for s in sys.argv[1:])
print("".join(" %.2f" % (x / y) for x, y in zip(a, b) if y))' "${R[berth,$path,rps]}" "${R[nginx,$path,rps]}")"
done
