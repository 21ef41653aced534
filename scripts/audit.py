#!/usr/bin/env python3
"""Checks Cargo.lock against a local copy of the RustSec advisory database (what `cargo audit --db DB --no-fetch`
does for vulnerabilities and informational advisories, without compiling cargo-audit: see docs/SECURITY.md,
"Dependencies", for what installing it would cost CI).

    python3 scripts/audit.py [--db DIR] [--lock Cargo.lock] [--ignore .cargo/audit.toml]

For every crates.io package in the lock file, every advisory of `DB/crates/<name>/*.md` (its TOML front matter) that
is not withdrawn applies when the locked version matches none of `versions.patched` and none of
`versions.unaffected`. Version requirements follow Rust's semver crate (the one cargo-audit uses): comma-separated
comparators `=`, `>`, `>=`, `<`, `<=`, `~`, `^` or bare (caret), partial versions (`>= 0.4`, `< 2`), wildcards; a
pre-release version matches only a comparator naming a pre-release of the same major.minor.patch.

An advisory applies -> listed; the script fails unless its id is in the ignore file's `advisories.ignore` (the
format of cargo-audit's `.cargo/audit.toml`, so both tools share it), and every ignored id must have a reason: a
comment line naming it in that file. Informational advisories (unmaintained, unsound, notice) count like
vulnerabilities: each one is either fixed or ignored with its reason. An ignored id that no longer applies is
reported (stale), not failed. Exit 0: nothing unignored; 1: advisories to fix; 2: bad input.
"""
import argparse
import os
import re
import sys
import tomllib

VERSION_RE = re.compile(r"^(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$")
COMPARATOR_RE = re.compile(r"^(=|>=|>|<=|<|~|\^)?\s*(\d+|\*|x|X)(?:\.(\d+|\*|x|X))?(?:\.(\d+|\*|x|X))?"
                           r"(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$")


def parse_version(text):
    m = VERSION_RE.match(text.strip())
    if not m:
        raise ValueError(f"not a version: {text!r}")
    return (int(m[1]), int(m[2]), int(m[3])), tuple(m[4].split(".")) if m[4] else ()


def pre_key(pre):
    """semver precedence of a pre-release (no pre-release sorts after every pre-release)."""
    if not pre:
        return (1,)
    return (0,) + tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in pre)


def key(version):
    triple, pre = version
    return triple, pre_key(pre)


def comparator(text):
    """One comparator -> (list of (op, version) bounds, the pre-release triple it names or None)."""
    m = COMPARATOR_RE.match(text.strip())
    if not m:
        raise ValueError(f"not a version requirement: {text!r}")
    op = m[1] or "^"
    parts = [p for p in (m[2], m[3], m[4]) if p is not None]
    wild = [p in ("*", "x", "X") for p in parts]
    if any(wild):
        parts = parts[:wild.index(True)]
        if op not in ("^", "="):
            raise ValueError(f"a wildcard with {op}: {text!r}")
        op = "="  # 1.* is =1
    nums = [int(p) for p in parts]
    pre = tuple(m[5].split(".")) if m[5] else ()
    n = len(nums)
    full = tuple(nums + [0] * (3 - n))
    low = (full, pre)
    named = full if pre else None

    def upper(i):  # the next version after bumping component i of the given ones
        bumped = nums[:i] + [nums[i] + 1]
        return (tuple(bumped + [0] * (3 - len(bumped))), ("0",))  # below every x.y.z-pre

    if n == 0:
        return [], named
    if op == "=":
        if n == 3:
            return [("==", low)], named
        return [(">=", (full, ())), ("<", upper(n - 1))], named
    if op == ">":
        if n == 3:
            return [(">", low)], named
        return [(">=", upper(n - 1))], named
    if op == ">=":
        return [(">=", low)], named
    if op == "<":
        return [("<", low if n == 3 else (full, ("0",)))], named
    if op == "<=":
        if n == 3:
            return [("<=", low)], named
        return [("<", upper(n - 1))], named
    if op == "~":
        return [(">=", low), ("<", upper(min(n - 1, 1)))], named
    # caret
    if n == 1 or nums[0] > 0:
        i = 0
    elif n == 2 or nums[1] > 0:
        i = 1
    else:
        i = 2
    return [(">=", low), ("<", upper(i))], named


def matches(req, version):
    """Whether `version` (parsed) satisfies the requirement text `req` (comma-separated comparators)."""
    bounds, named = [], []
    for part in req.split(","):
        if part.strip() in ("", "*"):
            continue
        b, n = comparator(part)
        bounds += b
        if n:
            named.append(n)
    v = key(version)
    for op, bound in bounds:
        b = key(bound)
        ok = {"==": v == b, ">": v > b, ">=": v >= b, "<": v < b, "<=": v <= b}[op]
        if not ok:
            return False
    triple, pre = version
    # A pre-release matches only when a comparator names a pre-release of the same major.minor.patch.
    return not pre or triple in named


def advisory(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    m = re.search(r"```toml\n(.*?)\n```", text, re.S)
    if not m:
        raise ValueError(f"{path}: no TOML front matter")
    return tomllib.loads(m[1])


def self_test():
    """The requirement grammar against cases worked out from the semver crate's rules."""
    cases = [
        (">= 0.4.16", "0.3.27", False), (">= 0.4.16", "0.4.16", True), (">= 0.4.16", "1.0.0", True),
        ("< 0.3.0", "0.2.9", True), ("< 0.3.0", "0.3.0", False), (">= 0.2.1, < 0.3.0", "0.2.5", True),
        (">= 0.2.1, < 0.3.0", "0.3.0", False), ("< 0.3.0, >= 0.2.1", "0.2.0", False),
        ("^1.2.3", "1.9.0", True), ("^1.2.3", "2.0.0", False), ("^1.2.3", "1.2.2", False),
        ("1.2.3", "1.4.0", True), ("^0.2.3", "0.2.9", True), ("^0.2.3", "0.3.0", False),
        ("^0.0.3", "0.0.3", True), ("^0.0.3", "0.0.4", False), ("~1.2.3", "1.2.9", True), ("~1.2.3", "1.3.0", False),
        ("=1.2.3", "1.2.3", True), ("=1.2.3", "1.2.4", False), ("> 1.2.3", "1.2.3", False), ("> 1.2.3", "1.2.4", True),
        ("<= 1.2.3", "1.2.3", True), (">= 0.4", "0.4.0", True), ("< 0.4", "0.3.99", True), ("< 0.4", "0.4.0", False),
        (">= 2", "2.0.0", True), ("> 1.2", "1.2.9", False), ("> 1.2", "1.3.0", True), ("<= 1.2", "1.2.7", True),
        ("1.*", "1.7.0", True), ("1.*", "2.0.0", False),
        # a pre-release matches only a comparator naming the same major.minor.patch with a pre-release
        (">= 0.9.0", "1.0.0-alpha.1", False), (">= 1.0.0-alpha.1", "1.0.0-alpha.2", True),
        (">= 1.0.0-alpha.2", "1.0.0-alpha.1", False), (">= 1.0.0-alpha.1", "1.0.0", True),
        ("< 1.0.0-rc.1", "1.0.0-beta.3", True), ("< 1.0.0", "1.0.0-beta.3", False), ("< 1.0.0-rc.1, >= 0.9.0", "0.9.5", True),
        (">= 1.0.0-alpha.10", "1.0.0-alpha.9", False), (">= 1.0.0-beta.1", "1.0.0-alpha.9", False),
    ]
    bad = [(r, v, want) for r, v, want in cases if matches(r, parse_version(v)) != want]
    for r, v, want in bad:
        print(f"audit self-test: {v} against {r!r} should be {want}", file=sys.stderr)
    print(f"audit self-test: {len(cases) - len(bad)} of {len(cases)} version cases right")
    return 1 if bad else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(here)
    ap.add_argument("--db", default=os.path.join(root, "..", "shared", "rustsec-advisory-db"))
    ap.add_argument("--lock", default=os.path.join(root, "Cargo.lock"))
    ap.add_argument("--ignore", default=os.path.join(root, ".cargo", "audit.toml"))
    ap.add_argument("--self-test", action="store_true", help="check the version matching on known cases, then exit")
    args = ap.parse_args()
    if args.self_test:
        return self_test()

    crates_dir = os.path.join(args.db, "crates")
    if not os.path.isdir(crates_dir):
        print(f"audit: no advisory database at {args.db} (crates/ missing)", file=sys.stderr)
        return 2
    snapshot = os.path.join(args.db, "SNAPSHOT")
    if os.path.exists(snapshot):
        print(f"audit: database {open(snapshot).read().strip()}")
    with open(args.lock, "rb") as f:
        lock = tomllib.load(f)
    ignore_ids, reasons = set(), {}
    if os.path.exists(args.ignore):
        with open(args.ignore, "rb") as f:
            ignore_ids = set(tomllib.load(f).get("advisories", {}).get("ignore", []))
        for line in open(args.ignore, encoding="utf-8"):
            if line.lstrip().startswith("#"):
                for rid in re.findall(r"RUSTSEC-\d{4}-\d{4}", line):
                    reasons.setdefault(rid, line.strip().lstrip("# "))
    unexplained = sorted(i for i in ignore_ids if i not in reasons)
    if unexplained:
        print(f"audit: {args.ignore}: ignored without a reason (a comment naming the id): {', '.join(unexplained)}",
              file=sys.stderr)
        return 2

    found, checked = [], 0
    for pkg in lock.get("package", []):
        if not str(pkg.get("source", "")).startswith("registry+"):
            continue
        checked += 1
        d = os.path.join(crates_dir, pkg["name"])
        if not os.path.isdir(d):
            continue
        version = parse_version(pkg["version"])
        for name in sorted(os.listdir(d)):
            if not name.endswith(".md"):
                continue
            a = advisory(os.path.join(d, name))
            info = a["advisory"]
            if info.get("withdrawn"):
                continue
            versions = a.get("versions", {})
            reqs = versions.get("patched", []) + versions.get("unaffected", [])
            if any(matches(r, version) for r in reqs):
                continue
            found.append((info["id"], pkg["name"], pkg["version"], info.get("informational", "vulnerability"),
                          versions.get("patched", [])))

    failed = 0
    for rid, name, version, kind, patched in found:
        fix = f"patched {', '.join(patched)}" if patched else "no fixed version"
        if rid in ignore_ids:
            print(f"audit: ignored {rid} {name} {version} ({kind}; {fix}): {reasons[rid]}")
        else:
            failed += 1
            print(f"audit: FAIL {rid} {name} {version} ({kind}; {fix}): update it, or ignore it in {args.ignore} "
                  f"with its reason")
    applying = {f[0] for f in found}
    for rid in sorted(ignore_ids - applying):
        print(f"audit: {rid} is ignored but no longer applies to Cargo.lock: remove it from {args.ignore}")
    print(f"audit: {checked} crates.io packages checked, {len(found)} advisories apply, {failed} not ignored")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
