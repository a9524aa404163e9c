#!/usr/bin/env bash
# docker-py's own integration suite against any Docker API daemon socket.
#
#   scripts/docker-py/run.sh DOCKER_HOST_URL OUTDIR [PYTEST_ARGS...]   run the suite into OUTDIR
#   scripts/docker-py/compare.sh OUT_DOCKERD OUT_BERTH   counts, and what passes on dockerd
#                                                        but fails on berth (with the reason)
#   scripts/docker-py/daemon.sh start dockerd|berth DIR  a private daemon (own roots, cgroup
#   scripts/docker-py/daemon.sh stop DIR                 parent, netns); prints DOCKER_HOST
#
# Typical session (as root; the daemons one after the other):
#   h=$(scripts/docker-py/daemon.sh start dockerd /tmp/dpy-d)
#   DOCKER_TEST_API_VERSION=1.41 scripts/docker-py/run.sh "$h" /tmp/dockerpy-dockerd
#   scripts/docker-py/daemon.sh stop /tmp/dpy-d
#   h=$(scripts/docker-py/daemon.sh start berth /tmp/dpy-b)
#   DOCKER_TEST_API_VERSION=1.41 scripts/docker-py/run.sh "$h" /tmp/dockerpy-berth
#   scripts/docker-py/daemon.sh stop /tmp/dpy-b
#   scripts/docker-py/compare.sh /tmp/dockerpy-dockerd /tmp/dockerpy-berth
#
# daemon.sh runs each daemon in a network namespace of its own (only loopback): nothing leaves
# the machine, the host's firewall and interfaces are untouched, and registry pulls fail at once.
#
# What run.sh does:
#   - the tests: docker-py's sdist has none, so they come from a git clone of docker/docker-py
#     (DOCKER_PY_GIT, a git dir with the tag; default /work/.mirror/docker+docker-py/repo, where
#     the session tool `fetch github:docker/docker-py` puts it): `git archive <tag> tests
#     pytest.ini`, cached in $DOCKER_PY_CACHE/<version>/src (default
#     /var/cache/berth-docker-py/7.2.0). Only tests/ is extracted, so `import docker` is the
#     pip-installed 7.2.0, not a source tree.
#   - a venv beside it (made once, ~2 min): docker==7.2.0, websocket-client (ws attach test), the
#     pytest/pytest-timeout versions docker-py's `dev` extra pins, paramiko (helpers.py imports it).
#   - images: the suite wants alpine:3.10 (TEST_IMG), alpine:latest, busybox:latest and
#     hello-world:latest from Docker Hub. With no internet they are imported (POST
#     /images/create?fromSrc=-) from a rootfs of the host's static /bin/busybox with every applet
#     linked (`busybox --list-full`) and alpine 3.10's /etc/passwd and /etc/group (the tests use
#     user postgres); only the missing ones.
#   - pytest tests/integration without the swarm files (api_swarm, api_service, api_secret,
#     api_config, models_swarm, models_nodes, models_services; DOCKER_PY_SWARM=1 runs only
#     them), -p no:cacheprovider, a per-test
#     timeout, -rA -v --durations=30, junit XML. OUTDIR gets pytest.log, junit.xml, meta.txt.
#     DOCKER_CONFIG is an empty dir in OUTDIR (no host credentials; contexts stay per run).
#
# Fail on every daemon here, by design of this setup: pulls from Docker Hub (PullImageTest,
# models_images pull tests, get/load of hello-world, prune_images, inspect_distribution, all of
# api_plugin_test but create_plugin/plugin_privileges), credentials/store_test (no
# docker-credential-pass), test_run_container_reading_socket_ws (websocket over a unix socket).
# dockerd only: test_create_with_binds_rw_rshared (/ is not a shared mount on this host),
# test_create_network_with_ipam_config (172.28/16 overlaps docker_gwbridge left by the swarm
# tests in api_network_test; order-dependent), test_attach_no_stream (flaky race).
# compare.sh counts xfail as skipped and xpass as passed (junit does); an xfail-marked test
# that fails on berth only shows up as "skipped/xfail"; rerun it with --runxfail for the error.
#
# Env: DOCKER_TEST_API_VERSION (the API version the tests use and their requires_api_version
# skips compare against; default: min(daemon's ApiVersion, docker-py's default 1.45). Debian's
# dockerd 20.10 stops at 1.41, so pass 1.41 to compare berth with it on equal terms),
# TEST_TIMEOUT (s per test, default 60), DOCKER_PY_VERSION (7.2.0), DOCKER_PY_CACHE,
# DOCKER_PY_GIT, PYTHON (interpreter for the venv).
set -euo pipefail

if [ $# -lt 2 ]; then
    sed -n '2,17p' "$0" >&2
    exit 2
fi
HOST_URL="$1"
OUT="$2"
shift 2 # the rest goes to pytest, e.g. -k exec, or -x
VER="${DOCKER_PY_VERSION:-7.2.0}"
CACHE="${DOCKER_PY_CACHE:-/var/cache/berth-docker-py}/$VER"
GITDIR="${DOCKER_PY_GIT:-/work/.mirror/docker+docker-py/repo}"
TIMEOUT="${TEST_TIMEOUT:-60}"
PY="${PYTHON:-$(command -v /usr/bin/python3 || command -v python3)}"
SRC="$CACHE/src"
VENV="$CACHE/venv"
REQS=("docker==$VER" "websocket-client==1.8.0" "pytest==7.4.2" "pytest-timeout==2.1.0"
    "paramiko==3.5.1")

log() { printf '[docker-py] %s\n' "$*" >&2; }

mkdir -p "$CACHE" "$OUT"
OUT="$(cd "$OUT" && pwd)"

# --- the tests -------------------------------------------------------------------------------
if [ ! -d "$SRC/tests/integration" ]; then
    rm -rf "$SRC.tmp"
    mkdir -p "$SRC.tmp" "$CACHE/dl"
    # The sdist is tried first in case a future one ships the tests (7.2.0's does not).
    if [ ! -f "$CACHE/dl/docker-$VER.tar.gz" ]; then
        "$PY" -m pip download -q --no-deps --no-binary :all: "docker==$VER" -d "$CACHE/dl" ||
            log "pip download of the sdist failed"
    fi
    if [ -f "$CACHE/dl/docker-$VER.tar.gz" ] &&
        tar -tzf "$CACHE/dl/docker-$VER.tar.gz" | grep -q "^docker-$VER/tests/integration/"; then
        log "tests from the sdist"
        tar -xzf "$CACHE/dl/docker-$VER.tar.gz" -C "$SRC.tmp" --strip-components=1 \
            "docker-$VER/tests" "docker-$VER/pytest.ini"
    elif git --git-dir="$GITDIR" rev-parse -q --verify "refs/tags/$VER" >/dev/null 2>&1; then
        log "tests from $GITDIR tag $VER ($(git --git-dir="$GITDIR" rev-parse "$VER^{commit}"))"
        git --git-dir="$GITDIR" archive "$VER" tests pytest.ini | tar -x -C "$SRC.tmp"
    else
        log "the docker-$VER sdist has no tests and there is no git clone with tag $VER at"
        log "$GITDIR; clone/fetch docker/docker-py there (or set DOCKER_PY_GIT) and rerun"
        exit 1
    fi
    mv "$SRC.tmp" "$SRC"
fi

# --- the venv --------------------------------------------------------------------------------
if [ "$(cat "$VENV/.reqs" 2>/dev/null)" != "${REQS[*]}" ]; then
    log "creating $VENV"
    rm -rf "$VENV"
    "$PY" -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check "${REQS[@]}"
    echo "${REQS[*]}" >"$VENV/.reqs"
fi
VPY="$VENV/bin/python"

export DOCKER_HOST="$HOST_URL"
unset DOCKER_TLS_VERIFY DOCKER_CERT_PATH DOCKER_CONTEXT
# No credentials or proxies from the host. The file must exist: without one, docker-py keeps
# contexts (context_api_test) in ./contexts, which would carry over from one run to the next.
export DOCKER_CONFIG="$OUT/docker-config"
rm -rf "$DOCKER_CONFIG" "$SRC/contexts"
mkdir -p "$DOCKER_CONFIG"
echo '{}' >"$DOCKER_CONFIG/config.json"

"$VPY" -c 'import docker; docker.APIClient(version="auto", **docker.utils.kwargs_from_env()).ping()' 2>/dev/null || {
    log "no daemon answers at $DOCKER_HOST"
    exit 1
}

if [ -z "${DOCKER_TEST_API_VERSION:-}" ]; then
    DOCKER_TEST_API_VERSION="$("$VPY" - <<'EOF'
import docker
from docker.constants import DEFAULT_DOCKER_API_VERSION as d
from docker.utils import version_lt
v = docker.APIClient(**docker.utils.kwargs_from_env()).version(api_version=False)["ApiVersion"]
print(v if version_lt(v, d) else d)
EOF
)"
fi
export DOCKER_TEST_API_VERSION

# --- the images ------------------------------------------------------------------------------
ROOTFS="$(mktemp -d /tmp/dockerpy-rootfs.XXXXXX)"
trap 'rm -rf "$ROOTFS"' EXIT
(
    r="$ROOTFS/fs"
    mkdir -p "$r"/{bin,sbin,usr/bin,usr/sbin,usr/local/bin,etc,dev,proc,sys,tmp,root,home,mnt,opt}
    mkdir -p "$r"/{run,srv,media,lib,var/{tmp,opt,lib,log,spool,empty,cache}}
    chmod 1777 "$r/tmp" "$r/var/tmp"
    chmod 700 "$r/root"
    cp /bin/busybox "$r/bin/busybox"
    for p in $(/bin/busybox --list-full); do
        [ "$p" = bin/busybox ] || ln -sf /bin/busybox "$r/$p"
    done
    # alpine 3.10's users and groups (tests use uid 1000, gids 1000/1001 and user postgres)
    cat >"$r/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/ash
bin:x:1:1:bin:/bin:/sbin/nologin
daemon:x:2:2:daemon:/sbin:/sbin/nologin
adm:x:3:4:adm:/var/adm:/sbin/nologin
lp:x:4:7:lp:/var/spool/lpd:/sbin/nologin
sync:x:5:0:sync:/sbin:/bin/sync
shutdown:x:6:0:shutdown:/sbin:/sbin/shutdown
halt:x:7:0:halt:/sbin:/sbin/halt
mail:x:8:12:mail:/var/spool/mail:/sbin/nologin
news:x:9:13:news:/usr/lib/news:/sbin/nologin
uucp:x:10:14:uucp:/var/spool/uucppublic:/sbin/nologin
operator:x:11:0:operator:/root:/sbin/nologin
man:x:13:15:man:/usr/man:/sbin/nologin
postmaster:x:14:12:postmaster:/var/spool/mail:/sbin/nologin
cron:x:16:16:cron:/var/spool/cron:/sbin/nologin
ftp:x:21:21::/var/lib/ftp:/sbin/nologin
sshd:x:22:22:sshd:/dev/null:/sbin/nologin
at:x:25:25:at:/var/spool/cron/atjobs:/sbin/nologin
squid:x:31:31:Squid:/var/cache/squid:/sbin/nologin
xfs:x:33:33:X Font Server:/etc/X11/fs:/sbin/nologin
games:x:35:35:games:/usr/games:/sbin/nologin
postgres:x:70:70::/var/lib/postgresql:/bin/sh
cyrus:x:85:12::/usr/cyrus:/sbin/nologin
vpopmail:x:89:89::/var/vpopmail:/sbin/nologin
ntp:x:123:123:NTP:/var/empty:/sbin/nologin
smmsp:x:209:209:smmsp:/var/spool/mqueue:/sbin/nologin
guest:x:405:100:guest:/dev/null:/sbin/nologin
nobody:x:65534:65534:nobody:/:/sbin/nologin
EOF
    cat >"$r/etc/group" <<'EOF'
root:x:0:root
bin:x:1:root,bin,daemon
daemon:x:2:root,bin,daemon
sys:x:3:root,bin,adm
adm:x:4:root,adm,daemon
tty:x:5:
disk:x:6:root,adm
lp:x:7:lp
mem:x:8:
kmem:x:9:
wheel:x:10:root
floppy:x:11:root
mail:x:12:mail
news:x:13:news
uucp:x:14:uucp
man:x:15:man
cron:x:16:cron
console:x:17:
audio:x:18:
cdrom:x:19:
dialout:x:20:root
ftp:x:21:
sshd:x:22:
input:x:23:
at:x:25:at
tape:x:26:root
video:x:27:root
netdev:x:28:
readproc:x:30:
squid:x:31:squid
xfs:x:33:xfs
kvm:x:34:kvm
games:x:35:
shadow:x:42:
postgres:x:70:
cdrw:x:80:
usb:x:85:
vpopmail:x:89:
users:x:100:games
ntp:x:123:
nofiles:x:200:
smmsp:x:209:smmsp
locate:x:245:
abuild:x:300:
utmp:x:406:
ping:x:999:
nogroup:x:65533:
nobody:x:65534:
EOF
    printf 'NAME="busybox rootfs for docker-py tests"\nID=busybox\n' >"$r/etc/os-release"
    printf '#!/bin/sh\necho "Hello from Docker!"\n' >"$r/hello"
    chmod 755 "$r/hello"
    tar -C "$r" --numeric-owner --owner=0 --group=0 -cf "$ROOTFS/rootfs.tar" .
)
"$VPY" - "$ROOTFS/rootfs.tar" <<'EOF'
import sys
import docker
path = sys.argv[1]
env = "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
images = {
    "alpine:3.10": [env, 'CMD ["/bin/sh"]'],
    "alpine:latest": [env, 'CMD ["/bin/sh"]'],
    "busybox:latest": [env, 'CMD ["sh"]'],
    "hello-world:latest": [env, 'CMD ["/hello"]'],
}
c = docker.APIClient(version="auto", **docker.utils.kwargs_from_env())
for ref, changes in images.items():
    try:
        c.inspect_image(ref)
        continue
    except docker.errors.NotFound:
        pass
    repo, tag = ref.rsplit(":", 1)
    with open(path, "rb") as f:
        out = c.import_image_from_data(f.read(), repository=repo, tag=tag, changes=changes)
    c.inspect_image(ref)
    print(f"[docker-py] imported {ref}", file=sys.stderr)
c.close()
EOF

# --- the suite -------------------------------------------------------------------------------
# DOCKER_PY_SWARM=1: only the swarm files (docker-py's swarm suite); otherwise all but them.
SWARM_FILES=(api_swarm_test api_service_test api_secret_test api_config_test models_swarm_test
    models_nodes_test models_services_test)
TARGETS=(tests/integration)
IGNORE=()
if [ "${DOCKER_PY_SWARM:-0}" = 1 ]; then
    TARGETS=()
    for f in "${SWARM_FILES[@]}"; do TARGETS+=("tests/integration/$f.py"); done
else
    for f in "${SWARM_FILES[@]}"; do IGNORE+=("--ignore=tests/integration/$f.py"); done
fi
{
    echo "docker_host=$DOCKER_HOST"
    echo "docker_py=$VER api_version=$DOCKER_TEST_API_VERSION timeout=${TIMEOUT}s"
    echo "server=$("$VPY" -c 'import docker, json; v = docker.APIClient(version="auto", **docker.utils.kwargs_from_env()).version(); print(json.dumps({k: v.get(k) for k in ("Version", "ApiVersion", "MinAPIVersion", "GitCommit")}))')"
    echo "started=$(date -Is)"
} >"$OUT/meta.txt"
log "pytest against $DOCKER_HOST (API $DOCKER_TEST_API_VERSION); log: $OUT/pytest.log"
start=$(date +%s)
rc=0
(
    cd "$SRC"
    "$VPY" -m pytest "${TARGETS[@]}" ${IGNORE[@]+"${IGNORE[@]}"} -p no:cacheprovider \
        --timeout="$TIMEOUT" -rA -v --durations=30 --junitxml="$OUT/junit.xml" \
        "$@"
) >"$OUT/pytest.log" 2>&1 || rc=$?
{
    echo "finished=$(date -Is) seconds=$(($(date +%s) - start)) pytest_rc=$rc"
} >>"$OUT/meta.txt"
tail -n 1 "$OUT/pytest.log" >&2
# pytest exits 1 when tests fail; that is a result, not an error of this script.
[ "$rc" -le 1 ] || exit "$rc"
