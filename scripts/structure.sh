#!/usr/bin/env bash
# Prints the structure that issue 12 measured: the workspace crates and the
# workspace crates each depends on, the module-level imports inside each crate
# with the import cycles (strongly connected components of more than one
# module), and the largest source files.
#
#   scripts/structure.sh [DIR]    DIR: a checkout (default: this repository)
#
# To compare with an older commit: git worktree add /tmp/old REV && scripts/structure.sh /tmp/old
set -euo pipefail
DIR="$(cd "${1:-$(dirname "$0")/..}" && pwd)"
cd "$DIR"
cargo metadata --format-version 1 --no-deps --offline 2>/dev/null | python3 -c '
import json, sys
m = json.load(sys.stdin)
names = {p["name"] for p in m["packages"]}
print("## crates (workspace dependencies, dev-dependencies excluded)")
for p in sorted(m["packages"], key=lambda p: p["name"]):
    deps = sorted({d["name"] for d in p["dependencies"] if d["name"] in names and d.get("kind") is None and d["name"] != p["name"]})
    print("%-12s -> %s" % (p["name"], ", ".join(deps) or "-"))
'
python3 - "$DIR" <<'PY'
import os, re, sys
root = sys.argv[1]
crates = sorted(os.listdir(os.path.join(root, "crates")))
print("\n## modules: imports between top-level modules of each crate (crate::x), and cycles")
for crate in crates:
    src = os.path.join(root, "crates", crate, "src")
    if not os.path.isdir(src):
        continue
    # Two graphs: every import, and the imports of production code only
    # (test files, `#[cfg(test)] mod tests` blocks and comments left out):
    # a cycle only tests close is not one the code has to live with.
    edges, prod = {}, {}
    for dirpath, _, files in os.walk(src):
        for f in files:
            if not f.endswith(".rs"):
                continue
            rel = os.path.relpath(os.path.join(dirpath, f), src)
            top = rel.split(os.sep)[0]
            top = top[:-3] if top.endswith(".rs") else top
            if top in ("lib", "main"):
                continue
            text = open(os.path.join(dirpath, f), encoding="utf-8", errors="replace").read()
            is_test = f == "tests.rs" or f.endswith("_tests.rs") or "testutil" in rel
            code = re.split(r"#\[cfg\(test\)\]\s*mod tests", text)[0]
            code = "\n".join(l for l in code.split("\n") if not l.strip().startswith("//"))
            for graph, body in ((edges, text), (prod, "" if is_test else code)):
                graph.setdefault(top, set())
                for dep in re.findall(r"\bcrate::(\w+)", body):
                    if dep != top and (os.path.exists(os.path.join(src, dep + ".rs")) or os.path.isdir(os.path.join(src, dep))):
                        graph[top].add(dep)
    def cycles(g):
        # Tarjan's strongly connected components.
        index, low, stack, on, sccs, n = {}, {}, [], set(), [], [0]
        def visit(v):
            index[v] = low[v] = n[0]; n[0] += 1; stack.append(v); on.add(v)
            for w in g.get(v, ()):
                if w not in index:
                    visit(w); low[v] = min(low[v], low[w])
                elif w in on:
                    low[v] = min(low[v], index[w])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop(); on.discard(w); comp.append(w)
                    if w == v: break
                if len(comp) > 1: sccs.append(sorted(comp))
        for v in sorted(g):
            if v not in index: visit(v)
        return sccs
    sys.setrecursionlimit(10000)
    all_cycles, prod_cycles = cycles(edges), cycles(prod)
    nedges = sum(len(d) for d in edges.values())
    print(f"\n### {crate}: {len(edges)} modules, {nedges} import edges, {len(prod_cycles)} cycle(s) in production code, {len(all_cycles)} counting tests")
    for comp in prod_cycles:
        print(f"  cycle of {len(comp)}: {' '.join(comp)}")
    for comp in all_cycles:
        if comp not in prod_cycles:
            print(f"  (with tests) cycle of {len(comp)}: {' '.join(comp)}")
    if crate == "engine":
        for v in sorted(edges):
            print(f"  {v:<16} -> {' '.join(sorted(edges[v])) or '-'}")
print("\n## largest source files (lines)")
files = []
for dirpath, _, fs in os.walk(os.path.join(root, "crates")):
    for f in fs:
        if f.endswith(".rs"):
            p = os.path.join(dirpath, f)
            files.append((sum(1 for _ in open(p, encoding="utf-8", errors="replace")), os.path.relpath(p, root)))
for count, p in sorted(files, reverse=True)[:15]:
    print(f"{count:>6}  {p}")
print(f"\n{len(files)} files, {sum(c for c, _ in files)} lines")
PY
