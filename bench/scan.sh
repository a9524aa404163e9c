#!/usr/bin/env bash
# Benchmark: image scanning (issue 16).
#   - `berth scan db import` of N synthetic OSV records (default 100,000) in a
#     zip shaped like osv.dev's all.zip: mostly Debian:12 (the Debian corpus
#     image's own source packages among thousands of others), some npm, PyPI
#     and crates.io; CVSS vectors, ranges with fixes, unfixed and withdrawn ones.
#     Reported in records/s.
#   - `berth scan` of the Debian corpus image: cold (reads the layers) and warm
#     (cached per image id and database generation; goal <= 1 s), wall time of
#     the CLI round trip.
#
# Usage: bench/scan.sh [--no-build] [-n RECORDS] [--warm RUNS]
# Needs python3, curl and the corpus (scripts/debian-corpus.sh, cached).
# The daemon runs on a private socket and root under one temp dir, removed on exit.
set -euo pipefail

BUILD=1
RECORDS=100000
WARM=10
while [ $# -gt 0 ]; do
    case "$1" in
        --no-build) BUILD=0 ;;
        -n) RECORDS="$2"; shift ;;
        --warm) WARM="$2"; shift ;;
        -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
    shift
done

. "$(dirname "$0")/lib.sh"
bench_init scan
BERTH="${BERTH_BIN:-${CARGO_TARGET_DIR:-$REPO/target}/release/berth}"
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

need_tools python3 curl "$DOCKER_CLI"
build_release "$BUILD"

now() { date +%s.%N; }
elapsed() { python3 -c "print(f'{$2 - $1:.3f}')"; }
median() { sort -n | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

dir="$TMP/berth"
mkdir -p "$dir"
"$BERTH" daemon -H "unix://$dir/daemon.sock" --data-root "$dir/root" --exec-root "$dir/exec" \
    --pidfile "$dir/pid" --cgroup-parent "$CGROUP_PARENT-berth" --bridge none \
    >"$dir/log" 2>&1 </dev/null &
PIDS+=("$!")
wait_ping "$dir/daemon.sock" "$!" || { log "berth did not start"; tail -n 15 "$dir/log" >&2; exit 1; }
bt() { BERTH_HOST="unix://$dir/daemon.sock" "$BERTH" "$@"; }

corpus="$("$REPO/scripts/debian-corpus.sh" | tail -n 1)"
log "importing the Debian corpus ($corpus)..."
dk berth import "$corpus" debian:bookworm >/dev/null

log "generating $RECORDS OSV records..."
tar -xOf "$corpus" ./var/lib/dpkg/status >"$TMP/status"
python3 - "$TMP/status" "$TMP/osv.zip" "$RECORDS" <<'PY'
import json, random, sys, zipfile
status, out, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
random.seed(16)
sources = {}
for stanza in open(status, encoding="utf-8", errors="replace").read().split("\n\n"):
    f = dict(l.split(": ", 1) for l in stanza.splitlines() if ": " in l and not l.startswith(" "))
    if "Package" not in f or "Version" not in f:
        continue
    src = f.get("Source", f["Package"])
    name, _, ver = src.partition(" (")
    sources[name] = ver.rstrip(")") or f["Version"]
names = list(sources) + [f"libsynth{i}" for i in range(6000)]
vectors = ["CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:N/A:N",
           "CVSS:3.1/AV:N/AC:H/PR:N/UI:R/S:U/C:L/I:N/A:N", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H"]
with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
    for i in range(n):
        r = random.random()
        if r < 0.85:
            eco, name = "Debian:12", random.choice(names)
            base = sources.get(name, f"{random.randint(1, 9)}.{random.randint(0, 30)}-{random.randint(1, 5)}")
            fixed = random.choice([base + f"+deb12u{random.randint(1, 9)}", base, "0.1-1", None])
            rid = f"DEBIAN-CVE-2099-{i:06d}"
        elif r < 0.90:
            eco, name, fixed, rid = "npm", f"synth-pkg-{random.randint(0, 20000)}", "2.0.0", f"GHSA-synth-{i:06d}"
        elif r < 0.95:
            eco, name, fixed, rid = "PyPI", f"synth-py-{random.randint(0, 20000)}", "3.1.0", f"PYSEC-2099-{i:06d}"
        else:
            eco, name, fixed, rid = "crates.io", f"synth-rs-{random.randint(0, 20000)}", "1.2.3", f"RUSTSEC-2099-{i:04d}"
        events = [{"introduced": "0"}] + ([{"fixed": fixed}] if fixed else [])
        rec = {
            "id": rid, "modified": "2025-06-01T00:00:00Z", "published": "2024-01-01T00:00:00Z",
            "aliases": [f"CVE-2099-{i:06d}"],
            "summary": f"synthetic flaw {i} in {name}",
            "details": "A synthetic vulnerability for the scan benchmark. " * 6,
            "severity": [{"type": "CVSS_V3", "score": random.choice(vectors)}],
            "affected": [{"package": {"ecosystem": eco, "name": name},
                          "ranges": [{"type": "ECOSYSTEM" if eco.startswith("Debian") else "SEMVER", "events": events}]}],
            "references": [{"type": "ADVISORY", "url": f"https://security-tracker.debian.org/tracker/CVE-2099-{i:06d}"}],
        }
        if i % 500 == 0:
            rec["withdrawn"] = "2025-07-01T00:00:00Z"
        z.writestr(f"{rid}.json", json.dumps(rec))
PY
zip_mb=$(du -m "$TMP/osv.zip" | cut -f1)

t0=$(now)
bt scan db import "$TMP/osv.zip" >"$TMP/import.out"
t1=$(now)
import_s=$(elapsed "$t0" "$t1")
rate=$(python3 -c "print(int($RECORDS / $import_s))")

t0=$(now)
bt scan debian:bookworm >"$TMP/cold.out"
t1=$(now)
cold_s=$(elapsed "$t0" "$t1")
findings=$(head -n 1 "$TMP/cold.out")
head -n 14 "$TMP/cold.out" | cut -c1-160 >&2

: >"$TMP/warm"
for _ in $(seq "$WARM"); do
    t0=$(now)
    bt scan debian:bookworm >/dev/null
    t1=$(now)
    elapsed "$t0" "$t1" >>"$TMP/warm"
done
warm_s=$(median <"$TMP/warm")

printf '%-44s %s\n' "OSV records (zip, MB)" "$RECORDS ($zip_mb MB)"
printf '%-44s %s s, %s records/s\n' "berth scan db import" "$import_s" "$rate"
printf '%-44s %s\n' "import summary" "$(cat "$TMP/import.out")"
printf '%-44s %s s\n' "berth scan debian:bookworm, cold" "$cold_s"
printf '%-44s %s s (median of %s)\n' "berth scan debian:bookworm, warm (cached)" "$warm_s" "$WARM"
printf '%-44s %s\n' "findings" "$findings"
