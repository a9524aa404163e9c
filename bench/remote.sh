#!/usr/bin/env bash
# Benchmark: the remote API's throughput. A 100 MB `docker cp` (both ways) and
# `docker logs` of a container that wrote ~100 MB, through the docker CLI:
# berth over its unix socket, berth over TCP+TLS (--tlsverify, client
# certificates), dockerd over TCP+TLS with the same certificates. One machine,
# one run, medians of --runs.
#
# Usage: bench/remote.sh [--no-build] [--runs N] [--mb MB]
#   --no-build   use an existing target/release/berth (or $BERTH_BIN)
#   --runs N     runs per measurement (default 5; the median is printed)
#   --mb MB      size of the copied file and of the log (default 100)
# Needs dockerd, openssl, curl (scripts/deps.sh installs them). Everything runs
# on loopback under one temp dir, removed on exit.
# Targets (issue 20): berth TLS >= 0.8x berth unix; berth TLS >= 1.5x dockerd TLS.
set -euo pipefail

BUILD=1
RUNS=5
MB=100
while [ $# -gt 0 ]; do
    case "$1" in
        --no-build) BUILD=0 ;;
        --runs) RUNS="$2"; shift ;;
        --mb) MB="$2"; shift ;;
        -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
    shift
done

. "$(dirname "$0")/lib.sh"
bench_init remotebench
BERTH="${BERTH_BIN:-${CARGO_TARGET_DIR:-$REPO/target}/release/berth}"
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

need_tools dockerd openssl curl python3 "$DOCKER_CLI"
build_release "$BUILD"

# ---- certificates: one CA, the daemons' certificate (127.0.0.1), a client's --------
PKI="$TMP/pki"
mkdir -p "$PKI"
(
    cd "$PKI"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
        -subj /CN=bench-ca -keyout ca-key.pem -out ca.pem 2>/dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=daemon \
        -keyout server-key.pem -out server.csr 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >server.ext
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 2 \
        -extfile server.ext -out server-cert.pem 2>/dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=client \
        -keyout key.pem -out client.csr 2>/dev/null
    printf 'extendedKeyUsage=clientAuth\n' >client.ext
    openssl x509 -req -in client.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 2 \
        -extfile client.ext -out cert.pem 2>/dev/null
)

make_rootfs() {
    local root="$TMP/rootfs"
    mkdir -p "$root"/{bin,etc,tmp,proc,sys,dev,root}
    chmod 1777 "$root/tmp"
    cp /bin/busybox "$root/bin/busybox"
    for a in sh cat yes head sleep true; do ln -s busybox "$root/bin/$a"; done
    printf 'root:x:0:0:root:/root:/bin/sh\n' >"$root/etc/passwd"
    tar -C "$root" --numeric-owner --owner=0 --group=0 -cf "$TMP/rootfs.tar" .
}
make_rootfs

declare -A PORT
start_daemon() { # name
    local name="$1" dir="$TMP/$1"
    mkdir -p "$dir"
    PORT[$name]="$(free_port)"
    local args=(-H "unix://$dir/daemon.sock" -H "tcp://127.0.0.1:${PORT[$name]}"
        --tlsverify --tlscacert "$PKI/ca.pem" --tlscert "$PKI/server-cert.pem"
        --tlskey "$PKI/server-key.pem"
        --data-root "$dir/root" --exec-root "$dir/exec" --pidfile "$dir/pid"
        --cgroup-parent "$CGROUP_PARENT-$name")
    case "$name" in
        berth) "$BERTH" daemon "${args[@]}" --bridge none >"$dir/log" 2>&1 </dev/null & ;;
        dockerd) dockerd "${args[@]}" --bridge=none --iptables=false --ip6tables=false \
            >"$dir/log" 2>&1 </dev/null & ;;
    esac
    local pid=$!
    PIDS+=("$pid")
    wait_ping "$dir/daemon.sock" "$pid" && return 0
    log "$name did not start"; tail -n 15 "$dir/log" >&2
    return 1
}

# One API request with curl against daemon NAME over TRANSPORT; prints seconds.
curlt() { # name transport path curl-args...
    local name="$1" transport="$2" path="$3"
    shift 3
    if [ "$transport" = tls ]; then
        curl -sf -o /dev/null -w '%{time_total}\n' --cacert "$PKI/ca.pem" --cert "$PKI/cert.pem" \
            --key "$PKI/key.pem" "$@" "https://127.0.0.1:${PORT[$name]}$path"
    else
        curl -sf -o /dev/null -w '%{time_total}\n' --unix-socket "$TMP/$name/daemon.sock" "$@" \
            "http://d$path"
    fi
}

# The docker CLI against daemon NAME over TRANSPORT (unix or tls).
dkt() { # name transport docker-args...
    local name="$1" transport="$2"
    shift 2
    if [ "$transport" = tls ]; then
        DOCKER_HOST="tcp://127.0.0.1:${PORT[$name]}" DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH="$PKI" \
            DOCKER_CONFIG="$TMP/config" "$DOCKER_CLI" "$@"
    else
        dk "$name" "$@"
    fi
}

now_ns() { date +%s%N; }
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
# MB/s of MB bytes moved in the given nanoseconds.
mbps() { awk -v ns="$1" -v mb="$MB" 'BEGIN { printf "%.0f\n", mb / (ns / 1e9) }'; }

head -c "$((MB * 1000000))" /dev/urandom >"$TMP/payload"
tar -C "$TMP" -cf "$TMP/payload.tar" payload
# One log line is 100 bytes with its newline.
LINES=$((MB * 10000))
LINE="$(printf '%099d' 0)"

declare -A CP_IN CP_OUT LOGS PUT GET
for name in berth dockerd; do
    log "== $name: starting with a TLS port"
    start_daemon "$name"
    dk "$name" import --change 'CMD ["sh"]' "$TMP/rootfs.tar" bench:0 >/dev/null
    dk "$name" create --name cpbox bench:0 sleep 1000 >/dev/null
    dk "$name" run --name logbox bench:0 sh -c "yes $LINE | head -n $LINES" >/dev/null
    transports=(tls)
    [ "$name" = berth ] && transports=(unix tls)
    for tr in "${transports[@]}"; do
        log "== $name over $tr: cp in, cp out, logs ($RUNS runs each)"
        ins=() outs=() logs=() puts=() gets=()
        for _ in $(seq "$RUNS"); do
            t0=$(now_ns); dkt "$name" "$tr" cp "$TMP/payload" cpbox:/payload; t1=$(now_ns)
            ins+=($((t1 - t0)))
            rm -f "$TMP/back"
            t0=$(now_ns); dkt "$name" "$tr" cp cpbox:/payload "$TMP/back"; t1=$(now_ns)
            outs+=($((t1 - t0)))
            cmp -s "$TMP/payload" "$TMP/back" || { log "cp out: content differs"; exit 1; }
            t0=$(now_ns); n=$(dkt "$name" "$tr" logs logbox | wc -l); t1=$(now_ns)
            [ "$n" = "$LINES" ] || { log "logs: $n lines, expected $LINES"; exit 1; }
            logs+=($((t1 - t0)))
            # The daemon's side alone, without the CLI's start-up, stat calls and tar.
            s=$(curlt "$name" "$tr" "/v1.41/containers/cpbox/archive?path=/" \
                -T "$TMP/payload.tar" -X PUT)
            puts+=("$(awk -v s="$s" 'BEGIN { printf "%.0f", s * 1e9 }')")
            s=$(curlt "$name" "$tr" "/v1.41/containers/cpbox/archive?path=/payload")
            gets+=("$(awk -v s="$s" 'BEGIN { printf "%.0f", s * 1e9 }')")
        done
        CP_IN[$name-$tr]="$(mbps "$(printf '%s\n' "${ins[@]}" | median)")"
        CP_OUT[$name-$tr]="$(mbps "$(printf '%s\n' "${outs[@]}" | median)")"
        LOGS[$name-$tr]="$(mbps "$(printf '%s\n' "${logs[@]}" | median)")"
        PUT[$name-$tr]="$(mbps "$(printf '%s\n' "${puts[@]}" | median)")"
        GET[$name-$tr]="$(mbps "$(printf '%s\n' "${gets[@]}" | median)")"
    done
    remove_containers "$name"
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2fx", a / b; else print "n/a" }'; }
row() { # label array-name
    local -n m="$2"
    printf '%-28s %10s %10s %12s %12s %14s\n' "$1" "${m[berth-unix]}" "${m[berth-tls]}" \
        "${m[dockerd-tls]}" "$(ratio "${m[berth-tls]}" "${m[berth-unix]}")" \
        "$(ratio "${m[berth-tls]}" "${m[dockerd-tls]}")"
}
printf '\n%-28s %10s %10s %12s %12s %14s\n' "MB/s (median of $RUNS)" "berth unix" "berth tls" \
    "dockerd tls" "tls/unix" "berth/dockerd"
row "cp ${MB} MB into container" CP_IN
row "cp ${MB} MB out of container" CP_OUT
row "logs ${MB} MB" LOGS
row "archive PUT ${MB} MB (curl)" PUT
row "archive GET ${MB} MB (curl)" GET
echo "(targets: tls/unix >= 0.8x, berth/dockerd over TLS >= 1.5x)"
