#!/usr/bin/env bash
# The long version of the durable-mode SIGKILL loop (tests/it/durable_crash.rs): DURABLE_CRASH_KILLS kills
# (default 60) at random points of `etl` runs with spool.durable = true against the in-process mock on 127.0.0.1:0,
# then one run to the end; checks that every batch written ahead was delivered, keyed duplicates only, and that the
# log and the spool end empty. Bounded: each kill comes within 1.5 s of its run's start, the loop fails past
# 30 s per kill. DURABLE_CRASH_SEED repeats a run. .ci/run runs the short version (10 kills) inside `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."
export DURABLE_CRASH_KILLS=${DURABLE_CRASH_KILLS:-60}
exec cargo test --test it durable_crash -- --nocapture
