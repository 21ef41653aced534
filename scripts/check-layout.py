#!/usr/bin/env python3
"""Fails on an import cycle between the crate's modules, and on a top-level module that uses one it may not.

Reads every `crate::a::b` path in src/ (use lines and inline paths, test code included; comments skipped) and
builds two graphs:
- top-level modules (`src/x.rs` or `src/x/`): must be acyclic, and follow the layer order of src/lib.rs's
  Layout section (a module may use only modules of lower layers; `commands` may use all);
- files (each `.rs` file as a module): must be acyclic apart from a `mod.rs` and its own children (a parent
  declares its children and may re-export them; a child using its parent's items is the ordinary Rust shape).

Usage: scripts/check-layout.py [SRC_DIR]   (exit 0 clean, 1 with the cycles or upward uses printed)
"""
import os
import re
import sys

# The layers, lowest first, are read from src/lib.rs, the one list: the bullets `//! - `name`: …` of its
# "# Layout" section, in order. A module may use modules of strictly lower layers (and itself); `commands` may
# use all. Every `pub mod` of lib.rs must have its bullet, and every bullet its `pub mod`.
LAYER_RE = re.compile(r"^//! - `([a-z_][a-z0-9_]*)`:")
MOD_RE = re.compile(r"^pub mod ([a-z_][a-z0-9_]*);")


def read_layers(lib_rs):
    """(layers lowest first, the crate's `pub mod` names) from lib.rs."""
    layers, mods, in_layout = [], [], False
    for line in open(lib_rs, encoding="utf-8").read().splitlines():
        if line.startswith("//! #"):
            in_layout = line.strip() == "//! # Layout"
            continue
        m = LAYER_RE.match(line)
        if m and in_layout:
            layers.append(m.group(1))
        m = MOD_RE.match(line)
        if m:
            mods.append(m.group(1))
    return layers, mods


ROOTS = {"lib.rs", "main.rs"}

PATH_RE = re.compile(r"\bcrate::([a-z_][a-z0-9_]*(?:::[a-z_][a-z0-9_]*)*)")
GROUP_RE = re.compile(r"\bcrate::\{([^}]*)\}")


def strip_comments(text):
    out = []
    for line in text.splitlines():
        s = line.lstrip()
        if s.startswith("//"):
            continue
        out.append(line.split(" //")[0])
    return "\n".join(out)


def module_of(rel):
    """`actors/loader.rs` -> ("actors", "actors::loader"); `actors/mod.rs` -> ("actors", "actors")."""
    parts = rel[:-3].split(os.sep)
    if parts[-1] == "mod":
        parts = parts[:-1]
    return parts[0], "::".join(parts)


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "src")
    files = {}
    for dirpath, _, names in os.walk(src):
        for n in names:
            if n.endswith(".rs"):
                rel = os.path.relpath(os.path.join(dirpath, n), src)
                if rel in ROOTS:
                    continue
                files[rel] = open(os.path.join(dirpath, n), encoding="utf-8").read()
    modules = {module_of(rel)[1] for rel in files}
    layers, mods = read_layers(os.path.join(src, "lib.rs"))
    layer = {m: i for i, m in enumerate(layers)}
    problems = []
    if not layers:
        problems.append(f"src/lib.rs: no layer list (bullets `//! - `name`: …` under `//! # Layout`)")
    for m in sorted(set(mods) - set(layers)):
        problems.append(f"src/lib.rs: `pub mod {m};` has no bullet in the Layout section (its layer)")
    for m in sorted(set(layers) - set(mods)):
        problems.append(f"src/lib.rs: the Layout section lists `{m}`, which is not a `pub mod`")

    top_edges = {}
    file_edges = {}
    for rel, text in files.items():
        top, me = module_of(rel)
        if top not in layer:
            problems.append(f"src/{rel}: top-level module `{top}` is not in the layer list of src/lib.rs")
            continue
        text = strip_comments(text)
        paths = [m.group(1) for m in PATH_RE.finditer(text)]
        for g in GROUP_RE.finditer(text):
            paths += [p.strip().split("::")[0] for p in g.group(1).split(",") if p.strip()]
        for p in paths:
            parts = p.split("::")
            # The longest prefix that names a module (a file) of the crate.
            target = None
            for k in range(len(parts), 0, -1):
                cand = "::".join(parts[:k])
                if cand in modules:
                    target = cand
                    break
            if target is None:
                continue
            ttop = target.split("::")[0]
            if ttop != top:
                top_edges.setdefault(top, {}).setdefault(ttop, f"src/{rel}: crate::{p}")
                if top != "commands" and layer.get(ttop, -1) >= layer[top]:
                    problems.append(f"src/{rel}: `{top}` uses `crate::{p}`, which is not below it")
            if target != me and not (target.startswith(me + "::") or me.startswith(target + "::")):
                file_edges.setdefault(me, {}).setdefault(target, f"src/{rel}: crate::{p}")

    for name, edges in (("top-level modules", top_edges), ("files", file_edges)):
        for cycle in find_cycles(edges):
            hops = [edges[a][b] for a, b in zip(cycle, cycle[1:] + cycle[:1])]
            problems.append(f"import cycle between {name}: {' -> '.join(cycle + cycle[:1])}\n    " +
                            "\n    ".join(hops))
    if problems:
        print("check-layout: FAIL")
        for p in problems:
            print(f"- {p}")
        return 1
    print(f"check-layout: ok ({len(files)} files, {len(top_edges)} top-level modules with uses, no cycle)")
    return 0


def find_cycles(edges):
    """One cycle per strongly connected component of more than one node (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, {}):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(path_in(comp, edges))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def path_in(comp, edges):
    """A cycle through the component's first node, staying inside it (breadth-first back to the start)."""
    members = set(comp)
    start = sorted(comp)[0]
    prev = {start: None}
    queue = [start]
    while queue:
        v = queue.pop(0)
        for w in sorted(edges.get(v, {})):
            if w == start:
                path = [v]
                while prev[path[-1]] is not None:
                    path.append(prev[path[-1]])
                return list(reversed(path))
            if w in members and w not in prev:
                prev[w] = v
                queue.append(w)
    return sorted(comp)


if __name__ == "__main__":
    sys.exit(main())
