#!/usr/bin/env python3
"""Usage: scripts/check-sinks-100k.py path/to/app [N]   (Debian: prometheus, victoria-metrics, influxdb)

Each sink delivers 100,000 records into its real server, and every series reads back complete and exact:
fresh Prometheus, VictoriaMetrics and InfluxDB 1.6 in a temp dir on loopback ports, `app etl` with 100,000
simulated devices (1 CPU each), then every device's five values compared with the simulated source's."""
import json, os, shutil, signal, socket, subprocess, sys, tempfile, time, urllib.parse, urllib.request

APP = sys.argv[1]
N = int(sys.argv[2]) if len(sys.argv) > 2 else 100_000
T = tempfile.mkdtemp(prefix="sinks100k-")
procs = []

def port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p

def start(args, ready):
    p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    procs.append(p)
    for _ in range(300):
        try:
            urllib.request.urlopen(ready, timeout=1); return p
        except Exception:
            time.sleep(0.1)
    raise SystemExit(f"not ready: {ready}")

def get(url, **q):
    with urllib.request.urlopen(url + "?" + urllib.parse.urlencode(q), timeout=120) as r:
        return json.load(r)

def expected():
    # the simulated source's values, from the binary itself: --dry-run prints the records
    out = subprocess.run([APP, "etl", "--config", f"{T}/c.toml", "--dry-run", "--quiet"], capture_output=True, check=True).stdout
    exp = {}
    for line in out.decode().splitlines():
        r = json.loads(line)
        exp[r["name"]] = {i["name"]: i["value"] for i in r["indicators"]}
    return exp

subprocess.run([APP, "generate-inventory", "--devices", str(N), f"{T}/inv.csv"], check=True, capture_output=True)
open(f"{T}/c.toml", "w").write(f'[inventory]\npath = "{T}/inv.csv"\n[extract]\nconcurrency = 1000\n[extract.simulated]\nlatency_ms = 0\njitter_ms = 0\n[log]\nlevel = "warn"\nfile = ""\n')
exp = expected()
assert len(exp) == N, len(exp)

def etl(sink, endpoint, name):
    t0 = time.time()
    r = subprocess.run([APP, "etl", "--config", f"{T}/c.toml", "--sink", sink, "--endpoint", endpoint, "--quiet",
                        "--spool-dir", f"{T}/spool-{name}", "--summary-json", f"{T}/{name}.json"], capture_output=True)
    s = json.load(open(f"{T}/{name}.json"))
    print(f"{name}: exit {r.returncode}, {s['records']['loaded']} loaded in {time.time() - t0:.1f} s")
    assert r.returncode == 0 and s["records"]["loaded"] == N, r.stderr[-2000:]

def check_promql(base, metric_of, name):
    bad = 0
    for ind in ["utilization", "nice", "user", "system", "irq"]:
        res = get(base + "/api/v1/query", query=metric_of(ind))["data"]["result"]
        got = {r["metric"]["device"]: float(r["value"][1]) for r in res}
        assert len(res) == N and len(got) == N, (name, ind, len(res))
        bad += sum(1 for d, v in got.items() if v != exp[d][ind])
    print(f"{name}: {N} devices x 5 series read back, {bad} values differ")
    assert bad == 0

try:
    # Prometheus
    pp = port(); open(f"{T}/prom.yml", "w").write("global:\n  scrape_interval: 1h\n")
    start(["prometheus", f"--config.file={T}/prom.yml", f"--storage.tsdb.path={T}/prom", f"--web.listen-address=127.0.0.1:{pp}",
           "--web.enable-remote-write-receiver"], f"http://127.0.0.1:{pp}/-/ready")
    etl("prometheus-remote-write", f"http://127.0.0.1:{pp}/api/v1/write", "prometheus")
    check_promql(f"http://127.0.0.1:{pp}", lambda i: f"appliance_cpu_{i}_percent", "prometheus")
    # VictoriaMetrics, both sinks
    vp = port()
    start(["victoria-metrics", f"-storageDataPath={T}/vm", f"-httpListenAddr=127.0.0.1:{vp}", "-dedup.minScrapeInterval=1ms",
           "-search.latencyOffset=0s", "-search.disableCache", "-search.maxUniqueTimeseries=1000000"], f"http://127.0.0.1:{vp}/health")
    etl("prometheus-remote-write", f"http://127.0.0.1:{vp}/api/v1/write", "vm-remote-write")
    etl("influx-line", f"http://127.0.0.1:{vp}/write?db=k", "vm-influx-line")
    time.sleep(3)
    check_promql(f"http://127.0.0.1:{vp}", lambda i: f"appliance_cpu_{i}_percent", "vm-remote-write")
    check_promql(f"http://127.0.0.1:{vp}", lambda i: f"appliance_cpu_{i}", "vm-influx-line")
    # InfluxDB 1.6
    ip, rp = port(), port()
    open(f"{T}/influx.conf", "w").write(f'reporting-disabled = true\nbind-address = "127.0.0.1:{rp}"\n[meta]\n  dir = "{T}/i/meta"\n[data]\n  dir = "{T}/i/data"\n  wal-dir = "{T}/i/wal"\n  query-log-enabled = false\n[http]\n  bind-address = "127.0.0.1:{ip}"\n  log-enabled = false\n  max-row-limit = 0\n[monitor]\n  store-enabled = false\n')
    start(["influxd", "-config", f"{T}/influx.conf"], f"http://127.0.0.1:{ip}/ping")
    urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{ip}/query?q=CREATE+DATABASE+k", method="POST"))
    etl("influx-line", f"http://127.0.0.1:{ip}/write?db=k", "influxdb")
    v = get(f"http://127.0.0.1:{ip}/query", db="k", q="SELECT * FROM appliance_cpu")
    s = v["results"][0]["series"][0]; cols = s["columns"]
    rows = s["values"]; dev = cols.index("device")
    bad = sum(1 for row in rows for ind in ["utilization", "nice", "user", "system", "irq"] if row[cols.index(ind)] != exp[row[dev]][ind])
    print(f"influxdb: {len(rows)} points, {len(set(r[dev] for r in rows))} devices, {bad} values differ")
    assert len(rows) == N and len(set(r[dev] for r in rows)) == N and bad == 0
    print("OK")
finally:
    for p in procs:
        p.send_signal(signal.SIGTERM)
    for p in procs:
        try: p.wait(timeout=30)
        except Exception: p.kill()
    shutil.rmtree(T, ignore_errors=True)
