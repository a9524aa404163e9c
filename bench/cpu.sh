#!/usr/bin/env bash
# Benchmark: where a container lifecycle's CPU goes, berth against Debian's
# dockerd in one run (same busybox image, no default bridge). CLIENTS
# clients run LIFECYCLES create+start+wait+delete in all (bench/lifecycle.py)
# under a system-wide `perf record`; the samples are split by process (the
# daemon, its monitors, the runtime's processes, the container, the clients,
# the kernel's workers) and by the kernel's work they are in (page faults,
# exec, exit, the mount table's formatting, cgroups, network namespaces,
# fsync, ...). Every figure is ms of CPU per lifecycle; 80 lifecycles/s on
# two cores leaves 25 ms for all of it (issue 11).
#
# Usage: bench/cpu.sh [--no-build] [-c CLIENTS] [-l LIFECYCLES] [--only berth|dockerd]
# Needs perf (Debian: linux-perf).
set -euo pipefail

BUILD=1
CLIENTS=8
LIFECYCLES=320
ONLY=""
while [ $# -gt 0 ]; do
    case "$1" in
        --no-build) BUILD=0 ;;
        -c) CLIENTS="$2"; shift ;;
        -l) LIFECYCLES="$2"; shift ;;
        --only) ONLY="$2"; shift ;;
        -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
    shift
done

. "$(dirname "$0")/lib.sh"
bench_init cpu
BERTH="${BERTH_BIN:-${CARGO_TARGET_DIR:-$REPO/target}/release/berth}"
trap bench_cleanup EXIT
need_tools perf python3 "$DOCKER_CLI"
build_release "$BUILD"
busybox_rootfs sh true

FREQ=999
# C clients, N lifecycles in all: prints the count, the rate and
# /proc/stat's busy and idle CPU over the run.
cat >"$TMP/churn.py" <<'PY'
import os, sys
sys.path.insert(0, os.environ["BENCH_DIR"])
import lifecycle as L
sock, clients, total = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
per = total // clients
errors = []
def stat():
    return list(map(int, open("/proc/stat").readline().split()[1:]))
s0 = stat()
elapsed = L.clients_run(sock, "busybox", clients, per, errors)
s1 = stat()
d = [b - a for a, b in zip(s0, s1)]
if errors:
    sys.exit("lifecycle failed: " + errors[0])
print(per * clients, round(per * clients / elapsed, 1), sum(d) - d[3] - d[4], d[3] + d[4])
PY
export BENCH_DIR="$REPO/bench"

# perf script's samples -> the split, as rows: C|class|ms|largest parts,
# P|kind of work|ms.
cat >"$TMP/split.py" <<'PY'
import sys, collections
n, kind, freq = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
ms = 1000.0 / freq / n
# comm -> process class; the first matching prefix wins.
classes = {
    "berth": [("tokio-rt-worker", "daemon"), ("berth-mknetns", "daemon"), ("reaper", "daemon"),
              ("berth-shim", "monitor (berth-shim)"), ("berth", "daemon"),
              ("youki:[2:INIT]", "runtime: container init"),
              ("youki:[1:INTER]", "runtime: intermediate"), ("youki", "runtime: other")],
    "dockerd": [("dockerd", "daemon"), ("containerd-shim", "monitor (containerd-shim)"),
                ("containerd", "containerd"), ("runc:[2:INIT]", "runtime: container init"),
                ("runc:[1:CHILD]", "runtime: intermediate"), ("runc", "runtime: runc"),
                ("exe", "daemon")],
}[kind] + [("true", "container (true)"), ("python3", "clients"), ("swapper", "idle"),
           ("kworker", "kernel workers"), ("ksoftirqd", "kernel workers"),
           ("rcu", "kernel workers"), ("kthreadd", "kernel workers"),
           ("migration", "kernel workers")]
paths = [  # (label, frames that mark it), the first match wins
    ("page faults", ("asm_exc_page_fault",)),
    ("mount table read (mountinfo)", ("show_mountinfo", "mounts_open_common")),
    ("exec", ("do_execveat_common",)),
    ("exit", ("do_exit",)),
    ("fork/clone", ("copy_process",)),
    ("cgroup create/remove", ("cgroup_mkdir", "cgroup_rmdir", "css_free_rwork_fn",
                              "css_killed_work_fn", "cgroup_destroy")),
    ("network namespace", ("setup_net", "cleanup_net", "copy_net_ns")),
    ("fsync", ("vfs_fsync_range", "__x64_sys_fsync", "__x64_sys_fdatasync")),
    ("mounts", ("path_mount", "__x64_sys_move_mount", "__x64_sys_open_tree",
                "__x64_sys_fsmount", "__do_sys_fsconfig", "__x64_sys_umount",
                "__do_sys_pivot_root", "__x64_sys_mount_setattr", "cleanup_mnt",
                "copy_mnt_ns")),
    ("ext4 inodes, blocks, discards", ("__ext4_new_inode", "ext4_evict_inode",
                                       "ext4_free_blocks", "ext4_truncate", "ext4_mkdir",
                                       "blkdev_issue_discard")),
    ("opens, stats, reads, closes", ("__x64_sys_openat", "__x64_sys_openat2",
                                     "__x64_sys_readlink", "__x64_sys_statx",
                                     "__x64_sys_newfstatat", "__x64_sys_fstatfs",
                                     "__x64_sys_faccessat2", "__x64_sys_close",
                                     "__x64_sys_read", "__x64_sys_write")),
    ("mkdir, unlink, rename", ("__x64_sys_mkdir", "__x64_sys_mkdirat", "__x64_sys_unlinkat",
                               "__x64_sys_rmdir", "__x64_sys_renameat", "__x64_sys_rename",
                               "__x64_sys_renameat2")),
    ("other system calls", ("do_syscall_64",)),
    ("other kernel work", ("ret_from_fork_asm", "asm_common_interrupt",
                           "asm_sysvec_apic_timer_interrupt", "worker_thread",
                           "smpboot_thread_fn", "irq_exit_rcu")),
]
by_class = collections.Counter(); by_path = collections.Counter()
cells = collections.Counter()
comm, frames = None, []
def flush():
    if comm is None:
        return
    cls = next((c for p, c in classes if comm.startswith(p)), "other")
    if cls == "idle":
        by_class[cls] += 1
        return
    label = next((l for l, marks in paths if any(f in marks for f in frames)), "user space")
    by_class[cls] += 1; by_path[label] += 1; cells[(cls, label)] += 1
for line in sys.stdin:
    if not line.strip():
        flush(); comm, frames = None, []
    elif not line.startswith("\t"):
        flush(); comm, frames = line.strip(), []
    else:
        parts = line.split(None, 1)
        if len(parts) == 2:
            frames.append(parts[1].strip().split("+0x")[0])
flush()
busy = sum(v for c, v in by_class.items() if c != "idle")
print("C|%s|%.1f" % ("all but idle", busy * ms))
for c, v in by_class.most_common():
    if c != "idle":
        parts = sorted(((v2, l) for (c2, l), v2 in cells.items() if c2 == c), reverse=True)
        top = ", ".join("%s %.1f" % (l, v2 * ms) for v2, l in parts[:3])
        print("C|%s|%.1f|%s" % (c, v * ms, top))
for l, v in by_path.most_common():
    print("P|%s|%.1f" % (l, v * ms))
PY
split() { # perf.data lifecycles kind
    perf script -i "$1" -F comm,ip,sym 2>/dev/null | python3 "$TMP/split.py" "$2" "$3" "$FREQ"
}

declare -A OUT
for name in berth dockerd; do
    measures "$name" || continue
    log "== $name"
    start_bench_daemon "$name" "$name" || continue
    dk "$name" import --change 'CMD ["sh"]' "$TMP/rootfs.tar" busybox:latest >/dev/null
    sock="$TMP/$name/daemon.sock"
    python3 "$TMP/churn.py" "$sock" "$CLIENTS" "$((CLIENTS * 4))" >/dev/null # warm-up
    log "$LIFECYCLES lifecycles from $CLIENTS clients under perf record ..."
    # The figures are read once perf has written all of its file.
    perf record -a -g -F "$FREQ" -o "$TMP/$name.data" -q -- \
        python3 "$TMP/churn.py" "$sock" "$CLIENTS" "$LIFECYCLES" >"$TMP/$name.churn"
    read -r n rate busy idle <"$TMP/$name.churn"
    log "$name: $n lifecycles, $rate/s, CPU busy $((busy * 100 / (busy + idle)))%"
    OUT[$name]="$(split "$TMP/$name.data" "$n" "$name")"
    OUT[$name.rate]="$rate"
    stop_pids || true # the next daemon measures alone
done

for name in berth dockerd; do
    [ -n "${OUT[$name]:-}" ] || continue
    echo
    echo "## $name: ${OUT[$name.rate]} lifecycles/s from $CLIENTS clients; CPU per lifecycle (ms)"
    echo
    echo "| process | ms | its largest parts (ms) |"
    echo "| --- | --- | --- |"
    grep '^C|' <<<"${OUT[$name]}" | while IFS='|' read -r _ c v top; do
        echo "| $c | $v | ${top:-} |"
    done
    echo
    echo "| kernel path / user space | ms |"
    echo "| --- | --- |"
    grep '^P|' <<<"${OUT[$name]}" | while IFS='|' read -r _ l v; do echo "| $l | $v |"; done
done
