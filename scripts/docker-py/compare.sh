#!/usr/bin/env bash
# Compares two run.sh result dirs (see run.sh): counts per outcome on both daemons, the tests
# that pass on the first (dockerd) but fail/error on the second (berth) with their one-line
# reason, then the reverse, briefly. Tests absent from one run are listed too.
#   scripts/docker-py/compare.sh OUT_DOCKERD OUT_BERTH
set -euo pipefail
[ $# -eq 2 ] || { sed -n '2,5p' "$0" >&2; exit 2; }
exec python3 - "$1" "$2" <<'EOF'
import re
import sys
import xml.etree.ElementTree as ET


def load(d):
    res = {}
    for tc in ET.parse(f"{d}/junit.xml").getroot().iter("testcase"):
        name = f"{tc.get('classname')}::{tc.get('name')}"
        name = re.sub(r"^tests\.integration\.", "", name)
        status, reason = "passed", ""
        for kind in ("failure", "error", "skipped"):
            el = tc.find(kind)
            if el is not None:
                status = {"failure": "failed", "error": "error", "skipped": "skipped"}[kind]
                reason = one_line(el.get("message") or "", el.text or "")
                if kind == "skipped" and el.get("type") == "pytest.xfail":
                    # an xfail-marked test that failed; its error shows with --runxfail
                    reason = f"xfail: {reason}"
                break
        # An error in teardown after a failure: keep the failure.
        if name in res and res[name][0] == "failed":
            continue
        res[name] = (status, reason, float(tc.get("time") or 0))
    return res


def one_line(msg, text):
    msg = msg.strip()
    lines = [l for l in msg.splitlines() if l.strip()]
    first = lines[0] if lines else ""
    # pytest-timeout puts the whole stack dump in the message
    if first.startswith("Failed: Timeout"):
        return first
    if not first:
        elines = [l[2:] for l in text.splitlines() if l.startswith("E ")]
        tail = text.strip().splitlines()
        first = elines[0].strip() if elines else (tail[-1] if tail else "")
    # docker.errors.APIError: 500 Server Error for http+docker://localhost/v1.41/...: ... ("msg")
    first = re.sub(r"for http\+docker://localhost(/v[0-9.]+)?", "for ", first)
    return first[:400]


a_dir, b_dir = sys.argv[1], sys.argv[2]
a, b = load(a_dir), load(b_dir)


def counts(r):
    c = {"passed": 0, "failed": 0, "error": 0, "skipped": 0}
    for s, _, _ in r.values():
        c[s] += 1
    return c


print(f"{'':10} {'total':>6} {'passed':>7} {'failed':>7} {'error':>6} {'skipped':>8}")
for label, r in (("dockerd", a), ("berth", b)):
    c = counts(r)
    print(f"{label:10} {len(r):6} {c['passed']:7} {c['failed']:7} {c['error']:6} {c['skipped']:8}")

both_pass = sum(1 for n in a if a[n][0] == "passed" and b.get(n, ("",))[0] == "passed")
regress = sorted(n for n in a if a[n][0] == "passed" and b.get(n, ("missing",))[0] in ("failed", "error"))
skipped_b = sorted(n for n in a if a[n][0] == "passed" and b.get(n, ("missing",))[0] == "skipped")
missing = sorted(n for n in a if n not in b) + sorted(n for n in b if n not in a)
better = sorted(n for n in b if b[n][0] == "passed" and a.get(n, ("missing",))[0] in ("failed", "error"))
print(f"\npass on both: {both_pass}")
print(f"\n== pass on dockerd, fail/error on berth: {len(regress)}")
for n in regress:
    s, reason, _ = b[n]
    print(f"{n}  [{s}]\n    {reason}")
if skipped_b:
    print(f"\n== pass on dockerd, skipped/xfail on berth: {len(skipped_b)}")
    for n in skipped_b:
        print(f"{n}\n    {b[n][1]}")
print(f"\n== fail/error on dockerd, pass on berth: {len(better)}")
for n in better:
    print(f"{n}\n    dockerd: {a[n][1]}")
if missing:
    print(f"\n== in one run only: {len(missing)}")
    for n in missing:
        print(f"{n}  dockerd={a.get(n, ('-',))[0]} berth={b.get(n, ('-',))[0]}")
EOF
