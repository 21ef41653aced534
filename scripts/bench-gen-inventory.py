#!/usr/bin/env python3
"""Writes a benchmark inventory of N devices: rows `127.a.b.c,device-K`, loopback addresses ONLY.

Usage: scripts/bench-gen-inventory.py N OUT.csv

Device K (1-based) gets address 127.0.0.1 + (K - 1) inside 127.0.0.0/8 (wrapping after 16,777,214 devices, so an
address can repeat but never leaves the loopback range); names are unique. The simulated source never connects to
these addresses, and nothing else here does either: they are loopback so that no inventory made by this script
can point traffic at a private or public network.
"""

import sys

SPAN = (1 << 24) - 2  # 127.0.0.1 ..= 127.255.255.254


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    n = int(sys.argv[1])
    if n < 0:
        print("N must be >= 0", file=sys.stderr)
        return 2
    chunk = 100_000
    with open(sys.argv[2], "w", buffering=1 << 20) as out:
        for start in range(1, n + 1, chunk):
            lines = []
            for k in range(start, min(start + chunk, n + 1)):
                a = (k - 1) % SPAN + 1
                lines.append(f"127.{a >> 16 & 255}.{a >> 8 & 255}.{a & 255},device-{k}\n")
            out.write("".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
