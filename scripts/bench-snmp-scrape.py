#!/usr/bin/env python3
"""Scrapes prometheus-snmp-exporter for every device of an inventory, SAMPLES times each, with a bounded number of
concurrent keep-alive connections: the peer of the `snmp` case of scripts/bench.sh.

Usage: scripts/bench-snmp-scrape.py EXPORTER_ADDR MODULE SNMP_PORT INVENTORY.csv [CONCURRENCY [SAMPLES [LIMIT_S]]]

EXPORTER_ADDR is host:port of the exporter (it must be on 127.0.0.0/8); every target is `IP:SNMP_PORT` for an IP of
the inventory (which must be in 127.0.0.0/8 too: this script refuses anything else). Each device is scraped SAMPLES
times (default 2, the two samples a rate needs), pass after pass; the run stops after LIMIT_S seconds (default 600)
whatever is left. Prints one line of `key=value` pairs: scrapes, ok, failed (HTTP error, or an answer without
ssCpuRawIdle or hrProcessorLoad), wall_s, scrapes_per_s, devices_per_s (devices whose every sample succeeded, per
second of wall).
"""

import http.client
import ipaddress
import sys
import threading
import time


def main() -> int:
    if len(sys.argv) < 5:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    addr, module, port, inventory = sys.argv[1:5]
    concurrency = int(sys.argv[5]) if len(sys.argv) > 5 else 64
    samples = int(sys.argv[6]) if len(sys.argv) > 6 else 2
    limit_s = float(sys.argv[7]) if len(sys.argv) > 7 else 600.0
    host, _, hport = addr.rpartition(":")
    if not ipaddress.ip_address(host).is_loopback:
        print(f"exporter {host} is not on loopback", file=sys.stderr)
        return 2
    ips = []
    with open(inventory) as f:
        for line in f:
            ip = line.split(",", 1)[0].strip()
            if not ip:
                continue
            if not ipaddress.ip_address(ip).is_loopback:
                print(f"inventory address {ip} is not on loopback", file=sys.stderr)
                return 2
            ips.append(ip)
    deadline = time.monotonic() + limit_s
    lock = threading.Lock()
    next_job = [0]
    total = len(ips) * samples
    ok_per_device = [0] * len(ips)
    counts = {"scrapes": 0, "ok": 0, "failed": 0}

    def worker() -> None:
        conn = http.client.HTTPConnection(host, int(hport), timeout=30)
        while time.monotonic() < deadline:
            with lock:
                job = next_job[0]
                if job >= total:
                    break
                next_job[0] += 1
            i = job % len(ips)  # pass after pass: every device once, then every device again
            path = f"/snmp?target={ips[i]}:{port}&module={module}"
            good = False
            try:
                conn.request("GET", path)
                resp = conn.getresponse()
                body = resp.read()
                good = resp.status == 200 and (b"\nssCpuRawIdle " in body or b"\nhrProcessorLoad{" in body)
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection(host, int(hport), timeout=30)
            with lock:
                counts["scrapes"] += 1
                counts["ok" if good else "failed"] += 1
                if good:
                    ok_per_device[i] += 1
        conn.close()

    t0 = time.monotonic()
    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()) + 60)
    wall = time.monotonic() - t0
    complete = sum(1 for n in ok_per_device if n >= samples)
    print(
        f"scrapes={counts['scrapes']} ok={counts['ok']} failed={counts['failed']} wall_s={wall:.2f} "
        f"scrapes_per_s={counts['scrapes'] / wall:.0f} devices_per_s={complete / wall:.0f} devices={complete}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
