#!/usr/bin/env bash
# End-to-end benchmarks of `app etl` against `app mock-server` (loopback only): a thin wrapper of scripts/bench.py,
# kept because the docs cite `scripts/bench.sh`. `scripts/bench.sh --help` prints the whole documentation (cases,
# columns, options, results JSON); the BENCH_* environment variables still set the options' defaults
# (BENCH_LONG=1 scripts/bench.sh, BENCH_REPEAT=3 scripts/bench.sh 1m, ...).
set -euo pipefail
exec python3 "$(dirname "$0")/bench.py" "$@"
