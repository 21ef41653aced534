#!/usr/bin/env bash
# Fuzzes app's untrusted inputs with cargo-fuzz (libFuzzer + AddressSanitizer), each target for a bounded time:
#   scripts/fuzz.sh                         # every target, FUZZ_SECONDS=60 each
#   FUZZ_SECONDS=600 scripts/fuzz.sh stats  # one target, longer
# Targets (fuzz/fuzz_targets/): inventory, load_body, snmp, spool_file, stats. Seeds are in fuzz/corpus/<target>/;
# what the fuzzer adds goes to target/fuzz-corpus/<target>/ (not committed); a crash is saved under
# fuzz/artifacts/<target>/ and fails the script. Only this stable toolchain is on the machine, so nightly-only
# flags (-Zsanitizer) are enabled with RUSTC_BOOTSTRAP=1.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-60}
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(inventory load_body snmp spool_file stats)
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz: installing cargo-fuzz from crates.io" >&2
  cargo install cargo-fuzz --locked
fi
export RUSTC_BOOTSTRAP=1
cargo fuzz build -O
mkdir -p target/fuzz-logs
for t in "${targets[@]}"; do
  work="target/fuzz-corpus/$t"
  log="target/fuzz-logs/$t.log"
  mkdir -p "$work"
  echo "fuzz: $t for ${seconds}s (log $log)" >&2
  # -rss_limit_mb / -malloc_limit_mb: a run that allocates without bound is a failure too.
  rc=0
  timeout $(( seconds + 600 )) cargo fuzz run -O "$t" "$work" "fuzz/corpus/$t" -- \
    -max_total_time="$seconds" -rss_limit_mb=1024 -malloc_limit_mb=256 -max_len=65536 -print_final_stats=1 \
    >"$log" 2>&1 || rc=$?
  grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb)|^#[0-9]+ +DONE' "$log" | sed "s/^/  $t: /" >&2 || true
  if [ "$rc" -ne 0 ]; then
    grep -E 'panicked|==[0-9]+==ERROR|SUMMARY|Test unit written' "$log" | head -20 >&2 || true
    echo "fuzz: $t FAILED (exit $rc; the input is under fuzz/artifacts/$t/)" >&2
    exit 1
  fi
done
echo "fuzz: ${targets[*]}: ${seconds}s each, no crash, no leak, no over-limit allocation" >&2
