#!/usr/bin/env bash
# Benchmark: log throughput per driver. A container writes LINES lines of 100
# bytes as fast as it can (busybox `yes | head`), then sleeps; the time from
# start to the last line logged, and the CPU the daemon and the container's
# shim spent, for berth and for Debian's dockerd with the same driver and
# options. Remote drivers deliver to a discard server on loopback (udp and tcp
# for syslog, tcp for fluentd's forward protocol). One machine, one run,
# medians of --runs.
#
# Usage: bench/logs.sh [--no-build] [--runs N] [--lines N] [--drivers "json-file syslog ..."]
#   --no-build   use an existing target/release/berth (or $BERTH_BIN)
#   --runs N     runs per measurement (default 3; the median is printed)
#   --lines N    lines written per run (default 500000, ~50 MB)
#   --drivers    default "json-file json-file-rotated local syslog-udp syslog-tcp fluentd"
# Needs dockerd, curl, python3 (scripts/deps.sh). Everything runs under one temp
# dir, removed on exit. A driver berth refuses (not implemented) is reported so.
# Target (issue 15): berth >= 1.5x dockerd's lines/s per driver.
set -euo pipefail

BUILD=1
RUNS=3
LINES=500000
DRIVERS="json-file json-file-rotated local syslog-udp syslog-tcp fluentd"
while [ $# -gt 0 ]; do
    case "$1" in
        --no-build) BUILD=0 ;;
        --runs) RUNS="$2"; shift ;;
        --lines) LINES="$2"; shift ;;
        --drivers) DRIVERS="$2"; shift ;;
        -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
    shift
done

. "$(dirname "$0")/lib.sh"
bench_init logbench
BERTH="${BERTH_BIN:-${CARGO_TARGET_DIR:-$REPO/target}/release/berth}"
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

need_tools dockerd curl python3 "$DOCKER_CLI"
build_release "$BUILD"

busybox_rootfs sh yes head sleep true

# A server that takes whatever is sent on a udp and a tcp port and drops it.
SINK_UDP="$(free_port)"
SINK_TCP="$(free_port)"
python3 - "$SINK_UDP" "$SINK_TCP" >/dev/null 2>&1 <<'EOF' &
import socket, sys, threading
udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
udp.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
udp.bind(("127.0.0.1", int(sys.argv[1])))
tcp = socket.socket()
tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
tcp.bind(("127.0.0.1", int(sys.argv[2])))
tcp.listen(64)
def drain(c):
    while c.recv(1 << 20):
        pass
def accept():
    while True:
        c, _ = tcp.accept()
        threading.Thread(target=drain, args=(c,), daemon=True).start()
threading.Thread(target=accept, daemon=True).start()
while True:
    udp.recv(1 << 16)
EOF
PIDS+=("$!")

start_daemon() { # name (berth or dockerd)
    start_bench_daemon "$1" "$1" && DAEMON_PID[$1]=$LAST_PID
}

declare -A DAEMON_PID
start_daemon berth
start_daemon dockerd
for d in berth dockerd; do dk "$d" import "$TMP/rootfs.tar" logbench:latest >/dev/null; done

driver_args() { # driver -> docker run options
    case "$1" in
        json-file) echo "--log-driver json-file" ;;
        json-file-rotated) echo "--log-driver json-file --log-opt max-size=10m --log-opt max-file=3" ;;
        local) echo "--log-driver local" ;;
        syslog-udp) echo "--log-driver syslog --log-opt syslog-address=udp://127.0.0.1:$SINK_UDP" ;;
        syslog-tcp) echo "--log-driver syslog --log-opt syslog-address=tcp://127.0.0.1:$SINK_TCP" ;;
        fluentd) echo "--log-driver fluentd --log-opt fluentd-address=127.0.0.1:$SINK_TCP" ;;
    esac
}

cpu_ticks() { # pid -> utime+stime in clock ticks (0 when gone)
    awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0
}

# The process that copies the container's output: berth's shim, or for
# dockerd its containerd shim (dockerd itself runs the log driver).
shim_pid() { # daemon id
    local p
    for p in /proc/[0-9]*; do
        if tr '\0' ' ' 2>/dev/null <"$p/cmdline" | grep -qE "(berth shim|containerd-shim).*$2"; then
            echo "${p#/proc/}"; return
        fi
    done
}

# One run: prints "seconds daemon_cpu_s shim_cpu_s", or "refused".
one_run() { # daemon driver
    local d="$1" drv="$2" hz id start shim d0 s_last end_ns
    hz="$(getconf CLK_TCK)"
    # shellcheck disable=SC2046
    if ! id="$(dk "$d" create $(driver_args "$drv") logbench:latest sh -c \
        "yes 0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456 | head -n $LINES; sleep 3" 2>"$TMP/err")"; then
        echo refused
        return
    fi
    d0="$(cpu_ticks "${DAEMON_PID[$d]}")"
    start="$(date +%s%N)"
    dk "$d" start "$id" >/dev/null
    shim="$(shim_pid "$d" "$id")"
    # The last line is logged when the shim's (or daemon's) CPU stops moving
    # while the container sleeps: sample until it is flat for 0.5 s.
    local prev=-1 cur flat=0 d_last
    end_ns="$start"
    while :; do
        cur=$(( $(cpu_ticks "$shim") + $(cpu_ticks "${DAEMON_PID[$d]}") ))
        if [ "$cur" = "$prev" ]; then
            flat=$((flat + 1))
            [ "$flat" -ge 10 ] && break
        else
            flat=0
            prev="$cur"
            end_ns="$(date +%s%N)"
            s_last="$(cpu_ticks "$shim")"
            d_last="$(cpu_ticks "${DAEMON_PID[$d]}")"
        fi
        sleep 0.05
    done
    dk "$d" wait "$id" >/dev/null
    dk "$d" rm "$id" >/dev/null
    awk -v s="$start" -v e="$end_ns" -v d0="$d0" -v d1="$d_last" -v sh="$s_last" -v hz="$hz" \
        'BEGIN { printf "%.3f %.2f %.2f\n", (e - s) / 1e9, (d1 - d0) / hz, sh / hz }'
}

median_col() { # column
    awk -v c="$1" '{ print $c }' | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'
}

printf '%-18s %-8s %10s %12s %10s %10s\n' driver daemon seconds lines/s daemon_cpu shim_cpu
for drv in $DRIVERS; do
    declare -A RATE=()
    for d in berth dockerd; do
        : >"$TMP/runs"
        refused=0
        for _ in $(seq "$RUNS"); do
            r="$(one_run "$d" "$drv")"
            if [ "$r" = refused ]; then refused=1; break; fi
            echo "$r" >>"$TMP/runs"
        done
        if [ "$refused" = 1 ]; then
            printf '%-18s %-8s %s\n' "$drv" "$d" "refused: $(head -c 120 "$TMP/err")"
            continue
        fi
        secs="$(median_col 1 <"$TMP/runs")"
        RATE[$d]="$(awk -v n="$LINES" -v s="$secs" 'BEGIN { printf "%.0f", n / s }')"
        printf '%-18s %-8s %10s %12s %10s %10s\n' "$drv" "$d" "$secs" "${RATE[$d]}" \
            "$(median_col 2 <"$TMP/runs")" "$(median_col 3 <"$TMP/runs")"
    done
    if [ -n "${RATE[berth]:-}" ] && [ -n "${RATE[dockerd]:-}" ]; then
        awk -v b="${RATE[berth]}" -v d="${RATE[dockerd]}" -v n="$drv" \
            'BEGIN { printf "%-18s berth/dockerd %.2fx\n", n, b / d }'
    fi
    unset RATE
done
