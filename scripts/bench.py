#!/usr/bin/env python3
"""End-to-end benchmarks of `app etl` against `app mock-server` on this machine (loopback only).

  scripts/bench.py                  # the default cases: 1m, durable, slow-api, wrk
  scripts/bench.py --long           # also 10m, seed, 100k-1s, snmp, shards (BENCH_LONG=1 does the same)
  scripts/bench.py 1m seed          # just these cases (any of: 1m durable 10m seed 100k-1s slow-api wrk snmp
                                    # shards; or "all")
  scripts/bench.py shards           # 10M devices split into N = 1, 2, 4, 8 shards, the shards run one after another
  scripts/bench.py --sink NAME 1m   # the runs with load.sink = NAME (APP__LOAD__SINK)
  scripts/bench.py --scale 0.01 all # every case at 1 % of its devices: a quick check that each case runs
  scripts/bench.sh ...              # the same (a thin wrapper, cited by the docs)

`durable` is the 1m case with spool.durable = true (the write-ahead log in the run's spool directory). With 1m in the
same invocation the two are interleaved (1m run 1, durable run 1, 1m run 2, ...), so both see the same machine; its
target is at least half the 1m median's records/s. Its notes add the log's fdatasync count per second (the run's own
counter, summary `log.fsyncs`) and the batches written ahead.

Each case runs --repeat times (default 5) and the table printed at the end holds the MEDIAN of each column. Per run:
a fresh `app mock-server` (its own free port on 127.0.0.1, log level warn, no log file, no body preview) under
/usr/bin/time -v, then `app etl` under /usr/bin/time -v with its own spool directory and a TOML config in a temp dir;
then the mock is stopped with SIGTERM and its CPU (user+sys) and peak RSS are read from its time report.
  wall        elapsed time of the etl process (includes the inventory pre-check of inventory.on_invalid="fail",
              which reads the whole inventory once before the run, and the process start)
  records/s   records.loaded (from --summary-json) / wall
  CPU/record  (user+sys of the etl process) / records.loaded
  peak RSS    maximum resident set size of the etl process
  mock CPU    user+sys of the mock server over the run
The `shards` case (long) splits one inventory of --shards-devices devices into N = --shards-n shards and runs the
shards ONE AFTER ANOTHER (each has the machine to itself, as each pod would have its own node), each with
`--shard K/N`, its own spool, its own fresh mock, once each (--shards-repeat); first every shard over the one
inventory, then (N > 1) every shard over its own file of `app split-inventory` (the split timed apart, once per N).
Its tables: per N, the devices of each shard (within 1 % of total / N? the sum exactly the inventory?), each shard's
wall, ETL CPU per record and peak RSS against the N = 1 figures (within 10 %?).
The `wrk` case runs wrk (Debian package `wrk`; installed with apt-get when missing) against the mock's /load with
scripts/wrk-load.lua (a 200-record JSON body) for --wrk-duration seconds.
The `snmp` case (a long one) polls the mock SNMP fleet (`mock-server --snmp-port auto`, no faults; --snmp-vendor-share
of the devices Cisco, Juniper, Huawei or Fortinet personalities by address hash, the others net-snmp UCD) with the
ETL's snmp source (extract.snmp.mib = --snmp-mib: `ucd`, or `auto` for profiles chosen by sysObjectID), once per
configuration: --snmp-devices devices at --snmp-concurrency, the same at --snmp-concurrency2, and --snmp-devices2 at
--snmp-concurrency (descriptors flat in fleet size and concurrency), two samples each (sample_interval_ms 100: the
mock's counters move every 10 ms), load.max_connections = 16 (--load-max-connections N overrides it, 0 for one
connection per in-flight slot): devices/s, ETL CPU per device, peak RSS, peak open descriptors (/proc/PID/fd of
the etl process, sampled every 10 ms from its start, so short runs are sampled too; the notes say how many
samples) and how many of them were TCP sockets (its connections to the API), SNMP requests the mock answered.
With --snmp-mib auto each configuration runs twice: the "first run" (a fresh spool directory: every device
detected, one more round trip each) and "detection kept" (the same run again over the first run's spool
directory, whose snmp-detection.tsv names each device's profile and source: no detection round trip); --no-snmp-kept skips the second. --snmp-repeat runs the configurations that many times,
one after another, and the targets line takes the medians. Then the peer in the same run: Debian's
prometheus-snmp-exporter (installed with apt-get when missing) with the hand-written scripts/bench-snmp-exporter.yml
on 127.0.0.1 (UCD-SNMP-MIB only, so over an all-UCD fleet), scraped twice per device by scripts/bench-snmp-scrape.py
over --snmp-scrapers keep-alive connections (at most --snmp-exporter-limit s): its devices/s and CPU per device, and
the ratio of devices per CPU-second (--no-snmp-exporter skips it). Its table is printed after the main one. The
whole case (fleet, ETL, exporter, scraper) runs in a network namespace of its own that the script creates (`ip
netns add`, its loopback only; removed at exit; --no-snmp-netns runs it in the machine's namespace): on a host whose
firewall tracks connections (Docker's NAT rules load conntrack), every device's address is a connection-tracking
entry that lives 120 s, the kernel's table fills after ~260,000 devices and drops datagrams, and the tracking itself
costs ~15 % of the ETL's CPU. The namespace is a poller host without such a firewall; docs/PERFORMANCE.md has both
figures. Mixed fleet as in docs/PERFORMANCE.md:
  scripts/bench.py --no-build snmp --snmp-vendor-share 0.6 --snmp-mib auto --snmp-devices 100000

Results: the tables on stdout (and in --out), and every run as JSON with named fields in results.json of the temp
dir (and in --json PATH): {"machine", "cases", "runs": [{"case", "run", "wall_s", "records", "records_per_s",
"cpu_us_per_record", "rss_mib", "mock_cpu_s", "exit", "notes", ...}], "snmp": [...], "shards": [...],
"splits": [...]}.

Every option's default can also be set by the environment variable named in its help (BENCH_REPEAT=3, ...).
Network: every address used is on 127.0.0.0/8. Every server is started under `timeout` (hard bound) and stopped at
exit (also on SIGINT/SIGTERM); every wait loop is bounded.
"""

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / "target" / "release" / "app"
# The mock's route for each sink's wire format (`app mock-server`: src/mock/routes.rs); the default is /load.
SINK_ROUTES = {"ingest-json": "/load", "prometheus-remote-write": "/api/v1/write", "influx-line": "/write"}
ALL_CASES = ["1m", "durable", "10m", "seed", "100k-1s", "slow-api", "wrk", "snmp", "shards"]
LONG_CASES = {"10m", "seed", "100k-1s", "snmp", "shards"}
NPROC = os.cpu_count() or 1
CLK_TCK = os.sysconf("SC_CLK_TCK")


def env(name, default):
    return os.environ.get(name, default)


def parse_args(argv):
    global BIN
    p = argparse.ArgumentParser(
        prog="scripts/bench.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("cases", nargs="*", metavar="CASE", help=f"cases to run: {' '.join(ALL_CASES)}, or all")
    p.add_argument("--repeat", type=int, default=int(env("BENCH_REPEAT", "5")), help="runs per case (BENCH_REPEAT, 5)")
    p.add_argument("--long", action="store_true", default=env("BENCH_LONG", "0") == "1",
                   help="the default set includes the long cases 10m, seed, 100k-1s, snmp, shards (BENCH_LONG=1)")
    p.add_argument("--no-build", action="store_true", default=env("BENCH_NO_BUILD", "0") == "1",
                   help="skip `cargo build --release` (BENCH_NO_BUILD=1)")
    p.add_argument("--sink", default=env("BENCH_SINK", ""), metavar="NAME",
                   help="run the ETL with load.sink = NAME, through APP__LOAD__SINK, to the mock's route "
                        "of that format (BENCH_SINK; default: the configuration's)")
    p.add_argument("--scale", type=float, default=float(env("BENCH_SCALE", "1")),
                   help="multiply every case's device count by this (BENCH_SCALE, 1); below 1 for a quick check "
                        "that the cases run (the targets then mean nothing)")
    p.add_argument("--slow-devices", type=int, default=int(env("BENCH_SLOW_DEVICES", "200000")),
                   help="devices of the slow-api case (BENCH_SLOW_DEVICES, 200000: ~20 s at the 10,000 records/s "
                        "target)")
    p.add_argument("--wrk-duration", type=int, default=int(env("BENCH_WRK_DURATION", "10")),
                   help="seconds of each wrk run (BENCH_WRK_DURATION, 10)")
    p.add_argument("--wrk-connections", type=int, default=int(env("BENCH_WRK_CONNECTIONS", "64")),
                   help="BENCH_WRK_CONNECTIONS, 64")
    p.add_argument("--wrk-threads", type=int, default=int(env("BENCH_WRK_THREADS", "2")),
                   help="BENCH_WRK_THREADS, 2")
    p.add_argument("--shards-devices", type=int, default=int(env("BENCH_SHARDS_DEVICES", "10000000")),
                   help="devices of the shards case (BENCH_SHARDS_DEVICES, 10000000)")
    p.add_argument("--shards-n", default=env("BENCH_SHARDS_N", "1 2 4 8"),
                   help="the shard counts N, space-separated (BENCH_SHARDS_N, \"1 2 4 8\")")
    p.add_argument("--shards-repeat", type=int, default=int(env("BENCH_SHARDS_REPEAT", "1")),
                   help="BENCH_SHARDS_REPEAT, 1")
    p.add_argument("--snmp-devices", type=int, default=int(env("BENCH_SNMP_DEVICES", "100000")),
                   help="BENCH_SNMP_DEVICES, 100000")
    p.add_argument("--snmp-devices2", type=int, default=int(env("BENCH_SNMP_DEVICES2", "20000")),
                   help="BENCH_SNMP_DEVICES2, 20000")
    p.add_argument("--snmp-concurrency", type=int, default=int(env("BENCH_SNMP_CONCURRENCY", "8000")),
                   help="BENCH_SNMP_CONCURRENCY, 8000")
    p.add_argument("--snmp-concurrency2", type=int, default=int(env("BENCH_SNMP_CONCURRENCY2", "2000")),
                   help="BENCH_SNMP_CONCURRENCY2, 2000")
    p.add_argument("--snmp-vendor-share", type=float, default=float(env("BENCH_SNMP_VENDOR_SHARE", "0")),
                   help="share of the fleet's devices with a vendor personality (Cisco, Juniper, Huawei, Fortinet; "
                        "mock.snmp_vendor_share), the others net-snmp UCD (BENCH_SNMP_VENDOR_SHARE, 0; 0.6 is the "
                        "mixed fleet of docs/PERFORMANCE.md)")
    p.add_argument("--snmp-mib", choices=["auto", "ucd"], default=env("BENCH_SNMP_MIB", "ucd"),
                   help="extract.snmp.mib of the ETL (BENCH_SNMP_MIB, ucd): auto detects each device's profile "
                        "(needed for a vendor fleet), ucd reads UCD-SNMP-MIB only")
    p.add_argument("--no-snmp-kept", dest="snmp_kept", action="store_false",
                   default=env("BENCH_SNMP_KEPT", "1") == "1",
                   help="with --snmp-mib auto, every configuration also runs a second time over the first run's "
                        "spool directory, so with its detection file (snmp-detection.tsv): the \"detection kept\" "
                        "row beside the \"first run\" one; this skips it (BENCH_SNMP_KEPT=0)")
    p.add_argument("--snmp-repeat", type=int, default=int(env("BENCH_SNMP_REPEAT", "1")),
                   help="times the snmp case's ETL configurations run, one after another (BENCH_SNMP_REPEAT, 1)")
    p.add_argument("--load-max-connections", type=int, default=env("BENCH_LOAD_MAX_CONNECTIONS", None),
                   metavar="N", help="run the ETL with load.max_connections = N, through APP__LOAD__MAX_CONNECTIONS "
                                     "(BENCH_LOAD_MAX_CONNECTIONS; default: the configuration's, 0 = one per "
                                     "in-flight slot)")
    p.add_argument("--no-snmp-exporter", dest="snmp_exporter", action="store_false",
                   default=env("BENCH_SNMP_EXPORTER", "1") == "1",
                   help="skip the prometheus-snmp-exporter peer of the snmp case (BENCH_SNMP_EXPORTER=0)")
    p.add_argument("--no-snmp-netns", dest="snmp_netns", action="store_false",
                   default=env("BENCH_SNMP_NETNS", "1") == "1",
                   help="the snmp case in the machine's network namespace (BENCH_SNMP_NETNS=0)")
    p.add_argument("--snmp-scrapers", type=int, default=int(env("BENCH_SNMP_SCRAPERS", "64")),
                   help="connections to the exporter (BENCH_SNMP_SCRAPERS, 64)")
    p.add_argument("--snmp-exporter-limit", type=int, default=int(env("BENCH_SNMP_EXPORTER_LIMIT", "300")),
                   help="seconds at most for the exporter's scrapes (BENCH_SNMP_EXPORTER_LIMIT, 300)")
    p.add_argument("--bin", default=env("BENCH_BIN", str(BIN)), metavar="PATH",
                   help="the app binary to measure (BENCH_BIN; default target/release/app, built first unless "
                        "--no-build)")
    p.add_argument("--tmp", default=env("BENCH_TMP", "/tmp"),
                   help="where the temp dir (inventories, configs, reports) goes; removed at exit (BENCH_TMP)")
    p.add_argument("--keep", action="store_true", default=env("BENCH_KEEP", "0") == "1",
                   help="keep the temp dir, its path printed (BENCH_KEEP=1)")
    p.add_argument("--out", default=env("BENCH_OUT", ""), help="also write the final tables to this file (BENCH_OUT)")
    p.add_argument("--json", default=env("BENCH_JSON", ""), metavar="PATH",
                   help="also write the results as JSON to this file (BENCH_JSON)")
    a = p.parse_args(argv)
    for c in a.cases:
        if c != "all" and c not in ALL_CASES:
            p.error(f"unknown case '{c}' (cases: {' '.join(ALL_CASES)} all)")
    if "all" in a.cases:
        a.cases = list(ALL_CASES)
    elif not a.cases:
        a.cases = [c for c in ALL_CASES if a.long or c not in LONG_CASES]
    a.shards_n = [int(n) for n in a.shards_n.split()]
    BIN = Path(a.bin).resolve()
    return a


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# --- processes ------------------------------------------------------------------------------------------------------


# load.max_connections of the snmp case: 16 connections to the API deliver that case's records as fast as the
# default (one per in-flight slot, up to 160) on this machine, with flat descriptors and less memory
# (docs/PERFORMANCE.md, "The loaders' connections capped"); --load-max-connections overrides it.
SNMP_MAX_CONNECTIONS = 16


def tcp_sockets(pid, fds):
    """How many of a process's descriptors `fds` (names in /proc/PID/fd) are TCP sockets (by inode, in
    /proc/PID/net/tcp and tcp6, a missing table (no IPv6) as empty); None when the process is gone."""
    tcp = set()
    for table in ("tcp", "tcp6"):
        try:
            with open(f"/proc/{pid}/net/{table}") as f:
                tcp.update(line.split()[9] for line in f.readlines()[1:])
        except FileNotFoundError:
            if not os.path.exists(f"/proc/{pid}"):
                return None
        except OSError:
            return None
    count = 0
    for fd in fds:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:[") and target[8:-1] in tcp:
            count += 1
    return count


def children(pid):
    """Direct children of a process (from /proc)."""
    out = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                out += [int(c) for c in f.read().split()]
    except OSError:
        pass
    return out


def alive(p):
    return p.poll() is None


class Procs:
    """The background processes we started (each a /usr/bin/time wrapper), stopped newest first at exit."""

    def __init__(self):
        self.started = []

    def start(self, argv, stdout, stderr, cwd=None, env_extra=None):
        e = dict(os.environ)
        e.update(env_extra or {})
        p = subprocess.Popen(argv, stdout=stdout, stderr=stderr, cwd=cwd, env=e)
        self.started.append(p)
        return p

    def stop(self, p, grace_s=15):
        """SIGTERM the wrapper's children (timeout, which forwards it to the app), so that time still writes its
        report; only if that does not end it within grace_s, TERM/KILL the wrapper too."""
        if alive(p):
            kids = children(p.pid)
            for k in kids:
                try:
                    os.kill(k, signal.SIGTERM)
                except OSError:
                    pass
            try:
                p.wait(grace_s)
            except subprocess.TimeoutExpired:
                for k in kids:
                    try:
                        os.kill(k, signal.SIGKILL)
                    except OSError:
                        pass
                p.terminate()
                try:
                    p.wait(1)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        if p in self.started:
            self.started.remove(p)

    def wait(self, p):
        """Waits for a process that bounds its own time (timeout); its exit code."""
        rc = p.wait()
        if p in self.started:
            self.started.remove(p)
        return rc

    def stop_all(self):
        for p in reversed(list(self.started)):  # the etl (or wrk) before the mock it talks to
            self.stop(p)


# --- reports --------------------------------------------------------------------------------------------------------


@dataclass
class TimeReport:
    """The figures of a /usr/bin/time -v report."""

    wall_s: float = 0.0
    cpu_s: float = 0.0
    rss_mib: float = 0.0

    @staticmethod
    def read(path):
        fields = {}
        try:
            for line in Path(path).read_text(errors="replace").splitlines():
                k, _, v = line.strip().rpartition(": ")
                if k:
                    fields[k] = v
        except OSError:
            return TimeReport()
        wall = 0.0
        for part in fields.get("Elapsed (wall clock) time (h:mm:ss or m:ss)", "0").split(":"):
            wall = wall * 60 + float(part)
        cpu = float(fields.get("User time (seconds)", 0)) + float(fields.get("System time (seconds)", 0))
        rss = float(fields.get("Maximum resident set size (kbytes)", 0)) / 1024
        return TimeReport(round(wall, 2), round(cpu, 2), round(rss, 1))


def busy_ticks():
    """Machine-wide busy CPU ticks, all cores (user nice system irq softirq steal)."""
    with open("/proc/stat") as f:
        v = f.readline().split()
    return sum(int(v[i]) for i in (1, 2, 3, 6, 7, 8))


def other_cores(t0, t1, wall, ours_cpu):
    """Cores used by processes other than ours while we ran (the machine is shared)."""
    if wall <= 0:
        return 0.0
    return round(max(0.0, ((t1 - t0) / CLK_TCK - ours_cpu) / wall), 2)


def read_json(path):
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}


def dig(obj, *keys, default=0):
    for k in keys:
        if not isinstance(obj, dict) or k not in obj:
            return default
        obj = obj[k]
    return obj


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


# --- results --------------------------------------------------------------------------------------------------------


@dataclass
class Run:
    """One run of a main case (one row of the per-run list)."""

    case: str
    run: int
    wall_s: float
    records: int
    records_per_s: float
    cpu_us_per_record: float | None
    rss_mib: float | None
    mock_cpu_s: float
    exit: int
    others_cores: float | None = None
    notes: list = field(default_factory=list)
    fsyncs: int = 0
    fsyncs_per_s: float | None = None
    batches_written_ahead: int = 0
    mock_accepted: int | None = None
    # wrk only
    requests_per_s: float | None = None
    server_cores: float | None = None
    client_cores: float | None = None
    wrk_errors: str = ""


@dataclass
class SnmpRun:
    label: str
    devices: int
    concurrency: int
    done: int
    wall_s: float
    devices_per_s: float
    cpu_s: float
    cpu_us_per_device: float
    rss_mib: float
    peak_fds: int
    fd_samples: int
    notes: str
    api_connections: int = 0  # of peak_fds, TCP sockets (the ETL's connections to the API) at that peak
    peer: bool = False
    run: str = ""  # "first run" or "detection kept" (the ETL's runs)
    vendor_share: float = 0.0
    mib: str = ""
    requests: int = 0  # SNMP requests the mock answered


@dataclass
class ShardRun:
    n: int
    k: int
    ok: int
    skipped: int
    records: int
    wall_s: float
    cpu_s: float
    rss_mib: float
    exit: int
    variant: str


@dataclass
class Split:
    n: int
    wall_s: float
    cpu_s: float
    rss_mib: float


class Bench:
    def __init__(self, args):
        self.a = args
        self.tmp = Path(tempfile.mkdtemp(prefix="app-bench.", dir=args.tmp))
        self.procs = Procs()
        self.runs: list[Run] = []
        self.snmp: list[SnmpRun] = []
        self.shards: list[ShardRun] = []
        self.splits: list[Split] = []
        self.netns = ""  # the snmp case's network namespace, when made
        self.mock = None  # the mock's /usr/bin/time wrapper
        self.mock_url = ""
        self.snmp_port = ""
        self.started = time.time()

    # --- helpers ---

    def in_ns(self):
        return ["ip", "netns", "exec", self.netns] if self.netns else []

    def n(self, devices):
        """A case's device count at --scale (at least 10)."""
        return max(10, int(devices * self.a.scale))

    def inventory(self, n):
        """Path of a cached inventory of n loopback devices."""
        f = self.tmp / f"inventory-{n}.csv"
        if not f.exists():
            log(f"generating inventory of {n} devices (127.x.y.z only)")
            part = f.with_suffix(".part")
            subprocess.run([str(BIN), "generate-inventory", "--devices", str(n), str(part)], check=True)
            part.rename(f)
        return f

    def start_mock(self, d, delay_ms, limit_s, fleet=False, vendor_share=None, snmp_port="auto"):
        """The mock (with the SNMP fleet on `snmp_port`: `vendor_share` (default --snmp-vendor-share) of the devices
        vendor personalities, the others UCD, no faults) in its own config; waits for its address."""
        vendor_share = self.a.snmp_vendor_share if vendor_share is None else vendor_share
        toml = (f'[mock]\nbind = "127.0.0.1:0"\ndelay_ms = {delay_ms}\njitter_ms = 0\nlog_body_preview = 0\n'
                f'log_file = ""\n')
        if fleet:
            toml += f"snmp_host_resources_share = 0.0\nsnmp_vendor_share = {vendor_share}\n"
        toml += '\n[log]\nlevel = "warn"\nfile = ""\n'
        (d / "mock.toml").write_text(toml)
        argv = ["/usr/bin/time", "-v", "-o", str(d / "mock.time"), *self.in_ns(), "timeout", "-s", "TERM", "-k",
                "10", str(limit_s), str(BIN), "mock-server", "--config", str(d / "mock.toml")]
        if fleet:
            argv += ["--snmp-port", str(snmp_port)]
        with open(d / "mock.out", "w") as out, open(d / "mock.err", "w") as err:
            self.mock = self.procs.start(argv, out, err, cwd=d)
        self.mock_url, self.snmp_port = "", ""
        for _ in range(100):
            text = (d / "mock.out").read_text()
            m = re.search(r"^listening on (\S+)", text, re.M)
            s = re.search(r"^snmp listening on udp://0\.0\.0\.0:(\d+)", text, re.M)
            if m and (s or not fleet):
                self.mock_url, self.snmp_port = m.group(1), (s.group(1) if s else "")
                break
            if not alive(self.mock):
                break
            time.sleep(0.1)
        if not self.mock_url:
            log("mock-server did not start:\n" + (d / "mock.err").read_text())
            raise SystemExit(1)
        if not self.mock_url.startswith("http://127."):
            log(f"mock-server is not on loopback: {self.mock_url}")
            raise SystemExit(1)

    def stop_mock(self, d):
        """Saves /stats, SIGTERMs the mock (through `timeout`, which forwards it), waits (bounded)."""
        r = subprocess.run([*self.in_ns(), "curl", "-s", "--max-time", "5", f"{self.mock_url}/stats"],
                           capture_output=True, text=True)
        (d / "mock.stats").write_text(r.stdout)
        self.procs.stop(self.mock)
        self.mock = None

    def etl_argv(self, d, limit_s, config, inv, extra=(), spool=None):
        route = SINK_ROUTES.get(self.a.sink, "/load")
        return ["/usr/bin/time", "-v", "-o", str(d / "etl.time"), *self.in_ns(), "timeout", "-s", "TERM", "-k",
                "30", str(limit_s), str(BIN), "etl", "--config", str(config), "--inventory", str(inv),
                "--endpoint", f"{self.mock_url}{route}", "--spool-dir", str(spool or d / "spool"), "--summary-json",
                str(d / "summary.json"), *extra]

    def etl_env(self):
        env = {"APP__LOAD__SINK": self.a.sink} if self.a.sink else {}
        if self.a.load_max_connections is not None:
            env["APP__LOAD__MAX_CONNECTIONS"] = str(self.a.load_max_connections)
        return env

    def run_etl_process(self, d, limit_s, config, inv, extra=(), fds=False, spool=None):
        """Runs the etl under time and timeout (its spool directory `spool`, default d/spool); its exit code, and
        (fds) the peak of its open descriptors, how many times they were sampled, and how many of them were TCP sockets
        at that peak (its connections to the API: the bench's ETL serves no metrics)."""
        with open(d / "etl.out", "w") as out, open(d / "etl.err", "w") as err:
            p = self.procs.start(self.etl_argv(d, limit_s, config, inv, extra, spool), out, err, cwd=d,
                                 env_extra=self.etl_env())
        peak, samples, peak_tcp = 0, 0, 0
        if fds:
            # From the start: the app is the deepest descendant of the time wrapper (time -> timeout -> app).
            while alive(p):
                pid, kids = p.pid, children(p.pid)
                while kids:
                    pid, kids = kids[0], children(kids[0])
                if pid != p.pid:
                    try:
                        names = os.listdir(f"/proc/{pid}/fd")
                        samples += 1
                        if len(names) > peak:  # a new peak: how many of them are connections to the API
                            tcp = tcp_sockets(pid, names)
                            peak = len(names)
                            if tcp is not None:  # None: the process ended while it was read
                                peak_tcp = tcp
                    except OSError:
                        pass
                time.sleep(0.01)
        rc = self.procs.wait(p)
        return rc, peak, samples, peak_tcp

    def etl_config(self, d, concurrency, latency_ms, extra=""):
        """A config with the simulated source, warn logs, no log file."""
        path = d / "etl.toml"
        path.write_text(f"[extract]\nconcurrency = {concurrency}\n\n[extract.simulated]\nlatency_ms = {latency_ms}\n"
                        f'jitter_ms = 0\ncpus_per_device = 1\n\n[log]\nlevel = "warn"\nfile = ""\n{extra}')
        return path

    def run_etl(self, case, run, d, limit_s, delay_ms, config, inv, extra=()):
        """One run of a main case: a fresh mock, the etl, the figures."""
        self.start_mock(d, delay_ms, limit_s + 60)
        t0 = busy_ticks()
        rc, _, _, _ = self.run_etl_process(d, limit_s, config, inv, extra)
        t1 = busy_ticks()
        self.stop_mock(d)
        etl, mock = TimeReport.read(d / "etl.time"), TimeReport.read(d / "mock.time")
        summary, stats = read_json(d / "summary.json"), read_json(d / "mock.stats")
        loaded = int(dig(summary, "records", "loaded"))
        accepted = int(dig(stats, "records_accepted"))
        r = Run(case=case, run=run, wall_s=etl.wall_s, records=loaded,
                records_per_s=round(loaded / etl.wall_s) if etl.wall_s > 0 else 0,
                cpu_us_per_record=round(etl.cpu_s * 1e6 / loaded, 2) if loaded else 0,
                rss_mib=etl.rss_mib, mock_cpu_s=mock.cpu_s, exit=rc,
                others_cores=other_cores(t0, t1, etl.wall_s, etl.cpu_s + mock.cpu_s), mock_accepted=accepted)
        if rc != 0:
            r.notes.append(f"etl exit {rc}")
            sys.stderr.write("".join((d / "etl.err").read_text(errors="replace").splitlines(True)[-5:]))
        if loaded != accepted:
            r.notes.append(f"mock accepted {accepted}")
        r.fsyncs = int(dig(summary, "log", "fsyncs"))
        if r.fsyncs:
            r.batches_written_ahead = int(dig(summary, "log", "batches_written_ahead"))
            r.fsyncs_per_s = round(r.fsyncs / etl.wall_s) if etl.wall_s > 0 else 0
            r.notes.append(f"fsyncs {r.fsyncs}, fsyncs/s {r.fsyncs_per_s:.0f}, "
                           f"{r.batches_written_ahead} batches written ahead")
        self.runs.append(r)
        note = "; ".join([f"others {r.others_cores} cores", *r.notes])
        log(f"{case} #{run}: wall {r.wall_s}s, {loaded} records, {r.records_per_s:.0f} rec/s, "
            f"{r.cpu_us_per_record} us/rec CPU, ETL RSS {r.rss_mib} MiB, mock CPU {r.mock_cpu_s}s, exit {rc} ({note})")
        return r, summary

    def case_dir(self, name):
        d = self.tmp / name
        d.mkdir(parents=True, exist_ok=True)
        return d

    # --- cases ---

    def case_devices(self, case, n, concurrency, latency_ms, delay_ms, limit_s):
        inv = self.inventory(self.n(n))
        for r in range(1, self.a.repeat + 1):
            d = self.case_dir(f"{case}-{r}")
            self.run_etl(case, r, d, limit_s, delay_ms, self.etl_config(d, concurrency, latency_ms), inv)

    def case_1m_durable(self, both):
        """The durable case, and (both) the 1m case interleaved with it."""
        inv = self.inventory(self.n(1_000_000))
        for r in range(1, self.a.repeat + 1):
            if both:
                d = self.case_dir(f"1m-{r}")
                self.run_etl("1m", r, d, 300, 0, self.etl_config(d, 1000, 0), inv)
            d = self.case_dir(f"durable-{r}")
            self.run_etl("durable", r, d, 300, 0, self.etl_config(d, 1000, 0, "\n[spool]\ndurable = true\n"), inv)

    def case_seed(self):
        for r in range(1, self.a.repeat + 1):
            d = self.case_dir(f"seed-{r}")
            # config/seed.toml as shipped, plus the log settings of every run here (no section of it is repeated)
            cfg = d / "etl.toml"
            cfg.write_text((ROOT / "config" / "seed.toml").read_text() + '\n[log]\nlevel = "warn"\nfile = ""\n')
            self.run_etl("seed", r, d, 120, 2000, cfg, ROOT / "appliances.csv")

    def case_shards(self):
        total = self.n(self.a.shards_devices)
        inv = self.inventory(total)
        # Two ways to give N shards their devices: every shard reads the one inventory with `--shard K/N` (it
        # checks and keeps its own rows and hashes the others' names), or `app split-inventory` splits it once into
        # N files and each shard reads its own file. The split itself is timed apart (once per N).
        for n in self.a.shards_n:
            if n <= 1:
                continue
            d = self.case_dir(f"shards-split-{n}")
            argv = ["/usr/bin/time", "-v", "-o", str(d / "split.time"), "timeout", "-s", "TERM", "-k", "10", "600",
                    str(BIN), "split-inventory", "--config", str(self.etl_config(d, 1000, 0)), "--inventory",
                    str(inv), "--shards", str(n), str(d / "files")]
            with open(d / "split.out", "w") as out, open(d / "split.err", "w") as err:
                rc = self.procs.wait(self.procs.start(argv, out, err))
            if rc != 0:
                log(f"split-inventory --shards {n} failed: " + (d / "split.err").read_text()[-500:])
            t = TimeReport.read(d / "split.time")
            self.splits.append(Split(n, t.wall_s, t.cpu_s, t.rss_mib))
            log(f"shards: split-inventory --shards {n}: wall {t.wall_s} s, CPU {t.cpu_s} s")
        for r in range(1, self.a.shards_repeat + 1):
            for variant in ("file", "split"):
                for n in self.a.shards_n:
                    if variant == "split" and n <= 1:
                        continue
                    for k in range(n):
                        d = self.case_dir(f"shards-{variant}-{n}-{k}-{r}")
                        f = inv if variant == "file" else self.tmp / f"shards-split-{n}/files/shard-{k}-{n}.csv"
                        run, summary = self.run_etl(f"shards-{variant}-n{n}", r, d, 1200, 0,
                                                    self.etl_config(d, 1000, 0), f, ["--shard", f"{k}/{n}"])
                        t = TimeReport.read(d / "etl.time")
                        self.shards.append(ShardRun(n, k, int(dig(summary, "devices", "ok")),
                                                    int(dig(summary, "devices", "skipped_shard")), run.records,
                                                    t.wall_s, t.cpu_s, t.rss_mib, run.exit, variant))

    def ensure_tool(self, command, package):
        if shutil.which(command):
            return True
        log(f"installing {package} (apt-get)")
        with open(self.tmp / f"apt-{package}.log", "w") as out:
            ok = subprocess.run(["apt-get", "update", "-qq"], stdout=out, stderr=out).returncode == 0 and \
                subprocess.run(["apt-get", "install", "-y", "-qq", package], stdout=out, stderr=out,
                               env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"}).returncode == 0
        return ok and shutil.which(command) is not None

    def case_wrk(self):
        if not self.ensure_tool("wrk", "wrk"):
            log("could not install wrk; skipping the wrk case")
            self.runs.append(Run("wrk", 0, 0, 0, 0, None, None, 0, 1, notes=["wrk not installed"]))
            return
        dur = self.a.wrk_duration
        for r in range(1, self.a.repeat + 1):
            d = self.case_dir(f"wrk-{r}")
            self.start_mock(d, 0, dur + 60)
            t0 = busy_ticks()
            argv = ["/usr/bin/time", "-v", "-o", str(d / "wrk.time"), "timeout", "-s", "TERM", "-k", "10",
                    str(dur + 30), "wrk", "-t", str(self.a.wrk_threads), "-c", str(self.a.wrk_connections), "-d",
                    f"{dur}s", "--timeout", "5s", "-s", str(ROOT / "scripts" / "wrk-load.lua"),
                    f"{self.mock_url}/load"]
            with open(d / "wrk.out", "w") as out:
                rc = self.procs.wait(self.procs.start(argv, out, subprocess.STDOUT))
            t1 = busy_ticks()
            self.stop_mock(d)
            text = (d / "wrk.out").read_text(errors="replace")

            def grab(pattern):
                m = re.search(pattern, text, re.M)
                return float(m.group(1)) if m else None

            rps, recs = grab(r"^requests/s: ([0-9.]+)"), grab(r"^records/s: ([0-9.]+)")
            errors = (re.search(r"^errors:.*$", text, re.M) or [""])[0]
            wrk_cpu, mock = TimeReport.read(d / "wrk.time").cpu_s, TimeReport.read(d / "mock.time")
            stats = read_json(d / "mock.stats")
            refused = dig(stats, "loads_refused", default={})
            srv, cli = round(mock.cpu_s / dur, 2), round(wrk_cpu / dur, 2)
            others = other_cores(t0, t1, dur, wrk_cpu + mock.cpu_s)
            run = Run("wrk", r, dur, int(dig(stats, "records_accepted")), recs or 0, None, None, mock.cpu_s, rc,
                      others_cores=others, requests_per_s=rps, server_cores=srv, client_cores=cli,
                      wrk_errors=errors)
            if refused:
                run.notes.append(f"refused {json.dumps(refused, separators=(',', ':'))}")
            self.runs.append(run)
            log(f"wrk #{r}: req/s {rps}; server {srv} cores, wrk {cli} cores, others {others} cores of {NPROC}; "
                f"{wrk_verdict(srv, cli, others)}; {errors}, records/s {recs}, exit {rc}")

    def snmp_etl(self, label, n, concurrency, spool=None):
        """One ETL run of the snmp case; `spool` reuses an earlier run's spool directory, so its detection file
        (`snmp-detection.tsv`) is kept: the devices are read with the source that answered, without detection."""
        limit = 600
        kept = spool is not None
        # Numbered: two configurations may have the same label (--snmp-devices2 = --snmp-devices), and a first run
        # must not find another run's spool directory.
        d = self.case_dir(f"snmp-{len(self.snmp) + 1}-{label}" + ("-kept" if kept else ""))
        inv = self.inventory(n)
        # A kept detection is the agent's address and port: the second run's fleet listens on the first one's port.
        self.start_mock(d, 0, limit + 60, fleet=True, snmp_port=self.snmp_port if kept else "auto")
        cfg = d / "etl.toml"
        cfg.write_text(f'[extract]\nsource = "snmp"\nconcurrency = {concurrency}\ntimeout_ms = 30000\n\n'
                       f'[extract.snmp]\nport = {self.snmp_port}\nmib = "{self.a.snmp_mib}"\ntimeout_ms = 1000\n'
                       f'retries = 2\nsample_interval_ms = 100\n\n[load]\nmax_connections = {SNMP_MAX_CONNECTIONS}\n\n'
                       f'[log]\nlevel = "warn"\nfile = ""\n')
        spool = spool or d / "spool"
        detection = spool / "snmp-detection.tsv"
        kept_lines = max(0, len(detection.read_text().splitlines()) - 1) if kept and detection.exists() else 0
        t0 = busy_ticks()
        rc, fds, samples, tcp = self.run_etl_process(d, limit, cfg, inv, fds=True, spool=spool)
        t1 = busy_ticks()
        self.stop_mock(d)
        etl, mock = TimeReport.read(d / "etl.time"), TimeReport.read(d / "mock.time")
        summary, stats = read_json(d / "summary.json"), read_json(d / "mock.stats")
        ok, failed = int(dig(summary, "devices", "ok")), int(dig(summary, "devices", "failed"))
        snmp = {k: dig(stats, "snmp", k) for k in ("requests", "replies", "kernel_drops")}
        notes = (f"{failed} failed; mock CPU {mock.cpu_s}s, {json.dumps(snmp, separators=(',', ':'))}; "
                 f"others {other_cores(t0, t1, etl.wall_s, etl.cpu_s + mock.cpu_s)} cores; "
                 f"fds sampled {samples} times")
        if kept:
            notes += f"; {kept_lines} detections kept from the first run"
        if rc != 0:
            notes += f"; etl exit {rc}"
            sys.stderr.write("".join((d / "etl.err").read_text(errors="replace").splitlines(True)[-5:]))
        run = "detection kept" if kept else "first run"
        row = SnmpRun(f"ETL {label}, {run}", n, concurrency, ok, etl.wall_s,
                      round(ok / etl.wall_s) if etl.wall_s > 0 else 0, etl.cpu_s,
                      round(etl.cpu_s * 1e6 / ok, 1) if ok else 0, etl.rss_mib, fds, samples, notes,
                      api_connections=tcp, run=run, vendor_share=self.a.snmp_vendor_share, mib=self.a.snmp_mib,
                      requests=int(snmp["requests"] or 0))
        self.snmp.append(row)
        log(f"snmp {label} ({run}): {ok} of {n} devices in {etl.wall_s}s = {row.devices_per_s} devices/s, "
            f"{row.cpu_us_per_device} us CPU/device, RSS {etl.rss_mib} MiB, peak fds {fds} of which {tcp} API "
            f"connections ({notes})")
        return spool

    def snmp_pair(self, label, n, concurrency):
        """A first run, then (--snmp-kept, mib auto) the same run again over its spool directory: detection kept."""
        spool = self.snmp_etl(label, n, concurrency)
        if self.a.snmp_kept and self.a.snmp_mib == "auto":
            self.snmp_etl(label, n, concurrency, spool=spool)

    def snmp_exporter(self):
        """The peer, prometheus-snmp-exporter, over the same fleet and devices."""
        if not self.ensure_tool("prometheus-snmp-exporter", "prometheus-snmp-exporter"):
            log("no prometheus-snmp-exporter; skipping the peer")
            return
        exe = shutil.which("prometheus-snmp-exporter")
        limit = self.a.snmp_exporter_limit
        d = self.case_dir("snmp-exporter")
        inv = self.inventory(self.n(self.a.snmp_devices))
        # Its module (scripts/bench-snmp-exporter.yml) reads UCD-SNMP-MIB only: an all-UCD fleet, as before.
        self.start_mock(d, 0, limit + 120, fleet=True, vendor_share=0.0)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            eport = s.getsockname()[1]
        argv = ["/usr/bin/time", "-v", "-o", str(d / "exporter.time"), *self.in_ns(), "timeout", "-s", "TERM", "-k",
                "10", str(limit + 90), exe, f"--config.file={ROOT / 'scripts' / 'bench-snmp-exporter.yml'}",
                f"--web.listen-address=127.0.0.1:{eport}", "--log.level=warn"]
        with open(d / "exporter.out", "w") as out:
            exporter = self.procs.start(argv, out, subprocess.STDOUT, cwd=d)
        for _ in range(100):
            if subprocess.run([*self.in_ns(), "curl", "-s", "--max-time", "1", f"http://127.0.0.1:{eport}/"],
                              capture_output=True).returncode == 0:
                break
            time.sleep(0.1)
        t0 = busy_ticks()
        argv = ["/usr/bin/time", "-v", "-o", str(d / "client.time"), *self.in_ns(), "timeout", "-s", "TERM", "-k",
                "10", str(limit + 60), sys.executable, str(ROOT / "scripts" / "bench-snmp-scrape.py"),
                f"127.0.0.1:{eport}", "ucd_cpu", self.snmp_port, str(inv), str(self.a.snmp_scrapers), "2", str(limit)]
        with open(d / "client.out", "w") as out, open(d / "client.err", "w") as err:
            client = self.procs.start(argv, out, err)
        # The exporter's descriptors, sampled while the client scrapes.
        peak, samples = 0, 0
        while alive(client):
            pid, kids = exporter.pid, children(exporter.pid)
            while kids:
                pid, kids = kids[0], children(kids[0])
            try:
                peak = max(peak, len(os.listdir(f"/proc/{pid}/fd")))
                samples += 1
            except OSError:
                pass
            time.sleep(0.05)
        rc = self.procs.wait(client)
        t1 = busy_ticks()
        self.procs.stop(exporter)
        self.stop_mock(d)
        kv = dict(p.split("=", 1) for p in (d / "client.out").read_text().split() if "=" in p)
        wall, devices = float(kv.get("wall_s", 0)), int(kv.get("devices", 0))
        e, c, m = (TimeReport.read(d / f) for f in ("exporter.time", "client.time", "mock.time"))
        notes = (f"{kv.get('scrapes', 0)} scrapes over {self.a.snmp_scrapers} connections, {kv.get('failed', '?')} "
                 f"failed; client CPU {c.cpu_s}s; mock CPU {m.cpu_s}s; "
                 f"others {other_cores(t0, t1, wall, e.cpu_s + c.cpu_s + m.cpu_s)} cores")
        if rc != 0:
            notes += f"; client exit {rc}"
            sys.stderr.write((d / "client.err").read_text()[-500:])
        row = SnmpRun("prometheus-snmp-exporter", self.n(self.a.snmp_devices), self.a.snmp_scrapers, devices, wall,
                      round(devices / wall) if wall > 0 else 0, e.cpu_s,
                      round(e.cpu_s * 1e6 / devices, 1) if devices else 0, e.rss_mib, peak, samples, notes,
                      peer=True)
        self.snmp.append(row)
        log(f"exporter: {devices} devices in {wall}s = {row.devices_per_s} devices/s, {row.cpu_us_per_device} us "
            f"CPU/device, RSS {e.rss_mib} MiB, peak fds {peak} ({notes})")

    def case_snmp(self):
        a = self.a
        if a.snmp_netns and not self.netns:
            name = f"app-bench-snmp-{os.getpid()}"
            if subprocess.run(["ip", "netns", "add", name], capture_output=True).returncode == 0:
                self.netns = name  # deleted by cleanup, whatever happens next
                if subprocess.run(["ip", "netns", "exec", name, "ip", "link", "set", "lo", "up"]).returncode != 0:
                    subprocess.run(["ip", "netns", "delete", name])
                    self.netns = ""
            if not self.netns:
                log("snmp: cannot make a network namespace (not root, or no iproute2): in the machine's namespace")
        if self.netns:
            log(f"snmp: in the network namespace {self.netns} (its loopback only, no connection tracking)")
        d1, d2 = self.n(a.snmp_devices), self.n(a.snmp_devices2)
        for r in range(1, a.snmp_repeat + 1):
            tag = f" #{r}" if a.snmp_repeat > 1 else ""
            self.snmp_pair(f"{d1}-c{a.snmp_concurrency}{tag}", d1, a.snmp_concurrency)
            self.snmp_pair(f"{d1}-c{a.snmp_concurrency2}{tag}", d1, a.snmp_concurrency2)
            self.snmp_pair(f"{d2}-c{a.snmp_concurrency}{tag}", d2, a.snmp_concurrency)
        if a.snmp_exporter:
            self.snmp_exporter()
        self.leave_netns()

    def leave_netns(self):
        if self.netns:
            subprocess.run(["ip", "netns", "delete", self.netns], capture_output=True)
            self.netns = ""

    # --- the run ---

    def run(self):
        a = self.a
        log(f"cases: {' '.join(a.cases)}; repeat {a.repeat}; temp dir {self.tmp}"
            + (f"; sink {a.sink}" if a.sink else "") + (f"; scale {a.scale}" if a.scale != 1 else ""))
        if not a.no_build:
            log("cargo build --release")
            r = subprocess.run(["cargo", "build", "--release"], cwd=ROOT, capture_output=True, text=True)
            sys.stderr.write("".join((r.stdout + r.stderr).splitlines(True)[-2:]))
        if not os.access(BIN, os.X_OK):
            print(f"bench.py: {BIN} missing", file=sys.stderr)
            raise SystemExit(1)
        for c in a.cases:
            log(f"case {c}")
            if c == "1m":
                if "durable" in a.cases:
                    log("1m and durable interleaved")
                    self.case_1m_durable(True)
                else:
                    self.case_devices("1m", 1_000_000, 1000, 0, 0, 300)
            elif c == "durable":
                if "1m" not in a.cases:
                    self.case_1m_durable(False)
            elif c == "10m":
                self.case_devices("10m", 10_000_000, 1000, 0, 0, 1200)
            elif c == "seed":
                self.case_seed()
            elif c == "100k-1s":
                self.case_devices("100k-1s", 100_000, 10000, 1000, 0, 120)
            elif c == "slow-api":
                self.case_devices("slow-api", a.slow_devices, 1000, 0, 2000, 600)
            elif c == "wrk":
                self.case_wrk()
            elif c == "snmp":
                self.case_snmp()
            elif c == "shards":
                self.case_shards()

    def cleanup(self):
        self.procs.stop_all()
        self.leave_netns()
        if self.a.keep:
            print(f"bench.py: kept {self.tmp}", file=sys.stderr)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)

    # --- tables ---

    def machine(self):
        model = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
        mem = next((int(l.split()[1]) for l in open("/proc/meminfo") if l.startswith("MemTotal")), 0) / 1048576
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                             text=True).stdout.strip() or "?"
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True).stdout.strip()
        return {"cores": NPROC, "cpu": model, "mem_gib": round(mem, 1), "commit": rev + ("+changes" if dirty else ""),
                "date": time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime()), "sink": self.a.sink or None,
                "scale": self.a.scale}

    def tables(self):
        m = self.machine()
        out = [f"Machine: {m['cores']} cores ({m['cpu']}), {m['mem_gib']} GiB; commit {m['commit']}; {m['date']}."
               + (f" Sink: {self.a.sink}." if self.a.sink else "")
               + (f" Scale: {self.a.scale} of every case's devices." if self.a.scale != 1 else ""),
               f"Medians of {self.a.repeat} runs per case (ETL columns: the etl process; mock CPU: the mock server's "
               "user+sys;", "others: cores used by other processes on the machine during the run, from /proc/stat).",
               ""]
        main_cases = [c for c in self.a.cases if c not in ("snmp", "shards")]
        if main_cases:
            out += ["| case | wall s | records | records/s | ETL CPU µs/record | ETL peak RSS MiB | mock CPU s | target "
                    "| met | notes |", "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- | --- |"]
            rps_1m = median(r.records_per_s for r in self.runs if r.case == "1m")
            rss_1m = median(r.rss_mib for r in self.runs if r.case == "1m")
            for c in main_cases:
                out.append(self.case_row(c, rps_1m, rss_1m))
            out += ["", "Per run (case, run, wall s, records, records/s, ETL CPU µs/rec, ETL RSS MiB, mock CPU s, "
                    "exit, notes):", ""]
            for r in self.runs:
                notes = "; ".join(([f"others {r.others_cores} cores"] if r.others_cores is not None else [])
                                  + ([f"req/s {r.requests_per_s:.0f}; server {r.server_cores} cores, wrk "
                                      f"{r.client_cores} cores; {r.wrk_errors}"] if r.case == "wrk" and r.run else [])
                                  + r.notes)
                out.append("    " + "\t".join(str(v if v is not None else "-") for v in (
                    r.case, r.run, r.wall_s, r.records, r.records_per_s, r.cpu_us_per_record, r.rss_mib,
                    r.mock_cpu_s, r.exit, notes)))
        out += self.snmp_table()
        out.append("")
        if "shards" in self.a.cases:
            out += [""] + self.shards_table()
        out += ["", f"bench.py total runtime: {time.time() - self.started:.0f} s"]
        return "\n".join(out) + "\n"

    def case_row(self, case, rps_1m, rss_1m):
        rows = [r for r in self.runs if r.case == case]
        if not rows:
            return f"| {case} | — | — | — | — | — | — | — | — | no runs |"

        def med(attr, fmt):
            v = median(getattr(r, attr) for r in rows)
            return (fmt.format(v) if v is not None else "—"), v

        wall, w = med("wall_s", "{:.2f}")
        recs, _ = med("records", "{:,.0f}")
        rps, rv = med("records_per_s", "{:,.0f}")
        cpu, cv = med("cpu_us_per_record", "{:.2f}")
        rss, mv = med("rss_mib", "{:.1f}")
        mock, _ = med("mock_cpu_s", "{:.2f}")
        target, ok = "—", None
        if case == "1m":
            target = "≥ 1,000,000 rec/s; ≤ 1.0 µs/rec; ≤ 64 MiB"
            parts = [("rec/s", rv is not None and rv >= 1e6), ("CPU", cv is not None and cv <= 1.0),
                     ("RSS", mv is not None and mv <= 64)]
            ok = ", ".join(f"{n} {'yes' if g else 'no'}" for n, g in parts)
        elif case == "durable":
            if rps_1m:
                target = f"≥ 50 % of 1m ({rps_1m / 2:,.0f} rec/s)"
                ok = f"{'yes' if rv is not None and rv >= rps_1m / 2 else 'no'} ({(rv or 0) / rps_1m:.0%})"
            else:
                target = "≥ 50 % of 1m (run 1m too)"
        elif case == "10m":
            base = rss_1m if rss_1m else 64.0
            target = f"RSS ≤ {base * 1.1:.1f} MiB (1m +10%)"
            ok = "yes" if mv is not None and mv <= base * 1.1 else "no"
        elif case == "seed":
            target, ok = "≤ 26.5 s", "yes" if w is not None and w <= 26.5 else "no"
        elif case == "100k-1s":
            target, ok = "≤ 10.5 s (10 s + flush, +5%)", "yes" if w is not None and w <= 10.5 else "no"
        elif case == "slow-api":
            target, ok = "≥ 10,000 rec/s", "yes" if rv is not None and rv >= 1e4 else "no"
        others = median(r.others_cores for r in rows)
        if case == "wrk":
            req, srv, cli = (median(getattr(r, a) for r in rows) for a in
                             ("requests_per_s", "server_cores", "client_cores"))
            if None in (req, srv, cli, others):
                notes = " / ".join("; ".join(r.notes) for r in rows)
            else:
                notes = (f"req/s {req:,.0f}; server {srv:.2f} cores, wrk {cli:.2f}, others {others:.2f} of {NPROC}; "
                         f"{wrk_verdict(srv, cli, others)}")
            errs = [r.wrk_errors + ("; " + "; ".join(r.notes) if r.notes else "") for r in rows
                    if "status 0, timeout 0" not in r.wrk_errors or r.notes]
            if errs:
                notes += "; errors: " + " / ".join(errs)
        else:
            notes = f"others {others:.2f} cores" if others is not None else ""
            fps = median(r.fsyncs_per_s for r in rows)
            if fps is not None:
                notes += f"; {fps:,.0f} fsyncs/s (median)"
            extra = [f"run {r.run}: " + "; ".join(r.notes) for r in rows if r.notes]
            if extra:
                notes += "; " + "; ".join(extra)
        failed = [r for r in rows if r.exit != 0]
        if failed:
            notes = f"{len(failed)} of {len(rows)} runs failed; " + notes
        return (f"| {case} | {wall} | {recs} | {rps} | {cpu} | {rss} | {mock} | {target} | "
                f"{ok if ok is not None else '—'} | {notes} |")

    def snmp_table(self):
        if not self.snmp:
            return []
        a = self.a
        out = ["", "SNMP (case snmp): the ETL's snmp source against the mock fleet, two samples per device "
               f"(extract.snmp.mib = \"{a.snmp_mib}\", fleet vendor share {a.snmp_vendor_share}); and",
               "prometheus-snmp-exporter over an all-UCD fleet, scraped twice per device. CPU: user+sys of the etl "
               "process,", "of the exporter process. \"detection kept\": the run again over the first run's spool "
               "directory (its snmp-detection.tsv). One run each.", "",
               "| run | devices | concurrency | devices done | wall s | devices/s | CPU s | CPU µs/device | peak RSS MiB "
               "| peak fds | of which API connections | SNMP requests | notes |",
               "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
        for r in self.snmp:
            out.append(f"| {r.label} | {r.devices:,} | {r.concurrency} | {r.done:,} | {r.wall_s} | "
                       f"{int(r.devices_per_s):,} | {r.cpu_s} | {r.cpu_us_per_device} | {r.rss_mib} | {r.peak_fds} | "
                       f"{r.api_connections if not r.peer else '—'} | {r.requests:,} | {r.notes} |")
        etl = [r for r in self.snmp if not r.peer]
        peer = [r for r in self.snmp if r.peer]
        if etl:
            fds = [r.peak_fds for r in etl]
            for run in ("first run", "detection kept"):
                # The medians of the runs at --snmp-concurrency over --snmp-devices (the case's main configuration).
                main = [r for r in etl if r.run == run and r.concurrency == a.snmp_concurrency
                        and r.devices == self.n(a.snmp_devices)]
                if not main:
                    continue
                dps = statistics.median(r.devices_per_s for r in main)
                cpu = statistics.median(r.cpu_us_per_device for r in main)
                rss = statistics.median(r.rss_mib for r in main)
                out += ["", f"Targets ({run}, {self.n(a.snmp_devices):,} devices at concurrency {a.snmp_concurrency}, "
                            f"median of {len(main)}): ≥ 30,000 devices/s: {'yes' if dps >= 30000 else 'no'} "
                            f"({dps:,.0f}); ≤ 30 µs ETL CPU per device: {'yes' if cpu <= 30 else 'no'} ({cpu:.1f}); "
                            f"≤ 64 MiB RSS: {'yes' if rss <= 64 else 'no'} ({rss:.1f})"]
            # The connections to the API follow the batches in flight at once (timing), at most load.max_connections
            # (or one per in-flight slot); the rest (SNMP sockets, files, the runtime's) must not move.
            rest = [r.peak_fds - r.api_connections for r in etl]
            api = [r.api_connections for r in etl]
            cap = SNMP_MAX_CONNECTIONS if a.load_max_connections is None else \
                a.load_max_connections or "0 (one per in-flight slot: 160 by default)"
            out.append(f"Descriptors flat in fleet size and concurrency (max − min ≤ 8): "
                       f"{'yes' if max(fds) - min(fds) <= 8 else 'no'} ({', '.join(map(str, fds))}); "
                       f"other than the API connections: {'yes' if max(rest) - min(rest) <= 8 else 'no'} "
                       f"({', '.join(map(str, rest))}); API connections {', '.join(map(str, api))} "
                       f"(load.max_connections = {cap})")
            main = etl[0]
            if peer and peer[0].cpu_us_per_device > 0 and main.cpu_us_per_device > 0:
                per_cpu = peer[0].cpu_us_per_device / main.cpu_us_per_device
                speed = main.devices_per_s / max(peer[0].devices_per_s, 1)
                out.append(f"ETL ({main.label}) vs exporter: {per_cpu:.1f}x devices per CPU-second (aim ≥ 10x); "
                           f"{speed:.1f}x devices/s")
        return out

    def shards_table(self):
        """One row per N, for the one inventory and for split files; the baseline of both is N = 1 over the one
        inventory."""
        total = self.n(self.a.shards_devices)
        rows = self.shards

        def per_record_us(r):
            return r.cpu_s * 1e6 / r.records if r.records else float("nan")

        base_rows = [r for r in rows if r.variant == "file" and r.n == 1]
        base = (statistics.median(per_record_us(r) for r in base_rows),
                statistics.median(r.rss_mib for r in base_rows)) if base_rows else None
        out = [f"Shards case: {total:,} devices; the shards of each N run one after another, each alone on the "
               "machine.", "Baseline of the \"vs N=1\" columns: N = 1 over the one inventory."]
        for variant, title in (("file", "Every shard reads the one inventory (`--shard K/N`)"),
                               ("split", "Every shard reads its own file of `app split-inventory` (`--shard K/N "
                                         "--inventory shard-K-N.csv`)")):
            by_n = {}
            for r in rows:
                if r.variant == variant:
                    by_n.setdefault(r.n, []).append(r)
            if not by_n:
                continue
            out += ["", f"{title}:", "",
                    "| N | shards | devices per shard (min–max) | max deviation from total/N | sum of devices | "
                    "wall per shard s (median, max) | ETL CPU µs/record (median, max) | peak RSS MiB (median, max) | "
                    "CPU/record vs N=1 | RSS vs N=1 | exits | skipped by shard (sum) |",
                    "| ---: | ---: | --- | ---: | --- | --- | --- | --- | --- | --- | --- | ---: |"]
            for n in sorted(by_n):
                rs = by_n[n]
                devs = [r.ok for r in rs]
                runs = len(rs) // n
                ideal = total / n
                dev = max(abs(d - ideal) / ideal for d in devs) * 100
                sums = {sum(devs[i * n:(i + 1) * n]) for i in range(runs)}
                cpu = [per_record_us(r) for r in rs]
                rss = [r.rss_mib for r in rs]
                wall = [r.wall_s for r in rs]
                exits = sorted({str(r.exit) for r in rs})
                skipped = sum(r.skipped for r in rs)
                sum_ok = "= inventory" if sums == {total} else f"{sorted(sums)} ≠ {total}"
                b = base or (statistics.median(cpu), statistics.median(rss))
                cpu_vs, rss_vs = max(cpu) / b[0] - 1, max(rss) / b[1] - 1
                out.append(
                    f"| {n} | {len(rs)} | {min(devs):,}–{max(devs):,} | {dev:.2f} % "
                    f"{'(≤ 1 %: yes)' if dev <= 1 else '(≤ 1 %: NO)'} | {sum_ok} | {statistics.median(wall):.2f}, "
                    f"{max(wall):.2f} | {statistics.median(cpu):.2f}, {max(cpu):.2f} | {statistics.median(rss):.1f}, "
                    f"{max(rss):.1f} | {cpu_vs:+.0%} {'(≤ 10 %: yes)' if cpu_vs <= 0.10 else '(≤ 10 %: NO)'} | "
                    f"{rss_vs:+.0%} {'(≤ 10 %: yes)' if rss_vs <= 0.10 else '(≤ 10 %: NO)'} | {','.join(exits)} | "
                    f"{skipped:,} |")
            if variant == "split" and self.splits:
                out += ["", "The split, once per N (`app split-inventory`: the whole check, then one pass writing N "
                            "files): " + "; ".join(f"N = {s.n}: wall {s.wall_s:.2f} s, CPU {s.cpu_s:.2f} s, peak RSS "
                                                   f"{s.rss_mib:.1f} MiB" for s in self.splits)]
        out += ["", "Per shard (N, K, devices ok, skipped by shard, records loaded, wall s, ETL CPU s, peak RSS MiB, "
                    "exit, variant):", ""]
        for r in rows:
            out.append("    " + "\t".join(str(v) for v in (r.n, r.k, r.ok, r.skipped, r.records, r.wall_s, r.cpu_s,
                                                         r.rss_mib, r.exit, r.variant)))
        return out

    def results(self):
        return {"machine": self.machine(), "cases": self.a.cases, "repeat": self.a.repeat,
                "runs": [asdict(r) for r in self.runs], "snmp": [asdict(r) for r in self.snmp],
                "shards": [asdict(r) for r in self.shards], "splits": [asdict(s) for s in self.splits]}


def wrk_verdict(srv, cli, others):
    """Saturated when server + client + everything else on the machine use (nearly) all cores; the side using more
    of them is the limit."""
    if srv + cli + others >= 0.9 * NPROC:
        return ("server-bound" if srv >= cli else "client-bound") + " (CPU saturated)"
    return "not CPU-bound (latency or connections)"


def main(argv):
    args = parse_args(argv)
    bench = Bench(args)

    def on_signal(signum, _frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        bench.run()
        text = bench.tables()
        print()
        print(text, end="")
        if args.out:
            Path(args.out).write_text(text)
        results = json.dumps(bench.results(), indent=1)
        (bench.tmp / "results.json").write_text(results)
        if args.json:
            Path(args.json).write_text(results)
    finally:
        bench.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
