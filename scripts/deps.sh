#!/usr/bin/env bash
# Installs the Debian packages berth's build, runtime and tests need, only when missing.
# rsyslog: e2e_log_drivers runs its own rsyslogd (own config, loopback ports, a unix socket in a temp dir);
# rsyslog-gnutls: its gtls driver, for the syslog-over-tcp+tls test (certificates made by the test).
# openssh-server: e2e_remote runs its own sshd (its own config, keys and network namespace)
# for `docker -H ssh://`; the package's ssh.service is not needed by anything here.
# prometheus: e2e_metrics starts its own (temp config and data dir, loopback) to scrape the daemon;
# promtool (same package) lints the exposition.
# rpm: e2e_scan builds packages (rpmbuild) into an rpm database of its own; scan's unit tests
# check berth's version ordering against rpm's own.
# chromium + chromium-driver: e2e_ui drives the dashboard in a headless browser over WebDriver.
# iperf3: bench/overlay.sh's throughput figures (wrk and haproxy serve it too).
# linux-perf: bench/cpu.sh's split of a lifecycle's CPU (perf record of the whole machine).
# user-mode-linux: network's ipvs_uml test runs a Linux kernel with IPVS as a process (this
# host's kernel may have no ip_vs) and checks the IPVS balancer against it.
set -euo pipefail
packages=(busybox-static tini crun git procps util-linux libseccomp-dev pkg-config iptables nftables iproute2 iputils-ping curl ca-certificates skopeo openssl debootstrap docker-compose podman docker-registry wrk etcd-server etcd-client protobuf-compiler openssh-server rsyslog rsyslog-gnutls prometheus rpm nginx haproxy chromium chromium-driver iperf3 linux-perf user-mode-linux)
missing=()
for p in "${packages[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "installing: ${missing[*]}"
    if [ "$(id -u)" != 0 ]; then
        echo "need root to apt-get install ${missing[*]}" >&2
        exit 1
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if ! command -v docker >/dev/null; then
    # The e2e tests drive the real docker CLI; Debian ships it in docker.io.
    echo "installing the docker CLI (docker.io)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null
fi
# crun (an OCI runtime the e2e tests run containers on) refuses a hybrid cgroup layout whose
# v2 side holds controllers: "cgroups in hybrid mode not supported, drop all controllers from
# cgroupv2" (dockerd with crun fails the same way). systemd's hybrid hosts mount every
# controller on v1; where the kernel left one on v2 (this VM: hugetlb), mount it on v1 too.
# A controller unused on v2 (empty subtree_control) moves without disturbing anything.
unified=/sys/fs/cgroup/unified
if [ "$(stat -f -c %T /sys/fs/cgroup)" = tmpfs ] && [ -r "$unified/cgroup.controllers" ] &&
    [ -z "$(cat "$unified/cgroup.subtree_control")" ]; then
    for c in $(cat "$unified/cgroup.controllers"); do
        echo "mounting the $c cgroup controller on v1 (/sys/fs/cgroup/$c), as systemd hybrid hosts have it"
        mkdir -p "/sys/fs/cgroup/$c"
        mount -t cgroup -o "$c" cgroup "/sys/fs/cgroup/$c" ||
            echo "warning: could not mount the $c controller on v1: crun will refuse this host" >&2
    done
fi
