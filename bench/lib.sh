# Shared by the bench scripts (sourced, not run): one temp dir per run,
# daemons on private sockets and roots under it, and a cleanup that removes
# every trace (processes, mounts, cgroups, files) even after a failure.
#
# bench_init NAME sets REPO, DOCKER_CLI, TMP, UNIQUE, CGROUP_PARENT, PIDS.

bench_init() { # name
    REPO="$(cd "$(dirname "${BASH_SOURCE[1]}")/.." && pwd)"
    DOCKER_CLI="${DOCKER_CLI:-/usr/local/bin/docker}"
    TMP="$(mktemp -d "/tmp/berth-$1.XXXXXX")"
    UNIQUE="${TMP##*.}"
    CGROUP_PARENT="/berth-$1-$UNIQUE"
    PIDS=()
}

log() { printf '%s\n' "$*" >&2; }

need_tools() { # tools... : exit when one is missing
    local tool
    for tool in "$@"; do
        command -v "$tool" >/dev/null || { log "missing $tool (run scripts/deps.sh)"; exit 1; }
    done
}

build_release() { # 1 to build berth (release), else nothing; then the config dir
    if [ "$1" = 1 ]; then
        log "building berth (release)..."
        (cd "$REPO" && cargo build --release -p berth -q)
    fi
    mkdir -p "$TMP/config"
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

dk() { # name docker-args...
    local name="$1"
    shift
    DOCKER_HOST="unix://$TMP/$name/daemon.sock" DOCKER_CONFIG="$TMP/config" "$DOCKER_CLI" "$@"
}

remove_containers() { # daemon names...
    local name ids
    for name in "$@"; do
        [ -S "$TMP/$name/daemon.sock" ] || continue
        # `timeout` runs programs, not functions: the CLI is called directly.
        ids="$(DOCKER_HOST="unix://$TMP/$name/daemon.sock" DOCKER_CONFIG="$TMP/config" \
            timeout 20 "$DOCKER_CLI" ps -aq 2>/dev/null)"
        [ -n "$ids" ] && DOCKER_HOST="unix://$TMP/$name/daemon.sock" DOCKER_CONFIG="$TMP/config" \
            timeout 30 "$DOCKER_CLI" rm -f $ids >/dev/null 2>&1
    done
}

stop_pids() { # TERM every pid in PIDS, KILL what is left after 10 s
    local pid alive
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
    for _ in $(seq 100); do
        alive=0
        for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
        [ "$alive" = 0 ] && break
        sleep 0.1
    done
    for pid in "${PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null; done
    PIDS=()
}

kill_naming() { # path: shims and dockerd's containerd outlive the daemons; they name it
    local p pid
    for p in /proc/[0-9]*; do
        pid="${p#/proc/}"
        [ "$pid" = "$$" ] && continue
        if tr '\0' ' ' 2>/dev/null <"$p/cmdline" | grep -qF "$1"; then
            kill -KILL "$pid" 2>/dev/null
        fi
    done
}

kill_cgroup_members() {
    local d
    for d in /sys/fs/cgroup/*"$CGROUP_PARENT"-*; do
        [ -d "$d" ] || continue
        find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null | xargs -r kill -KILL 2>/dev/null
    done
}

unmount_under() { # path, deepest mounts first
    awk -v t="$1" '$5 == t || index($5, t "/") == 1 { print $5 }' /proc/self/mountinfo |
        awk '{ print gsub("/", "/"), $0 }' | sort -rn | cut -d' ' -f2- |
        while read -r m; do umount -l "$m" 2>/dev/null; done
}

remove_cgroups() {
    local d
    for d in /sys/fs/cgroup/*"$CGROUP_PARENT"-*; do
        [ -d "$d" ] || continue
        find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null
    done
}

bench_cleanup() { # everything under TMP, for the scripts' EXIT trap
    set +e
    remove_containers berth dockerd
    stop_pids
    kill_naming "$TMP"
    kill_cgroup_members
    sleep 0.3
    unmount_under "$TMP"
    remove_cgroups
    rm -rf "$TMP"
}

wait_ping() { # socket pid -> 0 once the daemon answers /_ping
    for _ in $(seq 600); do
        curl -sf --unix-socket "$1" http://d/_ping >/dev/null 2>&1 && return 0
        kill -0 "$2" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

busybox_rootfs() { # applets... -> $TMP/rootfs.tar: static busybox, root's passwd
    local root="$TMP/rootfs" a
    mkdir -p "$root"/{bin,etc,tmp,proc,sys,dev,root}
    chmod 1777 "$root/tmp"
    cp /bin/busybox "$root/bin/busybox"
    for a in "$@"; do ln -s busybox "$root/bin/$a"; done
    printf 'root:x:0:0:root:/root:/bin/sh\n' >"$root/etc/passwd"
    tar -C "$root" --numeric-owner --owner=0 --group=0 -cf "$TMP/rootfs.tar" .
}

measures() { # name (berth|dockerd): 0 when this run measures it (--only, dockerd installed)
    [ -n "${ONLY:-}" ] && [ "$ONLY" != "$1" ] && return 1
    if [ "$1" = dockerd ] && ! command -v dockerd >/dev/null; then
        log "dockerd not installed; berth only"
        return 1
    fi
    return 0
}

start_bench_daemon() { # name kind(berth|dockerd) [daemon args...] -> LAST_PID; no default bridge
    local name="$1" kind="$2" dir="$TMP/$1"
    shift 2
    mkdir -p "$dir"
    local args=(-H "unix://$dir/daemon.sock" --data-root "$dir/root" --exec-root "$dir/exec"
        --pidfile "$dir/pid" --cgroup-parent "$CGROUP_PARENT-$name" "$@")
    case "$kind" in
        berth) "$BERTH" daemon "${args[@]}" --bridge none >"$dir/log" 2>&1 </dev/null & ;;
        dockerd) dockerd "${args[@]}" --bridge=none --iptables=false --ip6tables=false \
            >"$dir/log" 2>&1 </dev/null & ;;
    esac
    LAST_PID=$!
    PIDS+=("$LAST_PID")
    wait_ping "$dir/daemon.sock" "$LAST_PID" && return 0
    log "$name did not start"; tail -n 15 "$dir/log" >&2
    return 1
}

monitor_pids() { # name -> pids of the per-container monitors of the daemon $TMP/name
    local name="$1" p cmd
    for p in /proc/[0-9]*; do
        cmd="$(tr '\0' ' ' 2>/dev/null <"$p/cmdline" || true)"
        case "$name:$cmd" in
        berth:*berth-shim\ "$TMP/berth/"* | berth:*berth\ shim\ "$TMP/berth/"*) echo "${p#/proc/}" ;;
        dockerd:*containerd-shim*"$TMP/dockerd/"*) echo "${p#/proc/}" ;;
        esac
    done
}

cleanup_with_bridge() { # bench_cleanup, then the bridge $BRIDGE and nft table $NFT_TABLE a berth daemon made
    bench_cleanup
    ip link del "$BRIDGE" 2>/dev/null
    for family in ip ip6; do nft delete table "$family" "$NFT_TABLE" 2>/dev/null; done
    true
}
