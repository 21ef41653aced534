#!/usr/bin/env bash
# End-to-end benchmarks of `app etl` against `app mock-server` on this machine (loopback only).
#
#   scripts/bench.sh                 # the default cases: 1m, durable, slow-api, wrk
#   BENCH_LONG=1 scripts/bench.sh    # also 10m, seed, 100k-1s
#   scripts/bench.sh 1m seed         # just these cases (any of: 1m durable 10m seed 100k-1s slow-api wrk; or "all")
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
# The `wrk` case runs wrk (Debian package `wrk`; installed with apt-get when missing) against the mock's /load with
# scripts/wrk-load.lua (a 200-record JSON body) for BENCH_WRK_DURATION seconds.
#
# Environment:
#   BENCH_REPEAT=5            runs per case
#   BENCH_LONG=0              1: the default set includes the long cases (10m, seed, 100k-1s)
#   BENCH_NO_BUILD=0          1: skip `cargo build --release`
#   BENCH_SLOW_DEVICES=200000 devices of the slow-api case (~20 s at the 10,000 records/s target, ~52 s at 4,000)
#   BENCH_WRK_DURATION=10     seconds; BENCH_WRK_CONNECTIONS=64; BENCH_WRK_THREADS=2
#   BENCH_TMP=/tmp            where the temp dir (inventories, configs, reports) goes; removed at exit
#   BENCH_KEEP=0              1: keep the temp dir (its path is printed)
#   BENCH_OUT=                also write the final table to this file
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

ALL_CASES=(1m durable 10m seed 100k-1s slow-api wrk)
LONG_CASES=" 10m seed 100k-1s "

usage() { sed -n '2,37p' "$0" | sed 's/^# \{0,1\}//'; }

CASES=()
for arg in "$@"; do
    case "$arg" in
        -h|--help) usage; exit 0 ;;
        all) CASES=("${ALL_CASES[@]}") ;;
        1m|durable|10m|seed|100k-1s|slow-api|wrk) CASES+=("$arg") ;;
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
    curl -s --max-time 5 "$MOCK_URL/stats" > "$dir/mock.stats" || true
    stop_tree "$MOCK_TP"
    forget_pid "$MOCK_TP"
    MOCK_TP=""
}

# record CASE RUN WALL RECORDS RPS CPU_US RSS MOCK_CPU RC NOTE
record() { printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >> "$RESULTS"; }

etl_process() { # DIR LIMIT_S CONFIG INVENTORY
    cd "$1" && exec /usr/bin/time -v -o "$1/etl.time" \
        timeout -s TERM -k 30 "$2" "$BIN" etl --config "$3" --inventory "$4" \
        --endpoint "$MOCK_URL/load" --spool-dir "$1/spool" --summary-json "$1/summary.json" \
        > "$1/etl.out" 2> "$1/etl.err"
}

# run_etl CASE RUN DIR LIMIT_S MOCK_DELAY_MS ETL_CONFIG INVENTORY
run_etl() {
    local case=$1 run=$2 dir=$3 limit=$4 delay=$5 config=$6 inv=$7 rc=0
    start_mock "$dir" "$delay" $((limit + 60))
    local t0 t1
    t0=$(busy_ticks)
    bounded_run etl_process "$dir" "$limit" "$config" "$inv" || rc=$?
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
    echo "| case | wall s | records | records/s | ETL CPU µs/record | ETL peak RSS MiB | mock CPU s | target | met | notes |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- | --- |"
    local rss_1m="" rps_1m
    rps_1m=$(awk -F'\t' '$1 == "1m" { print $5 }' "$RESULTS" | sort -g |
        awk '{ v[NR] = $1 } END { if (NR) print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }')
    for c in "${CASES[@]}"; do
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
    echo
    echo "Per run (case, run, wall s, records, records/s, ETL CPU µs/rec, ETL RSS MiB, mock CPU s, exit, notes):"
    echo
    sed 's/^/    /' "$RESULTS"
    echo
    echo "bench.sh total runtime: $(( $(date +%s) - START_S )) s"
}

echo
table | tee ${BENCH_OUT:+"$BENCH_OUT"}
