#!/usr/bin/env bash
# End-to-end benchmarks of `app etl` against `app mock-server` on this machine (loopback only).
#
#   scripts/bench.sh                 # the default cases: 1m, durable, slow-api, wrk
#   BENCH_LONG=1 scripts/bench.sh    # also 10m, seed, 100k-1s, snmp, shards
#   scripts/bench.sh 1m seed         # just these cases (any of: 1m durable 10m seed 100k-1s slow-api wrk snmp shards;
#                                    # or "all")
#   scripts/bench.sh shards          # 10M devices split into N = 1, 2, 4, 8 shards, the shards run one after another
#
# `durable` is the 1m case with spool.durable = true (the write-ahead log in the run's spool directory). With 1m in
# the same invocation the two are interleaved (1m run 1, durable run 1, 1m run 2, ...), so both see the same machine;
# its target is at least half the 1m median's records/s. Its notes add the log's fdatasync count per second (the
# run's own counter, summary `log.fsyncs`) and the batches written ahead.
#
# Each case runs BENCH_REPEAT times (default 5) and the table printed at the end holds the MEDIAN of each column.
# Per run: a fresh `app mock-server` (its own free port on 127.0.0.1, log level warn, no log file, no body preview)
# under /usr/bin/time -v, then `app etl` under /usr/bin/time -v with its own spool directory and a TOML config in a
# temp dir; then the mock is stopped with SIGTERM and its CPU (user+sys) and peak RSS are read from its time report.
#   wall        elapsed time of the etl process (includes the inventory pre-check of inventory.on_invalid="fail",
#               which reads the whole inventory once before the run, and the process start)
#   records/s   records.loaded (from --summary-json) / wall
#   CPU/record  (user+sys of the etl process) / records.loaded
#   peak RSS    maximum resident set size of the etl process
#   mock CPU    user+sys of the mock server over the run
# The `shards` case (long) splits one inventory of BENCH_SHARDS_DEVICES devices into N = BENCH_SHARDS_N shards and
# runs the shards ONE AFTER ANOTHER (each has the machine to itself, as each pod would have its own node), each with
# `--shard K/N`, its own spool, its own fresh mock, once each (BENCH_SHARDS_REPEAT); first every shard over the one
# inventory, then (N > 1) every shard over its own file of `app split-inventory` (the split timed apart, once per
# N). Its tables: per N, the devices of each shard (within 1 % of total / N? the sum exactly the inventory?), each
# shard's wall, ETL CPU per record and peak RSS against the N = 1 figures (within 10 %?).
# The `wrk` case runs wrk (Debian package `wrk`; installed with apt-get when missing) against the mock's /load with
# scripts/wrk-load.lua (a 200-record JSON body) for BENCH_WRK_DURATION seconds.
# The `snmp` case (a long one) polls the mock SNMP fleet (`mock-server --snmp-port auto`, every device UCD, no
# faults) with the ETL's snmp source, once per configuration: BENCH_SNMP_DEVICES devices at BENCH_SNMP_CONCURRENCY,
# the same at BENCH_SNMP_CONCURRENCY2, and BENCH_SNMP_DEVICES2 at BENCH_SNMP_CONCURRENCY (descriptors flat in fleet
# size and concurrency), two samples each (sample_interval_ms 100: the mock's counters move every 10 ms):
# devices/s, ETL CPU per device, peak RSS, peak open descriptors (/proc/PID/fd, sampled every 50 ms). Then the peer
# in the same run: Debian's prometheus-snmp-exporter (installed with apt-get when missing) with the hand-written
# scripts/bench-snmp-exporter.yml on 127.0.0.1, scraped twice per device by scripts/bench-snmp-scrape.py over
# BENCH_SNMP_SCRAPERS keep-alive connections (at most BENCH_SNMP_EXPORTER_LIMIT s): its devices/s and CPU per device,
# and the ratio of devices per CPU-second. Its table is printed after the main one. The whole case (fleet, ETL,
# exporter, scraper) runs in a network namespace of its own that the script creates (`ip netns add`, its loopback
# only; removed at exit; BENCH_SNMP_NETNS=0 runs it in the machine's namespace): on a host whose firewall tracks
# connections (Docker's NAT rules load conntrack), every device's address is a connection-tracking entry that lives
# 120 s, the kernel's table fills after ~260,000 devices and drops datagrams, and the tracking itself costs ~15 % of
# the ETL's CPU. The namespace is a poller host without such a firewall; docs/PERFORMANCE.md has both figures.
#
# Environment:
#   BENCH_REPEAT=5            runs per case
#   BENCH_LONG=0              1: the default set includes the long cases (10m, seed, 100k-1s)
#   BENCH_NO_BUILD=0          1: skip `cargo build --release`
#   BENCH_SLOW_DEVICES=200000 devices of the slow-api case (~20 s at the 10,000 records/s target, ~52 s at 4,000)
#   BENCH_WRK_DURATION=10     seconds; BENCH_WRK_CONNECTIONS=64; BENCH_WRK_THREADS=2
#   BENCH_SHARDS_DEVICES=10000000  BENCH_SHARDS_N="1 2 4 8"  BENCH_SHARDS_REPEAT=1   the shards case
#   BENCH_TMP=/tmp            where the temp dir (inventories, configs, reports) goes; removed at exit
#   BENCH_KEEP=0              1: keep the temp dir (its path is printed)
#   BENCH_OUT=                also write the final table to this file
#   BENCH_SNMP_DEVICES=100000 BENCH_SNMP_DEVICES2=20000 BENCH_SNMP_CONCURRENCY=8000 BENCH_SNMP_CONCURRENCY2=2000
#   BENCH_SNMP_NETNS=1        0: the snmp case in the machine's network namespace
#   BENCH_SNMP_SCRAPERS=64    connections to the exporter; BENCH_SNMP_EXPORTER_LIMIT=300 seconds at most
#
# Network: every address used is on 127.0.0.0/8. Every server is started under `timeout` (hard bound) and stopped by
# the EXIT trap; every wait loop is bounded.

set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN="$ROOT/target/release/app"
REPEAT=${BENCH_REPEAT:-5}
LONG=${BENCH_LONG:-0}
SLOW_DEVICES=${BENCH_SLOW_DEVICES:-200000}
WRK_DURATION=${BENCH_WRK_DURATION:-10}
WRK_CONNECTIONS=${BENCH_WRK_CONNECTIONS:-64}
WRK_THREADS=${BENCH_WRK_THREADS:-2}
NPROC=$(nproc)

SNMP_DEVICES=${BENCH_SNMP_DEVICES:-100000}
SNMP_DEVICES2=${BENCH_SNMP_DEVICES2:-20000}
SNMP_CONC=${BENCH_SNMP_CONCURRENCY:-8000}
SNMP_CONC2=${BENCH_SNMP_CONCURRENCY2:-2000}
SNMP_NETNS=${BENCH_SNMP_NETNS:-1}
NS_NAME=""   # the snmp case's network namespace, when made
IN_NS=()     # the command prefix that runs a process in it (empty: the machine's namespace)
SNMP_SCRAPERS=${BENCH_SNMP_SCRAPERS:-64}
SNMP_EXPORTER_LIMIT=${BENCH_SNMP_EXPORTER_LIMIT:-300}

SHARDS_DEVICES=${BENCH_SHARDS_DEVICES:-10000000}
SHARDS_N=${BENCH_SHARDS_N:-1 2 4 8}
SHARDS_REPEAT=${BENCH_SHARDS_REPEAT:-1}

ALL_CASES=(1m durable 10m seed 100k-1s slow-api wrk snmp shards)
LONG_CASES=" 10m seed 100k-1s snmp shards "

usage() { awk 'NR > 1 && !/^#/ { exit } NR > 1' "$0" | sed 's/^# \{0,1\}//'; } # the header comment

CASES=()
for arg in "$@"; do
    case "$arg" in
        -h|--help) usage; exit 0 ;;
        all) CASES=("${ALL_CASES[@]}") ;;
        1m|durable|10m|seed|100k-1s|slow-api|wrk|snmp|shards) CASES+=("$arg") ;;
        *) echo "bench.sh: unknown case '$arg' (cases: ${ALL_CASES[*]} all)" >&2; exit 2 ;;
    esac
done
if [ ${#CASES[@]} -eq 0 ]; then
    for c in "${ALL_CASES[@]}"; do
        if [[ "$LONG_CASES" == *" $c "* ]] && [ "$LONG" != 1 ]; then continue; fi
        CASES+=("$c")
    done
fi

START_S=$(date +%s)
TMP=$(mktemp -d "${BENCH_TMP:-/tmp}/app-bench.XXXXXX")
RESULTS="$TMP/results.tsv"
: > "$RESULTS"

# Background processes we started (the /usr/bin/time wrappers); the trap stops each by its pid.
BG_PIDS=()

stop_tree() { # pid of a /usr/bin/time wrapper: SIGTERM its children (timeout, which forwards it to the app), so
    # that time still writes its report; only if that does not end it within 15 s, TERM/KILL the wrapper too
    local pid=$1 kids k i
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    kids=$(pgrep -P "$pid" || true)
    for k in $kids; do kill -TERM "$k" 2>/dev/null || true; done
    for i in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
        for k in $kids; do kill -KILL "$k" 2>/dev/null || true; done
        kill -TERM "$pid" 2>/dev/null || true
        sleep 1
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

forget_pid() { local p kept=(); for p in "${BG_PIDS[@]}"; do [ "$p" != "$1" ] && kept+=("$p"); done; BG_PIDS=("${kept[@]}"); }

# bounded_run CMD... : runs CMD in the background (so that a signal to this script is handled at once and the trap
# stops it) and waits for it; returns its exit code. CMD must bound its own time (timeout).
bounded_run() {
    local pid rc=0
    "$@" &
    pid=$!
    BG_PIDS+=("$pid")
    wait "$pid" || rc=$?
    forget_pid "$pid"
    return "$rc"
}

cleanup() {
    local i
    # newest first: the etl (or wrk) before the mock it talks to
    for ((i = ${#BG_PIDS[@]} - 1; i >= 0; i--)); do [ -n "${BG_PIDS[i]}" ] && stop_tree "${BG_PIDS[i]}"; done
    [ -z "$NS_NAME" ] || ip netns delete "$NS_NAME" 2>/dev/null || true
    if [ "${BENCH_KEEP:-0}" = 1 ]; then
        echo "bench.sh: kept $TMP" >&2
    else
        rm -rf "$TMP"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

log() { echo "[bench $(date +%H:%M:%S)] $*" >&2; }

# --- helpers ------------------------------------------------------------------------------------------------------

# time_field FILE 'Label' : a value from a /usr/bin/time -v report
time_field() { sed -n "s/^[[:space:]]*$2: //p" "$1" | head -1; }

# seconds of "Elapsed (wall clock) time (h:mm:ss or m:ss): 1:02.34"
elapsed_s() {
    time_field "$1" 'Elapsed (wall clock) time (h:mm:ss or m:ss)' |
        awk -F: '{ s = 0; for (i = 1; i <= NF; i++) s = s * 60 + $i; printf "%.2f", s }'
}
cpu_s() { awk -v u="$(time_field "$1" 'User time (seconds)')" -v s="$(time_field "$1" 'System time (seconds)')" \
    'BEGIN { printf "%.2f", u + s }'; }
rss_mib() { awk -v k="$(time_field "$1" 'Maximum resident set size (kbytes)')" 'BEGIN { printf "%.1f", k / 1024 }'; }

CLK_TCK=$(getconf CLK_TCK)
busy_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat; } # machine-wide, all cores
# other_cores T0 T1 WALL OUR_CPU_S : cores used by processes other than ours while we ran (the machine is shared)
other_cores() { awk -v a="$1" -v b="$2" -v w="$3" -v o="$4" -v hz="$CLK_TCK" \
    'BEGIN { v = (w > 0) ? ((b - a) / hz - o) / w : 0; printf "%.2f", (v < 0) ? 0 : v }'; }

inventory() { # N -> path of a cached inventory of N loopback devices
    local n=$1 f="$TMP/inventory-$1.csv"
    if [ ! -f "$f" ]; then
        log "generating inventory of $n devices (127.x.y.z only)"
        "$BIN" generate-inventory --devices "$n" "$f.part"
        mv "$f.part" "$f"
    fi
    echo "$f"
}

MOCK_TP=""   # pid of the mock's /usr/bin/time wrapper
MOCK_URL=""

# start_mock DIR DELAY_MS LIMIT_S : starts the mock with its own config, waits for its address (10 s at most)
start_mock() {
    local dir=$1 delay=$2 limit=$3 i
    cat > "$dir/mock.toml" <<EOF
[mock]
bind = "127.0.0.1:0"
delay_ms = $delay
jitter_ms = 0
log_body_preview = 0
log_file = ""

[log]
level = "warn"
file = ""
EOF
    (cd "$dir" && exec /usr/bin/time -v -o "$dir/mock.time" \
        timeout -s TERM -k 10 "$limit" "$BIN" mock-server --config "$dir/mock.toml" \
        > "$dir/mock.out" 2> "$dir/mock.err") &
    MOCK_TP=$!
    BG_PIDS+=("$MOCK_TP")
    MOCK_URL=""
    for i in $(seq 1 100); do
        MOCK_URL=$(sed -n 's/^listening on //p' "$dir/mock.out" 2>/dev/null | head -1)
        [ -n "$MOCK_URL" ] && break
        kill -0 "$MOCK_TP" 2>/dev/null || break
        sleep 0.1
    done
    if [ -z "$MOCK_URL" ]; then
        log "mock-server did not start:"; cat "$dir/mock.err" >&2; return 1
    fi
    case "$MOCK_URL" in
        http://127.*) ;;
        *) log "mock-server is not on loopback: $MOCK_URL"; return 1 ;;
    esac
}

# stop_mock DIR : saves /stats, SIGTERMs the mock (through `timeout`, which forwards it), waits (bounded)
stop_mock() {
    local dir=$1
    "${IN_NS[@]}" curl -s --max-time 5 "$MOCK_URL/stats" > "$dir/mock.stats" || true
    stop_tree "$MOCK_TP"
    forget_pid "$MOCK_TP"
    MOCK_TP=""
}

# record CASE RUN WALL RECORDS RPS CPU_US RSS MOCK_CPU RC NOTE
record() { printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >> "$RESULTS"; }

etl_process() { # DIR LIMIT_S CONFIG INVENTORY [EXTRA ETL ARGS...]
    local dir=$1 limit=$2 config=$3 inv=$4
    shift 4
    cd "$dir" && exec /usr/bin/time -v -o "$dir/etl.time" "${IN_NS[@]}" \
        timeout -s TERM -k 30 "$limit" "$BIN" etl --config "$config" --inventory "$inv" \
        --endpoint "$MOCK_URL/load" --spool-dir "$dir/spool" --summary-json "$dir/summary.json" "$@" \
        > "$dir/etl.out" 2> "$dir/etl.err"
}

# run_etl CASE RUN DIR LIMIT_S MOCK_DELAY_MS ETL_CONFIG INVENTORY [EXTRA ETL ARGS...]
run_etl() {
    local case=$1 run=$2 dir=$3 limit=$4 delay=$5 config=$6 inv=$7 rc=0
    shift 7
    start_mock "$dir" "$delay" $((limit + 60))
    local t0 t1
    t0=$(busy_ticks)
    bounded_run etl_process "$dir" "$limit" "$config" "$inv" "$@" || rc=$?
    t1=$(busy_ticks)
    stop_mock "$dir"
    local wall cpu rss loaded mock_cpu rps cpu_us accepted others note=""
    wall=$(elapsed_s "$dir/etl.time")
    cpu=$(cpu_s "$dir/etl.time")
    rss=$(rss_mib "$dir/etl.time")
    mock_cpu=$(cpu_s "$dir/mock.time")
    loaded=$(jq -r '.records.loaded // 0' "$dir/summary.json" 2>/dev/null || echo 0)
    accepted=$(jq -r '.records_accepted // 0' "$dir/mock.stats" 2>/dev/null || echo 0)
    rps=$(awk -v n="$loaded" -v w="$wall" 'BEGIN { printf "%.0f", (w > 0) ? n / w : 0 }')
    cpu_us=$(awk -v n="$loaded" -v c="$cpu" 'BEGIN { printf "%.2f", (n > 0) ? c * 1e6 / n : 0 }')
    others=$(other_cores "$t0" "$t1" "$wall" "$(awk -v a="$cpu" -v b="$mock_cpu" 'BEGIN { print a + b }')")
    note="others ${others} cores"
    [ "$rc" = 0 ] || { note="$note; etl exit $rc"; tail -5 "$dir/etl.err" >&2 || true; }
    [ "$loaded" = "$accepted" ] || note="${note:+$note; }mock accepted $accepted"
    local fsyncs ahead
    fsyncs=$(jq -r '.log.fsyncs // 0' "$dir/summary.json" 2>/dev/null || echo 0)
    if [ "$fsyncs" != 0 ]; then
        ahead=$(jq -r '.log.batches_written_ahead // 0' "$dir/summary.json" 2>/dev/null || echo 0)
        note="$note; fsyncs $fsyncs, fsyncs/s $(awk -v n="$fsyncs" -v w="$wall" 'BEGIN { printf "%.0f", (w > 0) ? n / w : 0 }'), $ahead batches written ahead"
    fi
    record "$case" "$run" "$wall" "$loaded" "$rps" "$cpu_us" "$rss" "$mock_cpu" "$rc" "$note"
    log "$case #$run: wall ${wall}s, $loaded records, $rps rec/s, ${cpu_us} us/rec CPU, ETL RSS ${rss} MiB," \
        "mock CPU ${mock_cpu}s, exit $rc${note:+ ($note)}"
}

# etl_config DIR CONCURRENCY LATENCY_MS [EXTRA_TOML] : a config with the simulated source, warn logs, no log file
etl_config() {
    cat > "$1/etl.toml" <<EOF
[extract]
concurrency = $2

[extract.simulated]
latency_ms = $3
jitter_ms = 0
cpus_per_device = 1

[log]
level = "warn"
file = ""
EOF
    [ -z "${4:-}" ] || printf '%b' "$4" >> "$1/etl.toml"
    echo "$1/etl.toml"
}

DURABLE_TOML='\n[spool]\ndurable = true\n'

# --- cases --------------------------------------------------------------------------------------------------------

case_devices() { # CASE N CONCURRENCY LATENCY_MS MOCK_DELAY_MS LIMIT_S
    local case=$1 n=$2 conc=$3 lat=$4 delay=$5 limit=$6 inv r dir
    inv=$(inventory "$n")
    for r in $(seq 1 "$REPEAT"); do
        dir="$TMP/$case-$r"; mkdir -p "$dir"
        run_etl "$case" "$r" "$dir" "$limit" "$delay" "$(etl_config "$dir" "$conc" "$lat")" "$inv"
    done
}

# case_1m_durable BOTH : the durable case, and (BOTH=1) the 1m case interleaved with it
case_1m_durable() {
    local both=$1 inv r dir
    inv=$(inventory 1000000)
    for r in $(seq 1 "$REPEAT"); do
        if [ "$both" = 1 ]; then
            dir="$TMP/1m-$r"; mkdir -p "$dir"
            run_etl 1m "$r" "$dir" 300 0 "$(etl_config "$dir" 1000 0)" "$inv"
        fi
        dir="$TMP/durable-$r"; mkdir -p "$dir"
        run_etl durable "$r" "$dir" 300 0 "$(etl_config "$dir" 1000 0 "$DURABLE_TOML")" "$inv"
    done
}

case_seed() {
    local r dir
    for r in $(seq 1 "$REPEAT"); do
        dir="$TMP/seed-$r"; mkdir -p "$dir"
        # config/seed.toml as shipped, plus the log settings of every run here (no section of it is repeated)
        { cat "$ROOT/config/seed.toml"; printf '\n[log]\nlevel = "warn"\nfile = ""\n'; } > "$dir/etl.toml"
        run_etl seed "$r" "$dir" 120 2000 "$dir/etl.toml" "$ROOT/appliances.csv"
    done
}

SHARDS_TSV="$TMP/shards.tsv"   # N, K, devices ok, skipped, records, wall s, CPU s, peak RSS MiB, exit, variant

case_shards() {
    local inv n k r dir ok skipped file
    inv=$(inventory "$SHARDS_DEVICES")
    # Two ways to give N shards their devices: every shard reads the one inventory with `--shard K/N` (it checks
    # and keeps its own rows and hashes the others' names), or `app split-inventory` splits it once into N files
    # and each shard reads its own file. The split itself is timed apart (once per N).
    for n in $SHARDS_N; do
        [ "$n" -gt 1 ] || continue
        dir="$TMP/shards-split-$n"; mkdir -p "$dir"
        bounded_run /usr/bin/time -v -o "$dir/split.time" timeout -s TERM -k 10 600 \
            "$BIN" split-inventory --config "$(etl_config "$dir" 1000 0)" --inventory "$inv" --shards "$n" \
            "$dir/files" > "$dir/split.out" 2> "$dir/split.err" ||
            { log "split-inventory --shards $n failed"; tail -3 "$dir/split.err" >&2; }
        printf '%s\t%s\t%s\t%s\n' "$n" "$(elapsed_s "$dir/split.time")" "$(cpu_s "$dir/split.time")" \
            "$(rss_mib "$dir/split.time")" >> "$SHARDS_TSV.split"
        log "shards: split-inventory --shards $n: wall $(elapsed_s "$dir/split.time") s, CPU $(cpu_s "$dir/split.time") s"
    done
    for r in $(seq 1 "$SHARDS_REPEAT"); do
        for variant in file split; do
            for n in $SHARDS_N; do
                [ "$variant" = file ] || [ "$n" -gt 1 ] || continue
                for ((k = 0; k < n; k++)); do
                    dir="$TMP/shards-$variant-$n-$k-$r"; mkdir -p "$dir"
                    file=$inv
                    [ "$variant" = file ] || file="$TMP/shards-split-$n/files/shard-$k-$n.csv"
                    run_etl "shards-$variant-n$n" "$r" "$dir" 1200 0 "$(etl_config "$dir" 1000 0)" "$file" --shard "$k/$n"
                    ok=$(jq -r '.devices.ok // 0' "$dir/summary.json" 2>/dev/null || echo 0)
                    skipped=$(jq -r '.devices.skipped_shard // 0' "$dir/summary.json" 2>/dev/null || echo 0)
                    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$n" "$k" "$ok" "$skipped" \
                        "$(tail -n 1 "$RESULTS" | cut -f4)" "$(elapsed_s "$dir/etl.time")" "$(cpu_s "$dir/etl.time")" \
                        "$(rss_mib "$dir/etl.time")" "$(tail -n 1 "$RESULTS" | cut -f9)" "$variant" >> "$SHARDS_TSV"
                done
            done
        done
    done
}

# The shards case's own tables (from $SHARDS_TSV): one row per N, for the one inventory and for split files; the
# baseline of both is N = 1 over the one inventory.
shards_table() {
    python3 - "$SHARDS_TSV" "$SHARDS_DEVICES" <<'PY'
import statistics, sys
path, total = sys.argv[1], int(sys.argv[2])
rows = [l.rstrip("\n").split("\t") for l in open(path) if l.strip()]
splits = {}
try:
    for l in open(path + ".split"):
        n, wall, cpu, rss = l.split("\t")
        splits[int(n)] = (float(wall), float(cpu), float(rss))
except OSError:
    pass
def per_record_us(r):
    return float(r[6]) * 1e6 / int(r[4]) if int(r[4]) else float("nan")
base_rows = [r for r in rows if r[9] == "file" and r[0] == "1"]
base = (statistics.median(per_record_us(r) for r in base_rows),
        statistics.median(float(r[7]) for r in base_rows)) if base_rows else None
print(f"Shards case: {total:,} devices; the shards of each N run one after another, each alone on the machine.")
print("Baseline of the \"vs N=1\" columns: N = 1 over the one inventory.")
for variant, title in (("file", "Every shard reads the one inventory (`--shard K/N`)"),
                       ("split", "Every shard reads its own file of `app split-inventory` (`--shard K/N --inventory shard-K-N.csv`)")):
    by_n = {}
    for r in rows:
        if r[9] == variant:
            by_n.setdefault(int(r[0]), []).append(r)
    if not by_n:
        continue
    print()
    print(f"{title}:")
    print()
    print("| N | shards | devices per shard (min–max) | max deviation from total/N | sum of devices | "
          "wall per shard s (median, max) | ETL CPU µs/record (median, max) | peak RSS MiB (median, max) | "
          "CPU/record vs N=1 | RSS vs N=1 | exits | skipped by shard (sum) |")
    print("| ---: | ---: | --- | ---: | --- | --- | --- | --- | --- | --- | --- | ---: |")
    for n in sorted(by_n):
        rs = by_n[n]
        devs = [int(r[2]) for r in rs]
        runs = len(rs) // n
        ideal = total / n
        dev = max(abs(d - ideal) / ideal for d in devs) * 100
        sums = {sum(devs[i * n:(i + 1) * n]) for i in range(runs)}
        cpu = [per_record_us(r) for r in rs]
        rss = [float(r[7]) for r in rs]
        wall = [float(r[5]) for r in rs]
        exits = sorted({r[8] for r in rs})
        skipped = sum(int(r[3]) for r in rs)
        sum_ok = "= inventory" if sums == {total} else f"{sorted(sums)} ≠ {total}"
        b = base or (statistics.median(cpu), statistics.median(rss))
        cpu_vs = max(cpu) / b[0] - 1
        rss_vs = max(rss) / b[1] - 1
        print(f"| {n} | {len(rs)} | {min(devs):,}–{max(devs):,} | {dev:.2f} % {'(≤ 1 %: yes)' if dev <= 1 else '(≤ 1 %: NO)'} | "
              f"{sum_ok} | {statistics.median(wall):.2f}, {max(wall):.2f} | {statistics.median(cpu):.2f}, {max(cpu):.2f} | "
              f"{statistics.median(rss):.1f}, {max(rss):.1f} | {cpu_vs:+.0%} {'(≤ 10 %: yes)' if cpu_vs <= 0.10 else '(≤ 10 %: NO)'} | "
              f"{rss_vs:+.0%} {'(≤ 10 %: yes)' if rss_vs <= 0.10 else '(≤ 10 %: NO)'} | {','.join(exits)} | {skipped:,} |")
    if variant == "split" and splits:
        print()
        print("The split, once per N (`app split-inventory`: the whole check, then one pass writing N files): " +
              "; ".join(f"N = {n}: wall {w:.2f} s, CPU {c:.2f} s, peak RSS {m:.1f} MiB" for n, (w, c, m) in sorted(splits.items())))
print()
print("Per shard (N, K, devices ok, skipped by shard, records loaded, wall s, ETL CPU s, peak RSS MiB, exit, variant):")
print()
for r in rows:
    print("    " + "\t".join(r))
PY
}

case_wrk() {
    local r dir rc wrk_cpu mock_cpu rps recs srv cli verdict note accepted refused t0 t1 others
    if ! command -v wrk >/dev/null; then
        log "installing wrk (apt-get)"
        if ! { apt-get update -qq && apt-get install -y -qq wrk; } >"$TMP/apt.log" 2>&1; then
            log "could not install wrk; skipping the wrk case"; tail -5 "$TMP/apt.log" >&2
            record wrk - 0 0 0 - - 0 1 "wrk not installed"
            return 0
        fi
    fi
    for r in $(seq 1 "$REPEAT"); do
        dir="$TMP/wrk-$r"; mkdir -p "$dir"
        start_mock "$dir" 0 $((WRK_DURATION + 60))
        rc=0
        t0=$(busy_ticks)
        bounded_run /usr/bin/time -v -o "$dir/wrk.time" timeout -s TERM -k 10 $((WRK_DURATION + 30)) \
            wrk -t "$WRK_THREADS" -c "$WRK_CONNECTIONS" -d "${WRK_DURATION}s" --timeout 5s \
            -s "$ROOT/scripts/wrk-load.lua" "$MOCK_URL/load" > "$dir/wrk.out" 2>&1 || rc=$?
        t1=$(busy_ticks)
        stop_mock "$dir"
        rps=$(sed -n 's/^requests\/s: //p' "$dir/wrk.out")
        recs=$(sed -n 's/^records\/s: //p' "$dir/wrk.out")
        wrk_cpu=$(cpu_s "$dir/wrk.time")
        mock_cpu=$(cpu_s "$dir/mock.time")
        accepted=$(jq -r '.records_accepted // 0' "$dir/mock.stats" 2>/dev/null || echo 0)
        refused=$(jq -c '.loads_refused // {}' "$dir/mock.stats" 2>/dev/null || echo '?')
        srv=$(awk -v c="$mock_cpu" -v d="$WRK_DURATION" 'BEGIN { printf "%.2f", c / d }')
        cli=$(awk -v c="$wrk_cpu" -v d="$WRK_DURATION" 'BEGIN { printf "%.2f", c / d }')
        others=$(other_cores "$t0" "$t1" "$WRK_DURATION" "$(awk -v a="$wrk_cpu" -v b="$mock_cpu" 'BEGIN { print a + b }')")
        # Saturated when server + client + everything else on the machine use (nearly) all cores; the side using
        # more of them is the limit.
        verdict=$(awk -v s="$srv" -v c="$cli" -v o="$others" -v n="$NPROC" 'BEGIN {
            if (s + c + o >= 0.9 * n) print (s >= c ? "server-bound" : "client-bound") " (CPU saturated)";
            else print "not CPU-bound (latency or connections)" }')
        note="req/s $rps; server $srv cores, wrk $cli cores, others $others cores of $NPROC; $verdict; $(grep '^errors:' "$dir/wrk.out" || true)"
        [ "$refused" = "{}" ] || note="$note; refused $refused"
        record wrk "$r" "$WRK_DURATION" "$accepted" "${recs:-0}" - - "$mock_cpu" "$rc" "$note"
        log "wrk #$r: $note, records/s ${recs:-?}, exit $rc"
    done
}

SNMP_RESULTS="$TMP/snmp.tsv"
: > "$SNMP_RESULTS"
SNMP_PORT=""

# start_fleet DIR LIMIT_S : the mock with its SNMP fleet (every device UCD, no faults); sets MOCK_URL and SNMP_PORT
start_fleet() {
    local dir=$1 limit=$2 i
    cat > "$dir/mock.toml" <<EOF
[mock]
bind = "127.0.0.1:0"
delay_ms = 0
jitter_ms = 0
log_body_preview = 0
log_file = ""
snmp_host_resources_share = 0.0

[log]
level = "warn"
file = ""
EOF
    (cd "$dir" && exec /usr/bin/time -v -o "$dir/mock.time" "${IN_NS[@]}" \
        timeout -s TERM -k 10 "$limit" "$BIN" mock-server --config "$dir/mock.toml" --snmp-port auto \
        > "$dir/mock.out" 2> "$dir/mock.err") &
    MOCK_TP=$!
    BG_PIDS+=("$MOCK_TP")
    MOCK_URL=""; SNMP_PORT=""
    for i in $(seq 1 100); do
        MOCK_URL=$(sed -n 's/^listening on //p' "$dir/mock.out" 2>/dev/null | head -1)
        SNMP_PORT=$(sed -n 's/^snmp listening on udp:\/\/0\.0\.0\.0://p' "$dir/mock.out" 2>/dev/null | head -1)
        [ -n "$MOCK_URL" ] && [ -n "$SNMP_PORT" ] && break
        kill -0 "$MOCK_TP" 2>/dev/null || break
        sleep 0.1
    done
    if [ -z "$MOCK_URL" ] || [ -z "$SNMP_PORT" ]; then
        log "mock-server (SNMP fleet) did not start:"; cat "$dir/mock.err" >&2; return 1
    fi
    case "$MOCK_URL" in http://127.*) ;; *) log "mock-server is not on loopback: $MOCK_URL"; return 1 ;; esac
}

# peak_fds PATTERN LIMIT_S OUT : the largest count of /proc/PID/fd of the process whose command line starts with
# PATTERN, sampled every 50 ms until it is gone (after it appeared) or LIMIT_S passed; written to OUT
peak_fds() {
    local pattern=$1 limit=$2 out=$3 pid="" n max=0 seen=0 i
    for ((i = 0; i < limit * 20; i++)); do
        [ -n "$pid" ] || pid=$(pgrep -f "^$pattern" | head -1 || true)
        if [ -n "$pid" ]; then
            if [ -d "/proc/$pid/fd" ]; then
                seen=1
                n=$(ls "/proc/$pid/fd" 2>/dev/null | wc -l)
                [ "$n" -gt "$max" ] && max=$n
            elif [ "$seen" = 1 ]; then
                break
            fi
        fi
        sleep 0.05
    done
    echo "$max" > "$out"
}

# snmp_row LABEL DEVICES CONCURRENCY DONE WALL DEVICES_PER_S CPU CPU_US RSS FDS NOTE
snmp_row() { printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >> "$SNMP_RESULTS"; }

# snmp_etl LABEL DEVICES CONCURRENCY
snmp_etl() {
    local label=$1 n=$2 conc=$3 dir inv rc=0 limit=600 sampler wall cpu rss fds ok failed mock_cpu dps cpu_us note t0 t1
    dir="$TMP/snmp-$label"; mkdir -p "$dir"
    inv=$(inventory "$n")
    start_fleet "$dir" $((limit + 60))
    cat > "$dir/etl.toml" <<EOF
[extract]
source = "snmp"
concurrency = $conc
timeout_ms = 30000

[extract.snmp]
port = $SNMP_PORT
mib = "ucd"
timeout_ms = 1000
retries = 2
sample_interval_ms = 100

[log]
level = "warn"
file = ""
EOF
    peak_fds "$BIN etl --config $dir/etl.toml" "$limit" "$dir/fds.max" &
    sampler=$!
    BG_PIDS+=("$sampler")
    t0=$(busy_ticks)
    bounded_run etl_process "$dir" "$limit" "$dir/etl.toml" "$inv" || rc=$?
    t1=$(busy_ticks)
    wait "$sampler" 2>/dev/null || true
    forget_pid "$sampler"
    stop_mock "$dir"
    wall=$(elapsed_s "$dir/etl.time"); cpu=$(cpu_s "$dir/etl.time"); rss=$(rss_mib "$dir/etl.time")
    mock_cpu=$(cpu_s "$dir/mock.time")
    fds=$(cat "$dir/fds.max" 2>/dev/null || echo 0)
    ok=$(jq -r '.devices.ok // 0' "$dir/summary.json" 2>/dev/null || echo 0)
    failed=$(jq -r '.devices.failed // 0' "$dir/summary.json" 2>/dev/null || echo 0)
    dps=$(awk -v n="$ok" -v w="$wall" 'BEGIN { printf "%.0f", (w > 0) ? n / w : 0 }')
    cpu_us=$(awk -v n="$ok" -v c="$cpu" 'BEGIN { printf "%.1f", (n > 0) ? c * 1e6 / n : 0 }')
    note="$failed failed; mock CPU ${mock_cpu}s, $(jq -c '.snmp | {requests, replies, kernel_drops}' "$dir/mock.stats" 2>/dev/null || echo '?')"
    note="$note; others $(other_cores "$t0" "$t1" "$wall" "$(awk -v a="$cpu" -v b="$mock_cpu" 'BEGIN { print a + b }')") cores"
    [ "$rc" = 0 ] || { note="$note; etl exit $rc"; tail -5 "$dir/etl.err" >&2 || true; }
    snmp_row "ETL $label" "$n" "$conc" "$ok" "$wall" "$dps" "$cpu" "$cpu_us" "$rss" "$fds" "$note"
    log "snmp $label: $ok of $n devices in ${wall}s = $dps devices/s, ${cpu_us} us CPU/device, RSS ${rss} MiB," \
        "peak fds $fds ($note)"
}

# snmp_exporter : the peer, prometheus-snmp-exporter, over the same fleet and devices
snmp_exporter() {
    local dir="$TMP/snmp-exporter" inv exe eport etp rc=0 out wall devices scrapes rss ecpu dps cpu_us fds note i sampler
    local t0 t1 ccpu
    mkdir -p "$dir"
    exe=$(command -v prometheus-snmp-exporter || true)
    if [ -z "$exe" ]; then
        log "installing prometheus-snmp-exporter (apt-get)"
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus-snmp-exporter; } \
            > "$TMP/apt-exporter.log" 2>&1 || true
        exe=$(command -v prometheus-snmp-exporter || true)
        [ -n "$exe" ] || { log "no prometheus-snmp-exporter; skipping the peer"; return 0; }
    fi
    inv=$(inventory "$SNMP_DEVICES")
    start_fleet "$dir" $((SNMP_EXPORTER_LIMIT + 120))
    eport=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    (cd "$dir" && exec /usr/bin/time -v -o "$dir/exporter.time" "${IN_NS[@]}" \
        timeout -s TERM -k 10 $((SNMP_EXPORTER_LIMIT + 90)) \
        "$exe" --config.file="$ROOT/scripts/bench-snmp-exporter.yml" --web.listen-address="127.0.0.1:$eport" \
        --log.level=warn > "$dir/exporter.out" 2>&1) &
    etp=$!
    BG_PIDS+=("$etp")
    for i in $(seq 1 100); do "${IN_NS[@]}" curl -s --max-time 1 "http://127.0.0.1:$eport/" > /dev/null && break; sleep 0.1; done
    peak_fds "$exe" $((SNMP_EXPORTER_LIMIT + 60)) "$dir/fds.max" &
    sampler=$!
    BG_PIDS+=("$sampler")
    t0=$(busy_ticks)
    bounded_run /usr/bin/time -v -o "$dir/client.time" "${IN_NS[@]}" timeout -s TERM -k 10 $((SNMP_EXPORTER_LIMIT + 60)) \
        python3 "$ROOT/scripts/bench-snmp-scrape.py" "127.0.0.1:$eport" ucd_cpu "$SNMP_PORT" "$inv" \
        "$SNMP_SCRAPERS" 2 "$SNMP_EXPORTER_LIMIT" > "$dir/client.out" 2> "$dir/client.err" || rc=$?
    t1=$(busy_ticks)
    stop_tree "$etp"; forget_pid "$etp"
    wait "$sampler" 2>/dev/null || true; forget_pid "$sampler"
    stop_mock "$dir"
    out=$(cat "$dir/client.out" 2>/dev/null || true)
    kv() { echo "$out" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
    wall=$(kv wall_s); devices=$(kv devices); scrapes=$(kv scrapes)
    ecpu=$(cpu_s "$dir/exporter.time"); rss=$(rss_mib "$dir/exporter.time")
    fds=$(cat "$dir/fds.max" 2>/dev/null || echo 0)
    dps=$(awk -v n="${devices:-0}" -v w="${wall:-0}" 'BEGIN { printf "%.0f", (w > 0) ? n / w : 0 }')
    cpu_us=$(awk -v n="${devices:-0}" -v c="$ecpu" 'BEGIN { printf "%.1f", (n > 0) ? c * 1e6 / n : 0 }')
    ccpu=$(cpu_s "$dir/client.time")
    note="${scrapes:-0} scrapes over $SNMP_SCRAPERS connections, $(kv failed) failed; client CPU ${ccpu}s; mock CPU $(cpu_s "$dir/mock.time")s"
    note="$note; others $(other_cores "$t0" "$t1" "${wall:-0}" "$(awk -v a="$ecpu" -v b="$ccpu" -v c="$(cpu_s "$dir/mock.time")" 'BEGIN { print a + b + c }')") cores"
    [ "$rc" = 0 ] || { note="$note; client exit $rc"; tail -5 "$dir/client.err" >&2 || true; }
    snmp_row "prometheus-snmp-exporter" "$SNMP_DEVICES" "$SNMP_SCRAPERS" "${devices:-0}" "${wall:-0}" "$dps" "$ecpu" \
        "$cpu_us" "$rss" "$fds" "$note"
    log "exporter: ${devices:-0} devices in ${wall:-?}s = $dps devices/s, ${cpu_us} us CPU/device, RSS ${rss} MiB," \
        "peak fds $fds ($note)"
}

case_snmp() {
    if [ "$SNMP_NETNS" = 1 ] && [ -z "$NS_NAME" ]; then
        if ip netns add "app-bench-snmp-$$" 2>/dev/null; then
            NS_NAME="app-bench-snmp-$$" # deleted by cleanup, whatever happens next
            ip netns exec "$NS_NAME" ip link set lo up || { ip netns delete "$NS_NAME"; NS_NAME=""; }
        fi
        [ -n "$NS_NAME" ] ||
            log "snmp: cannot make a network namespace (not root, or no iproute2): in the machine's namespace"
    fi
    if [ -n "$NS_NAME" ]; then
        IN_NS=(ip netns exec "$NS_NAME")
        log "snmp: in the network namespace $NS_NAME (its loopback only, no connection tracking)"
    fi
    snmp_etl "${SNMP_DEVICES}-c${SNMP_CONC}" "$SNMP_DEVICES" "$SNMP_CONC"
    snmp_etl "${SNMP_DEVICES}-c${SNMP_CONC2}" "$SNMP_DEVICES" "$SNMP_CONC2"
    snmp_etl "${SNMP_DEVICES2}-c${SNMP_CONC}" "$SNMP_DEVICES2" "$SNMP_CONC"
    snmp_exporter
    IN_NS=()
}

snmp_table() {
    [ -s "$SNMP_RESULTS" ] || return 0
    echo
    echo "SNMP (case snmp): the ETL's snmp source against the mock fleet, two samples per device; and"
    echo "prometheus-snmp-exporter over the same fleet, scraped twice per device. CPU: user+sys of the etl process,"
    echo "of the exporter process. One run each."
    echo
    python3 - "$SNMP_RESULTS" <<'PY'
import sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
print("| run | devices | concurrency | devices done | wall s | devices/s | CPU s | CPU µs/device | peak RSS MiB | peak fds | notes |")
print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
for r in rows:
    print(f"| {r[0]} | {int(r[1]):,} | {r[2]} | {int(r[3]):,} | {r[4]} | {int(float(r[5])):,} | {r[6]} | {r[7]} | {r[8]} | {r[9]} | {r[10]} |")
etl = [r for r in rows if r[0].startswith("ETL ")]
peer = [r for r in rows if not r[0].startswith("ETL ")]
if etl:
    main = etl[0]
    dps, rss = float(main[5]), float(main[8])
    fds = [int(r[9]) for r in etl]
    print()
    print(f"Targets (first run): ≥ 20,000 devices/s: {'yes' if dps >= 20000 else 'no'} ({dps:,.0f}); "
          f"≤ 64 MiB RSS: {'yes' if rss <= 64 else 'no'} ({rss:.1f}); descriptors flat in fleet size and "
          f"concurrency: {'yes' if max(fds) - min(fds) <= 8 else 'no'} ({', '.join(map(str, fds))})")
    if peer and float(peer[0][7]) > 0 and float(main[7]) > 0:
        per_cpu = float(peer[0][7]) / float(main[7])
        speed = float(main[5]) / max(float(peer[0][5]), 1)
        print(f"ETL vs exporter: {per_cpu:.1f}x devices per CPU-second (aim ≥ 10x); {speed:.1f}x devices/s")
PY
}

# --- run ----------------------------------------------------------------------------------------------------------

log "cases: ${CASES[*]}; repeat $REPEAT; temp dir $TMP"
if [ "${BENCH_NO_BUILD:-0}" != 1 ]; then
    log "cargo build --release"
    (cd "$ROOT" && cargo build --release 2>&1 | tail -2) >&2
fi
[ -x "$BIN" ] || { echo "bench.sh: $BIN missing" >&2; exit 1; }

has_case() { local c; for c in "${CASES[@]}"; do [ "$c" = "$1" ] && return 0; done; return 1; }

for c in "${CASES[@]}"; do
    log "case $c"
    case "$c" in
        1m)       if has_case durable; then log "1m and durable interleaved"; case_1m_durable 1;
                  else case_devices 1m 1000000 1000 0 0 300; fi ;;
        durable)  has_case 1m || case_1m_durable 0 ;;
        10m)      case_devices 10m 10000000 1000 0 0 1200 ;;
        seed)     case_seed ;;
        100k-1s)  case_devices 100k-1s 100000 10000 1000 0 120 ;;
        slow-api) case_devices slow-api "$SLOW_DEVICES" 1000 0 2000 600 ;;
        wrk)      case_wrk ;;
        snmp)     case_snmp ;;
        shards)   case_shards ;;
    esac
done

# --- the table of medians -----------------------------------------------------------------------------------------

cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
mem_gib=$(awk '/MemTotal/ { printf "%.1f", $2 / 1048576 }' /proc/meminfo)
rev=$(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo '?')
dirty=$(cd "$ROOT" && git status --porcelain --untracked-files=no 2>/dev/null | grep -q . && echo '+changes' || true)

table() {
    echo "Machine: $NPROC cores ($cpu_model), $mem_gib GiB; commit $rev$dirty; $(date -u +%Y-%m-%dT%H:%MZ)."
    echo "Medians of $REPEAT runs per case (ETL columns: the etl process; mock CPU: the mock server's user+sys;"
    echo "others: cores used by other processes on the machine during the run, from /proc/stat)."
    echo
    local main_cases=() c
    for c in "${CASES[@]}"; do [ "$c" = snmp ] || [ "$c" = shards ] || main_cases+=("$c"); done
    if [ ${#main_cases[@]} -gt 0 ]; then
        echo "| case | wall s | records | records/s | ETL CPU µs/record | ETL peak RSS MiB | mock CPU s | target | met | notes |"
        echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- | --- |"
    fi
    local rss_1m="" rps_1m
    rps_1m=$(awk -F'\t' '$1 == "1m" { print $5 }' "$RESULTS" | sort -g |
        awk '{ v[NR] = $1 } END { if (NR) print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }')
    for c in "${main_cases[@]}"; do # snmp and shards have tables of their own
        python3 - "$RESULTS" "$c" "$rss_1m" "$rps_1m" <<'PY'
import statistics, sys
path, case, rss_1m, rps_1m = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
rows = [l.rstrip("\n").split("\t") for l in open(path) if l.startswith(case + "\t")]
if not rows:
    print(f"| {case} | — | — | — | — | — | — | — | — | no runs |"); sys.exit()
def med(i, fmt):
    vals = [float(r[i]) for r in rows if r[i] not in ("-", "")]
    return (fmt.format(statistics.median(vals)), statistics.median(vals)) if vals else ("—", None)
wall, w = med(2, "{:.2f}"); recs, _ = med(3, "{:,.0f}"); rps, rv = med(4, "{:,.0f}")
cpu, cv = med(5, "{:.2f}"); rss, mv = med(6, "{:.1f}"); mock, _ = med(7, "{:.2f}")
failed = [r for r in rows if r[8] != "0"]
target, ok = "—", None
if case == "1m":
    target = "≥ 1,000,000 rec/s; ≤ 1.0 µs/rec; ≤ 64 MiB"
    ok = rv is not None and rv >= 1e6 and cv is not None and cv <= 1.0 and mv is not None and mv <= 64
    parts = [("rec/s", rv is not None and rv >= 1e6), ("CPU", cv is not None and cv <= 1.0), ("RSS", mv is not None and mv <= 64)]
    ok = ", ".join(f"{n} {'yes' if g else 'no'}" for n, g in parts)
elif case == "durable":
    if rps_1m:
        target = f"≥ 50 % of 1m ({float(rps_1m) / 2:,.0f} rec/s)"
        ok = (f"yes ({rv / float(rps_1m):.0%})" if rv is not None and rv >= float(rps_1m) / 2
              else f"no ({(rv or 0) / float(rps_1m):.0%})")
    else:
        target = "≥ 50 % of 1m (run 1m too)"
elif case == "10m":
    base = float(rss_1m) if rss_1m else 64.0
    target = f"RSS ≤ {base * 1.1:.1f} MiB (1m +10%)"
    ok = "yes" if mv is not None and mv <= base * 1.1 else "no"
elif case == "seed":
    target = "≤ 26.5 s"; ok = "yes" if w is not None and w <= 26.5 else "no"
elif case == "100k-1s":
    target = "≤ 10.5 s (10 s + flush, +5%)"; ok = "yes" if w is not None and w <= 10.5 else "no"
elif case == "slow-api":
    target = "≥ 10,000 rec/s"; ok = "yes" if rv is not None and rv >= 1e4 else "no"
import os, re
def med_of(pattern, texts):
    vals = [float(m.group(1)) for t in texts for m in [re.search(pattern, t)] if m]
    return statistics.median(vals) if vals else None
texts = [r[9] for r in rows]
others = med_of(r"others ([0-9.]+) cores", texts)
if case == "wrk":
    req, srv, cli = (med_of(p, texts) for p in (r"req/s ([0-9.]+)", r"server ([0-9.]+) cores", r"wrk ([0-9.]+) cores"))
    n = os.cpu_count() or 1
    if None in (req, srv, cli, others):
        notes = " / ".join(texts)
    else:
        verdict = (("server-bound" if srv >= cli else "client-bound") + " (CPU saturated)"
                   if srv + cli + others >= 0.9 * n else "not CPU-bound (latency or connections)")
        notes = (f"req/s {req:,.0f}; server {srv:.2f} cores, wrk {cli:.2f}, others {others:.2f} of {n}; {verdict}")
    errs = [t for t in texts if "status 0, timeout 0" not in t or "refused" in t]
    if errs:
        notes += "; errors: " + " / ".join(errs)
else:
    notes = f"others {others:.2f} cores" if others is not None else ""
    fps = med_of(r"fsyncs/s ([0-9.]+)", texts)
    if fps is not None:
        notes += f"; {fps:,.0f} fsyncs/s (median)"
    extra = [f"run {r[1]}: " + re.sub(r"others [0-9.]+ cores;? ?", "", r[9]) for r in rows
             if re.sub(r"others [0-9.]+ cores;? ?", "", r[9])]
    if extra:
        notes += "; " + "; ".join(extra)
if failed:
    notes = f"{len(failed)} of {len(rows)} runs failed; " + notes
print(f"| {case} | {wall} | {recs} | {rps} | {cpu} | {rss} | {mock} | {target} | {ok if ok is not None else '—'} | {notes} |")
PY
        if [ "$c" = 1m ]; then
            rss_1m=$(awk -F'\t' '$1 == "1m" { print $7 }' "$RESULTS" | sort -g |
                awk '{ v[NR] = $1 } END { if (NR) print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }')
        fi
    done
    if [ ${#main_cases[@]} -gt 0 ]; then
        echo
        echo "Per run (case, run, wall s, records, records/s, ETL CPU µs/rec, ETL RSS MiB, mock CPU s, exit, notes):"
        echo
        sed 's/^/    /' "$RESULTS"
    fi
    snmp_table
    echo
    if [[ " ${CASES[*]} " == *" shards "* ]]; then
        echo
        shards_table
    fi
    echo
    echo "bench.sh total runtime: $(( $(date +%s) - START_S )) s"
}

echo
table | tee ${BENCH_OUT:+"$BENCH_OUT"}
