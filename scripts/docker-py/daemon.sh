#!/usr/bin/env bash
# Private daemons for run.sh (see the comment at the top of run.sh).
#
#   daemon.sh start dockerd|berth DIR   starts one, prints its DOCKER_HOST (unix://DIR/daemon.sock)
#   daemon.sh stop DIR                  removes its containers, stops it, kills what is left,
#                                       unmounts, removes its cgroups; keeps DIR.log and
#                                       DIR.version (what ran), removes DIR
#
# Every daemon gets its own data root, exec root, pid file, cgroup parent and socket under DIR,
# and runs in a network namespace of its own with only loopback up: its bridges, NAT rules,
# ip_forward and port proxies stay in there (the host's iptables/nftables and interfaces are not
# touched) and neither it nor its containers can reach anything off the machine (pulls from
# Docker Hub fail at once). The unix socket is a path, so clients in the host namespace reach it.
# berth is copied to DIR/berth first, so a rebuild of target/ during a run changes nothing.
# Env: BERTH_BIN (default REPO/target/debug/berth), DAEMON_LOG_LEVEL (berth; default debug),
# DAEMON_NETNS (a network namespace path to run in instead of a fresh one: hosts of a bench
# cluster on a test LAN).
set -euo pipefail

REPO="$(cd "$(dirname "$0")/../.." && pwd)"

log() { printf '%s\n' "$*" >&2; }

wait_ping() { # socket pid
    for _ in $(seq 600); do
        curl -sf --max-time 2 --unix-socket "$1" http://d/_ping >/dev/null 2>&1 && return 0
        kill -0 "$2" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

start() { # kind dir
    local kind="$1" dir="$2"
    case "$kind" in dockerd | berth) ;; *) log "kind must be dockerd or berth"; exit 2 ;; esac
    if [ -e "$dir/pid" ] && kill -0 "$(cat "$dir/pid")" 2>/dev/null; then
        log "$dir: a daemon is already running (pid $(cat "$dir/pid"))"
        exit 1
    fi
    mkdir -p "$dir"
    dir="$(cd "$dir" && pwd)"
    echo "$kind" >"$dir/kind"
    local cgroup="/dockerpy-$kind-$(basename "$dir")"
    echo "$cgroup" >"$dir/cgroup"
    local args=(-H "unix://$dir/daemon.sock" --data-root "$dir/root" --exec-root "$dir/exec"
        --pidfile "$dir/pid" --cgroup-parent "$cgroup")
    local cmd
    case "$kind" in
        dockerd)
            command -v dockerd >/dev/null || {
                log "installing docker.io"
                DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io containerd runc >/dev/null
            }
            echo '{}' >"$dir/daemon.json" # not the host's /etc/docker/daemon.json
            cmd=(dockerd "${args[@]}" --config-file "$dir/daemon.json")
            dockerd --version >"$dir/version"
            ;;
        berth)
            local bin="${BERTH_BIN:-$REPO/target/debug/berth}"
            cp "$bin" "$dir/berth"
            (
                echo "binary: $bin ($(stat -c %y "$bin")) sha256 $(sha256sum <"$dir/berth" | cut -c1-16)"
                cd "$REPO" && echo "HEAD: $(git rev-parse HEAD)" &&
                    echo "working tree: $(git diff --shortstat HEAD) (diff sha256 $(git diff HEAD | sha256sum | cut -c1-16))"
            ) >"$dir/version" 2>/dev/null || true
            cmd=("$dir/berth" daemon "${args[@]}" --log-level "${DAEMON_LOG_LEVEL:-debug}"
                --bridge bdpy0 --bridge-prefix bdpy- --nft-table berth_dockerpy)
            ;;
    esac
    # unshare (or nsenter, into DAEMON_NETNS when the caller wired one up)
    # execs the shell, which execs the daemon: $! is the daemon's pid.
    if [ -n "${DAEMON_NETNS:-}" ]; then
        setsid nsenter --net="$DAEMON_NETNS" sh -c 'ip link set lo up && exec "$@"' sh "${cmd[@]}" \
            >"$dir/log" 2>&1 </dev/null &
    else
        setsid unshare --net sh -c 'ip link set lo up && exec "$@"' sh "${cmd[@]}" \
            >"$dir/log" 2>&1 </dev/null &
    fi
    local pid=$!
    echo "$pid" >"$dir/daemon.pid"
    if ! wait_ping "$dir/daemon.sock" "$pid"; then
        log "$kind did not answer /_ping; log tail:"
        tail -n 20 "$dir/log" >&2
        stop "$dir"
        exit 1
    fi
    echo "unix://$dir/daemon.sock"
}

api() { # dir method path
    curl -sf --max-time 60 --unix-socket "$1/daemon.sock" -X "$2" "http://d$3"
}

stop() { # dir
    set +e
    local dir
    dir="$(cd "$1" 2>/dev/null && pwd)" || { log "$1: no such dir"; return 0; }
    local cgroup pid
    cgroup="$(cat "$dir/cgroup" 2>/dev/null)"
    pid="$(cat "$dir/daemon.pid" 2>/dev/null)"
    # Containers first, while the daemon can still tear them down cleanly.
    if [ -S "$dir/daemon.sock" ] && api "$dir" GET /_ping >/dev/null; then
        for id in $(api "$dir" GET '/containers/json?all=1' |
            python3 -c 'import json,sys; [print(c["Id"]) for c in json.load(sys.stdin)]'); do
            api "$dir" DELETE "/containers/$id?force=1&v=1" >/dev/null
        done
    fi
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid"
        for _ in $(seq 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null
    fi
    # Shims (berth's, containerd's) and dockerd's containerd outlive the daemon; they name DIR.
    for _ in 1 2 3; do
        local killed=0 p q
        for p in /proc/[0-9]*; do
            q="${p#/proc/}"
            [ "$q" = "$$" ] && continue
            if tr '\0' ' ' 2>/dev/null <"$p/cmdline" | grep -qF "$dir/"; then
                kill -KILL "$q" 2>/dev/null && killed=1
            fi
        done
        if [ -n "$cgroup" ]; then
            for d in /sys/fs/cgroup/*"$cgroup"; do
                [ -d "$d" ] || continue
                find "$d" -name freezer.state -exec sh -c 'echo THAWED >"$1"' sh {} \; 2>/dev/null
                for q in $(find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null); do
                    kill -KILL "$q" 2>/dev/null && killed=1
                done
            done
        fi
        [ "$killed" = 0 ] && break
        sleep 0.5
    done
    # Mounts under DIR, deepest first.
    awk -v t="$dir" '$5 == t || index($5, t "/") == 1 { print $5 }' /proc/self/mountinfo |
        awk '{ print gsub("/", "/"), $0 }' | sort -rn | cut -d' ' -f2- |
        while read -r m; do umount -l "$m" 2>/dev/null; done
    if [ -n "$cgroup" ]; then
        for d in /sys/fs/cgroup/*"$cgroup"; do
            [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null
        done
    fi
    cp "$dir/log" "$dir.log" 2>/dev/null
    cp "$dir/version" "$dir.version" 2>/dev/null
    rm -rf --one-file-system "$dir"
    if awk -v t="$dir" 'index($5, t) == 1' /proc/self/mountinfo | grep -q .; then
        log "warning: mounts left under $dir"
    fi
    set -e
}

case "${1:-}" in
    start) [ $# = 3 ] || { log "usage: $0 start dockerd|berth DIR"; exit 2; }; start "$2" "$3" ;;
    stop) [ $# = 2 ] || { log "usage: $0 stop DIR"; exit 2; }; stop "$2" ;;
    *) sed -n '2,6p' "$0" >&2; exit 2 ;;
esac
