#!/usr/bin/env bash
# Chaos soak (loopback only, bounded): see scripts/soak.py for what it does and checks.
#   scripts/soak.sh                      # up to 60 rounds or 240 s (SOAK_ROUNDS, SOAK_SECONDS)
#   SOAK_SECONDS=30 scripts/soak.sh      # the short version .ci/run uses
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${APP_BIN:-}" ]; then
  cargo build --release --locked -q
  export APP_BIN="$PWD/target/release/app"
fi
budget=$(( ${SOAK_SECONDS:-240} + 420 ))
exec timeout "$budget" python3 scripts/soak.py
