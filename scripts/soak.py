#!/usr/bin/env python3
"""Chaos soak of `app` (run through scripts/soak.sh): loopback only, bounded in rounds and time.

Rounds of `app etl` (each with its own inventory of distinct device names) against one `app mock-server` port whose
server is started with injected faults (503s, 429 with Retry-After, answers slower than the client timeout, or
none) and is killed with SIGKILL and restarted at random. The ETL itself is left to finish, stopped with SIGTERM,
or (in durable-spool rounds) killed with SIGKILL. At the end a healthy server is started and `app replay` empties
the spool.

Checks:
  * every batch the ETL formed (logged as flushed, written ahead, saved to the spool or replayed) was acknowledged
    by a server (its Idempotency-Key is in a server log): nothing lost;
  * every key acknowledged more than once carries the same record count (duplicates only under the same key);
  * the spool and the write-ahead log (spool/wal/) end empty; every ETL exit code is one docs/EXIT-CODES.md documents;
  * the ETL's peak RSS stayed under SOAK_MAX_RSS_MIB.

Environment: APP_BIN (default target/release/app), SOAK_SECONDS (default 240), SOAK_ROUNDS (default 60),
SOAK_SEED, SOAK_KEEP=1 (keep the work dir), SOAK_MAX_RSS_MIB (default 256).
"""

import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

APP = os.path.abspath(os.environ.get("APP_BIN", "target/release/app"))
SECONDS = int(os.environ.get("SOAK_SECONDS", "240"))
ROUNDS = int(os.environ.get("SOAK_ROUNDS", "60"))
SEED = int(os.environ.get("SOAK_SEED", str(int(time.time()))))
MAX_RSS_MIB = int(os.environ.get("SOAK_MAX_RSS_MIB", "256"))
DEVICES = 3000
rng = random.Random(SEED)
work = Path(tempfile.mkdtemp(prefix="app-soak-"))
started = time.monotonic()
procs = []

FAULTS = [
    ("503s", {"fail_rate": 0.3, "fail_status": 503}),
    ("429 + Retry-After", {"fail_rate": 0.3, "fail_status": 429, "retry_after_s": 1}),
    ("answers slower than the client timeout", {"delay_ms": 1500}),
    ("healthy", {}),
]


def say(msg):
    print(f"[soak {time.monotonic() - started:6.1f}s] {msg}", flush=True)


def fail(msg):
    say(f"FAIL: {msg} (work dir {work}, seed {SEED})")
    cleanup(keep=True)
    print(f"soak: FAIL: {msg}")
    sys.exit(1)


def cleanup(keep=False):
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait(timeout=10)
    if not keep and os.environ.get("SOAK_KEEP") != "1":
        shutil.rmtree(work, ignore_errors=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


PORT = free_port()
ENDPOINT = f"http://127.0.0.1:{PORT}/load"
mock_count = 0


def toml_value(v):
    return json.dumps(v) if isinstance(v, str) else str(v).lower() if isinstance(v, bool) else str(v)


def start_mock(faults):
    global mock_count
    mock_count += 1
    keys = {"bind": f"127.0.0.1:{PORT}", "delay_ms": 0, "jitter_ms": 0, "log_body_preview": 0,
            "log_file": str(work / f"mock-{mock_count}.log"), "workers": 2}
    keys.update(faults)
    cfg = work / f"mock-{mock_count}.toml"
    cfg.write_text("[log]\nlevel = \"info\"\n[mock]\n" + "".join(f"{k} = {toml_value(v)}\n" for k, v in keys.items()))
    deadline = time.monotonic() + 15
    while True:
        p = subprocess.Popen([APP, "mock-server", "--config", str(cfg)], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True)
        procs.append(p)
        line = p.stdout.readline()
        if line.startswith("listening on"):
            return p
        p.wait(timeout=10)
        if time.monotonic() > deadline:
            fail(f"the mock server did not start on port {PORT}")
        time.sleep(0.3)  # the port may still be held by the killed server


def write_inventory(r):
    """DEVICES loopback devices named r{r}-device-K, by the project's one generator."""
    path = work / f"inv-{r}.csv"
    subprocess.run([APP, "generate-inventory", "--devices", str(DEVICES), "--prefix", f"r{r}-", str(path)],
                   check=True, timeout=60)
    return path


def etl_config(r, durable):
    cfg = work / f"etl-{r}.toml"
    cfg.write_text(f"""
[inventory]
path = "{work / f'inv-{r}.csv'}"
[extract]
concurrency = 200
[extract.simulated]
latency_ms = 40
jitter_ms = 20
[load]
endpoint = "{ENDPOINT}"
workers = 4
batch_size = 50
max_in_flight = 4
request_timeout_ms = 1000
flush_interval_ms = 200
[load.retry]
max_attempts = 4
initial_backoff_ms = 50
max_backoff_ms = 500
max_retry_after_ms = 2000
[spool]
dir = "{work / 'spool'}"
durable = {str(durable).lower()}
[shutdown]
grace_ms = 1000
[log]
level = "info"
file = "{work / f'etl-{r}.log'}"
format = "json"
""")
    return cfg


def run_etl(args, log_name, rss_name, timeout=120):
    env = dict(os.environ, RUST_LOG="info,app::actors::loader=debug,app::actors::delivery=debug,app::actors::outcome=debug")
    p = subprocess.Popen(["/usr/bin/time", "-f", "%M", "-o", str(work / rss_name), APP] + args,
                         stdout=subprocess.DEVNULL, stderr=open(work / log_name, "w"), env=env)
    procs.append(p)
    return p


def child_pid(time_proc):
    """The app process under /usr/bin/time."""
    out = subprocess.run(["pgrep", "-P", str(time_proc.pid)], capture_output=True, text=True).stdout.split()
    return int(out[0]) if out else None


mock = start_mock({})
say(f"seed {SEED}; mock on 127.0.0.1:{PORT}; up to {ROUNDS} rounds or {SECONDS} s")
stats = {"rounds": 0, "etl_sigkill": 0, "etl_sigterm": 0, "mock_kills": 0, "exit_codes": {}}
killed_rounds = set()
for r in range(1, ROUNDS + 1):
    if time.monotonic() - started > SECONDS:
        break
    durable = rng.random() < 0.67
    action = rng.choice(["finish", "sigterm", "sigkill"] if durable else ["finish", "sigterm"])
    write_inventory(r)
    cfg = etl_config(r, durable)
    p = run_etl(["etl", "--config", str(cfg), "--quiet"], f"etl-{r}.stderr", f"rss-{r}.txt")
    when = rng.uniform(0.2, 1.2)
    kill_mock_at = rng.uniform(0.1, 1.0) if rng.random() < 0.35 else None
    t0 = time.monotonic()
    acted = False
    while p.poll() is None:
        now = time.monotonic() - t0
        if kill_mock_at is not None and now >= kill_mock_at:
            mock.kill()
            mock.wait(timeout=10)
            stats["mock_kills"] += 1
            time.sleep(rng.uniform(0.2, 1.0))
            name, faults = rng.choice(FAULTS)
            mock = start_mock(faults)
            kill_mock_at = None
        if not acted and action != "finish" and now >= when:
            pid = child_pid(p)
            if pid:
                os.kill(pid, signal.SIGKILL if action == "sigkill" else signal.SIGTERM)
                stats["etl_" + action] += 1
                if action == "sigkill":
                    killed_rounds.add(r)
            acted = True
        if now > 120:
            p.kill()
            fail(f"round {r}: etl still running after 120 s")
        time.sleep(0.05)
    code = p.returncode
    # /usr/bin/time reports a signal death as 128 + signal in its own exit status.
    allowed = {0, 3, 143} | ({137, -9} if action == "sigkill" else set())
    if code not in allowed:
        fail(f"round {r} ({'durable' if durable else 'default'}, {action}): exit {code}, see {work}/etl-{r}.stderr")
    stats["exit_codes"][code] = stats["exit_codes"].get(code, 0) + 1
    stats["rounds"] += 1
    if rng.random() < 0.3:
        mock.kill()
        mock.wait(timeout=10)
        stats["mock_kills"] += 1
        name, faults = rng.choice(FAULTS)
        mock = start_mock(faults)

say(f"{stats['rounds']} rounds done; replaying the spool into a healthy server")
mock.kill()
mock.wait(timeout=10)
mock = start_mock({})
final_cfg = etl_config(0, False)
for attempt in range(1, 6):
    p = run_etl(["replay", "--config", str(final_cfg), "--quiet"], f"replay-{attempt}.stderr", f"rss-replay-{attempt}.txt")
    p.wait(timeout=300)
    left = list((work / "spool").glob("buffer_failed_worker*.json.gz"))
    left += list((work / "spool" / "wal").glob("segment-*.wal"))  # the write-ahead log of durable rounds
    if not left:
        break
else:
    fail(f"{len(left)} spool files or log segments left after 5 replays")
mock.kill()
mock.wait(timeout=10)

# What the servers acknowledged, across every server process.
ack = re.compile(r"Acknowledged key (\S+) with (\d+) records( \(duplicate\))?")
acked, deliveries = {}, 0
for log in sorted(work.glob("mock-*.log")):
    for m in ack.finditer(log.read_text(errors="replace")):
        key, n = m.group(1), int(m.group(2))
        deliveries += 1
        if key in acked and acked[key] != n:
            fail(f"key {key} acknowledged with {acked[key]} and {n} records")
        acked[key] = n

# What the ETL formed: every batch id it logged as formed (debug), flushed, written ahead, saved or replayed.
formed = {}
saved = re.compile(r"buffer_failed_worker\d+-([A-Za-z0-9._-]+)\.json\.gz")
ahead = re.compile(r"batch (\S+) \((\d+) records\) written ahead")
formed_line = re.compile(r"batch (\S+) formed with (\d+) records")
for log in sorted(work.glob("etl-*.log")):
    # A SIGKILL can land between forming a batch and its write-ahead reaching the disk: docs/GUARANTEES.md counts such a
    # batch with the records not yet safe. In those rounds a batch counts once it was written ahead (or later).
    killed = int(log.stem.split("-")[1]) in killed_rounds
    for line in log.read_text(errors="replace").splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        msg = rec.get("message", "")
        if "Successfully flushed" in msg or "Successfully replayed" in msg:
            formed[rec["batch_id"]] = rec["records"]
        elif (m := ahead.search(msg)) or (not killed and (m := formed_line.search(msg))):
            formed[m.group(1)] = int(m.group(2))
        elif "Saved buffer to" in msg and (m := saved.search(msg)):
            formed.setdefault(m.group(1), rec.get("records"))

lost = sorted(k for k in formed if k not in acked)
if lost:
    fail(f"{len(lost)} formed batches never acknowledged, e.g. {lost[:3]}")
mismatch = [k for k, n in formed.items() if n is not None and acked[k] != n]
if mismatch:
    fail(f"{len(mismatch)} batches acknowledged with another record count, e.g. {mismatch[:3]}")
rss = [int(p.read_text().split()[-1]) for p in work.glob("rss-*.txt") if p.read_text().strip()]
peak = max(rss) / 1024 if rss else 0
if peak > MAX_RSS_MIB:
    fail(f"ETL peak RSS {peak:.0f} MiB > {MAX_RSS_MIB} MiB")
quarantined = len(list((work / "spool" / "quarantine").glob("*"))) if (work / "spool" / "quarantine").exists() else 0
records = sum(acked.values())
say(f"rounds {stats['rounds']}, etl SIGKILL {stats['etl_sigkill']}, SIGTERM {stats['etl_sigterm']}, "
    f"server kills {stats['mock_kills']}, exit codes {stats['exit_codes']}")
say(f"{len(formed)} batches formed by the ETL, all acknowledged; {len(acked)} keys acknowledged "
    f"({records} records), {deliveries - len(acked)} repeated deliveries, all under the same key; "
    f"{quarantined} interrupted temp files quarantined; ETL peak RSS {peak:.0f} MiB")
cleanup()
print(f"soak: PASS: {stats['rounds']} rounds, 0 records lost, only keyed duplicates (seed {SEED})")
