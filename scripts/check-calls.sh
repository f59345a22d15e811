#!/usr/bin/env bash
# Fails when the library's source files call one another in a cycle (docs/architecture.md
# "Layout": calls go one way, core <- bus <- backends). Read from the compiled objects rather
# than the sources, so macros, inline helpers and function pointers taken by name all count, and
# nothing has to parse C:
#   an edge A -> B when A's object uses (nm -u) a global symbol B's object defines
#   (nm --defined-only -g); every strongly connected component of more than one file is a cycle.
# There is no allow-list: a cycle means two files are one module or the boundary is wrong.
#   scripts/check-calls.sh BUILD_DIR     (the flovyn target must be built in BUILD_DIR)
# Exit 0: no cycle; 1: cycles (each printed with the symbols on its edges); 2: usage/no objects.
set -uo pipefail

if [[ $# -ne 1 ]]; then
  echo "usage: $0 BUILD_DIR" >&2
  exit 2
fi
objdir="$1/CMakeFiles/flovyn.dir"
if [[ ! -d "$objdir" ]]; then
  echo "check-calls: $objdir not found; build the flovyn target first" >&2
  exit 2
fi

exec python3 - "$objdir" <<'PY'
import os, subprocess, sys
from collections import deque

objdir = sys.argv[1]

found = []
for d, _, files in os.walk(objdir):
    for f in files:
        if f.endswith(".o"):
            found.append(os.path.relpath(os.path.join(d, f), objdir))
found.sort()

# CMake never deletes the object of a source that moved or left the target, so with the Makefile
# generator keep only the objects the archive is built from (link.txt); otherwise take them all.
link = os.path.join(objdir, "link.txt")
if os.path.exists(link):
    with open(link) as fh:
        words = (w.strip("\"'") for w in fh.read().split())  # CMake quotes some paths
        listed = {os.path.normpath(w).split("flovyn.dir/", 1)[-1]
                  for w in words if w.endswith(".o")}
    stale = [o for o in found if o not in listed]
    found = [o for o in found if o in listed]
    if stale:
        print("check-calls: skipping %d object(s) not in the flovyn target: %s"
              % (len(stale), ", ".join(stale)))
if not found:
    sys.stderr.write("check-calls: no object files under %s; build the flovyn target first\n"
                     % objdir)
    sys.exit(2)

def nm(args, obj):
    r = subprocess.run(["nm"] + args + [os.path.join(objdir, obj)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        sys.stderr.write("check-calls: nm failed on %s: %s" % (obj, r.stderr))
        sys.exit(2)
    # the symbol is the last field of both "addr T name" and "U name"
    return {line.split()[-1] for line in r.stdout.splitlines() if line.strip()}

name = {o: o[:-2] for o in found}  # "bridge/src/core/buf.c.o" -> "bridge/src/core/buf.c"
defines, uses = {}, {}
for o in found:
    defines[o] = nm(["--defined-only", "-g"], o)
    uses[o] = nm(["-u"], o)

owner = {}
for o in found:
    for s in defines[o]:
        owner.setdefault(s, set()).add(o)

# edges[a][b] = the symbols of b that a uses
edges = {o: {} for o in found}
for a in found:
    for s in uses[a]:
        for b in owner.get(s, ()):
            if b != a:
                edges[a].setdefault(b, set()).add(s)

# Tarjan's strongly connected components, iterative (no recursion limit to meet)
index, low, on, stack, sccs, counter = {}, {}, set(), [], [], 0
for root in found:
    if root in index:
        continue
    work = [(root, iter(sorted(edges[root])))]
    index[root] = low[root] = counter; counter += 1
    stack.append(root); on.add(root)
    while work:
        v, it = work[-1]
        advanced = False
        for w in it:
            if w not in index:
                index[w] = low[w] = counter; counter += 1
                stack.append(w); on.add(w)
                work.append((w, iter(sorted(edges[w]))))
                advanced = True
                break
            if w in on:
                low[v] = min(low[v], index[w])
        if advanced:
            continue
        work.pop()
        if work:
            low[work[-1][0]] = min(low[work[-1][0]], low[v])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop(); on.discard(w); comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                sccs.append(sorted(comp))

def shortest_cycle(start, members):
    # breadth-first from start back to start, inside one component
    prev, q = {start: None}, deque([start])
    while q:
        v = q.popleft()
        for w in sorted(edges[v]):
            if w not in members:
                continue
            if w == start:
                path = [v]
                while prev[path[-1]] is not None:
                    path.append(prev[path[-1]])
                path.reverse()
                return path + [start]
            if w not in prev:
                prev[w] = v; q.append(w)
    return None

def syms(a, b):
    s = sorted(edges[a][b])
    return ", ".join(s[:4]) + (", ... (%d symbols)" % len(s) if len(s) > 4 else "")

if not sccs:
    print("layering: %d library files, no call cycle" % len(found))
    sys.exit(0)

# one shortest cycle through each file of a component names every file in it, with the symbols
# that make each edge, which is what a reader needs to cut it
ncycles = 0
for comp in sorted(sccs, key=lambda c: (-len(c), c)):
    members, seen = set(comp), set()
    if len(comp) > 2:
        print("call cycle among %d files: %s" % (len(comp), ", ".join(name[o] for o in comp)))
    for o in comp:
        cyc = shortest_cycle(o, members)
        # the same cycle found from another of its files: compare rotations
        i = cyc.index(min(cyc[:-1]))
        key = tuple(cyc[i:-1] + cyc[:i])
        if key in seen:
            continue
        seen.add(key)
        ncycles += 1
        print("call cycle: " + " -> ".join(name[x] for x in cyc))
        for a, b in zip(cyc, cyc[1:]):
            print("    %s -> %s: %s" % (name[a], name[b], syms(a, b)))
nfiles = sum(len(c) for c in sccs)
print("layering: %d library files, %d call cycle(s) among %d files; calls must go one way "
      "(docs/architecture.md \"Layout\")" % (len(found), ncycles, nfiles))
sys.exit(1)
PY
