#!/usr/bin/env bash
# End-to-end test of the docker-compose demo (docker-compose.yml, docker-compose.shards.yml), bounded in time.
#
#   bash scripts/compose-test.sh
#
# It pulls nothing: the image is assembled from the host's release binary by scripts/docker-image-from-host.sh
# (`FROM scratch`, same layout as the Dockerfile's runtime stage) and docker-compose.yml runs it through APP_IMAGE.
# The Rust build stage of the Dockerfile is therefore NOT exercised here (see docs/DOCKER.md).
#
# Scenarios, all against the mock API's GET /stats (published on an ephemeral 127.0.0.1 port):
#   1. happy path   `up` the mock, wait until healthy, `up etl`: exit 0, records_accepted == inventory, no duplicates.
#   2. outage       a slow `etl` run; once a quarter of the inventory is accepted the mock is cut off its network
#                   (`docker network disconnect`, so its counters survive); batches go to the spool volume, the run
#                   exits 3; its container is removed; the mock is reconnected; `etl` in a NEW container replays the
#                   spool volume (every spooled file, then empty) and runs again. /stats: records_accepted == the
#                   records extracted by all runs, duplicates only under spooled batch ids.
#   3. shards       fresh mock, three `etl --shard K/3` services with their own spool volumes: each exits 0, the
#                   shards add up to the inventory, records_accepted == inventory, no duplicates.
# Everything (containers, network, volumes, image) is removed at the end, also on failure or Ctrl-C.
#
# Exit: 0 PASS (or skipped: no Docker Engine), 1 FAIL. Prints one final line `compose-test: PASS|FAIL|skipped ...`.
# Time: about 2 minutes (plus `cargo build --release` when the sources changed). Every docker call and wait has a
# timeout, every loop a bound, and the steps together stop at COMPOSE_TEST_DEADLINE (default 420 s); cleanup adds
# at most ~2 minutes of bounded calls.
# Env: APP_BIN (use this binary instead of `cargo build --release`), COMPOSE_TEST_KEEP=1 (keep everything for
# debugging; remove later with the `down -v` command printed at the end), COMPOSE_TEST_DEADLINE (seconds).
set -uo pipefail

START=$(date +%s)
# Hard limit of the test's own steps (cleanup adds at most ~2 min of bounded docker calls on top).
DEADLINE=${COMPOSE_TEST_DEADLINE:-420}
REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO" || exit 1

say() { printf '[compose-test %4ss] %s\n' "$(($(date +%s) - START))" "$*"; }

# ---- prerequisites -----------------------------------------------------------------------------------------------
if ! command -v docker >/dev/null 2>&1 || ! timeout 30 docker info >/dev/null 2>&1; then
  echo "compose-test: skipped: no Docker Engine (\`docker info\` failed)"
  exit 0
fi
if timeout 30 docker compose version >/dev/null 2>&1; then
  COMPOSE=(docker compose)
elif command -v docker-compose >/dev/null 2>&1 && timeout 30 docker-compose version >/dev/null 2>&1; then
  COMPOSE=(docker-compose)
else
  echo "compose-test: skipped: Docker Engine found, but neither \`docker compose\` nor \`docker-compose\`"
  exit 0
fi
for tool in curl jq tar; do
  command -v "$tool" >/dev/null 2>&1 || { echo "compose-test: FAIL: needs $tool"; exit 1; }
done

PROJECT="appetltest$(date +%s)$$"
IMAGE="appetl-compose-test:$PROJECT"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/compose-test.XXXXXX")
FILES=(-f docker-compose.yml)
FILES_SHARDS=(-f docker-compose.yml -f docker-compose.shards.yml)
export APP_IMAGE="$IMAGE" MOCK_HOST_PORT=0 # ephemeral loopback port: never clashes with a running 8080
unset COMPOSE_FILE COMPOSE_PROJECT_NAME COMPOSE_PROFILES
RESULT=""
FAILED_AT=""
MOCK=""

# Sets B to min(SECONDS, what is left of the time budget); fails when the budget is used up.
bud() {
  local left=$((DEADLINE - ($(date +%s) - START)))
  ((left > 0)) || fail "time budget of $DEADLINE s used up (COMPOSE_TEST_DEADLINE)"
  B=$(($1 < left ? $1 : left))
}

# Compose with this project; every call bounded. Usage: dc SECONDS [compose args...]
dc() {
  local t=$1
  shift
  bud "$t"
  timeout "$B" "${COMPOSE[@]}" -p "$PROJECT" "$@"
}

# The container id of a compose service (not a one-off `run` container).
service_container() {
  timeout 10 docker ps -aq --filter "label=com.docker.compose.project=$PROJECT" \
    --filter "label=com.docker.compose.service=$1" --filter "label=com.docker.compose.oneoff=False" | head -n1
}

diagnostics() {
  say "---- diagnostics ----"
  timeout 10 docker ps -a --filter "label=com.docker.compose.project=$PROJECT" \
    --format '{{.Names}}  {{.Status}}' 2>/dev/null | sed 's/^/  /'
  local c
  for c in $(timeout 10 docker ps -aq --filter "label=com.docker.compose.project=$PROJECT" 2>/dev/null); do
    say "last log lines of $(timeout 10 docker inspect -f '{{.Name}}' "$c" 2>/dev/null):"
    timeout 10 docker logs --tail 15 "$c" 2>&1 | cut -c1-300 | sed 's/^/  /'
  done
  if [[ -s "$TMP/compose.log" ]]; then
    say "last compose output:"
    tail -n 20 "$TMP/compose.log" | sed 's/^/  /'
  fi
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  [[ -n "$FAILED_AT" || ! -s "$TMP/fail-reason" ]] || FAILED_AT=$(cat "$TMP/fail-reason")
  [[ -n "$RESULT" ]] || RESULT="FAIL${FAILED_AT:+: $FAILED_AT}"
  [[ "$RESULT" == PASS* ]] || diagnostics
  if [[ "${COMPOSE_TEST_KEEP:-0}" == 1 ]]; then
    say "kept (COMPOSE_TEST_KEEP=1): APP_IMAGE=$IMAGE ${COMPOSE[*]} -p $PROJECT ${FILES_SHARDS[*]} down -v; docker rmi $IMAGE"
  else
    say "cleanup: containers, network, volumes and image of project $PROJECT"
    local ids=()
    mapfile -t ids < <(timeout 10 docker ps -aq --filter "label=com.docker.compose.project=$PROJECT" 2>/dev/null)
    ((${#ids[@]} == 0)) || timeout 30 docker rm -f "${ids[@]}" >/dev/null 2>&1
    timeout 60 "${COMPOSE[@]}" -p "$PROJECT" "${FILES_SHARDS[@]}" down -v --remove-orphans >>"$TMP/compose.log" 2>&1 ||
      say "warning: compose down failed: $(tail -n 3 "$TMP/compose.log" | tr '\n' ' ')"
    timeout 20 docker rmi -f "$IMAGE" >/dev/null 2>&1
    rm -rf "$TMP"
  fi
  if [[ "$RESULT" == PASS* ]]; then
    echo "compose-test: $RESULT ($(($(date +%s) - START)) s)"
    exit 0
  fi
  echo "compose-test: $RESULT ($(($(date +%s) - START)) s)"
  exit $((rc == 0 ? 1 : rc))
}
trap cleanup EXIT
trap 'FAILED_AT="interrupted"; exit 130' INT TERM

# Fails the test. Also works inside $(...): the first reason is kept in a file for the final FAIL line.
fail() {
  [[ -s "$TMP/fail-reason" ]] || printf '%s' "$*" >"$TMP/fail-reason"
  say "FAIL: $*" >&2
  exit 1
}

# check DESCRIPTION ACTUAL OP EXPECTED (OP: -eq -ne -lt -le -gt -ge)
check() {
  local what=$1 actual=$2 op=$3 expected=$4
  if [[ "$actual" =~ ^-?[0-9]+$ ]] && test "$actual" "$op" "$expected"; then
    say "  ok   $what: $actual ($op $expected)"
  else
    fail "$what: got '$actual', expected $op $expected"
  fi
}

# The mock must stay up for the whole scenario: nothing in this test stops it.
mock_alive() {
  local state
  state=$(timeout 20 docker inspect -f '{{.State.Status}} exit={{.State.ExitCode}} finished={{.State.FinishedAt}}' "$MOCK" 2>/dev/null)
  [[ "$state" == running* ]] ||
    fail "mock-server container is not running ($state); this test never stops it: was it signalled from outside (e.g. a pkill of \`app\` processes on the host)?"
}

wait_healthy() { # CONTAINER SECONDS
  local c=$1 status deadline
  bud "$2"
  deadline=$(($(date +%s) + B))
  for _ in $(seq 1 "$((B * 2))"); do
    status=$(timeout 10 docker inspect -f '{{.State.Status}}/{{if .State.Health}}{{.State.Health.Status}}{{end}}' "$c" 2>/dev/null)
    [[ "$status" == running/healthy ]] && return 0
    [[ "$status" == running/* ]] || fail "container $c is $status while waiting for it to be healthy"
    (($(date +%s) < deadline)) || break
    sleep 0.5
  done
  fail "container $c not healthy after $2 s (status $status)"
}

wait_exit() { # CONTAINER SECONDS -> prints the exit code
  local code
  bud "$2"
  code=$(timeout "$B" docker wait "$1" 2>/dev/null) || fail "container $1 still running after $B s"
  echo "$code"
}

mock_url() {
  local hostport
  hostport=$(timeout 10 docker port "$MOCK" 8080/tcp 2>/dev/null | grep -m1 '^127\.0\.0\.1:')
  [[ -n "$hostport" ]] || return 1
  echo "http://$hostport"
}

stats() { # prints the /stats JSON (retries briefly: the published port moves when the network is reconnected)
  local url body
  for _ in $(seq 1 20); do
    if url=$(mock_url) && body=$(curl -fsS -m 5 "$url/stats" 2>/dev/null) && jq -e . >/dev/null 2>&1 <<<"$body"; then
      echo "$body"
      return 0
    fi
    sleep 0.5
  done
  mock_alive
  fail "GET /stats of the mock API did not answer"
}

# A file of a container's filesystem (volumes included; works on stopped containers). Usage: cat_file CONTAINER PATH
cat_file() { timeout 30 docker cp "$1:$2" - 2>/dev/null | tar -xO 2>/dev/null; }

# Spool files in a container's /app/spool (the volume), one name a line.
spool_files() {
  timeout 30 docker cp "$1:/app/spool" - 2>/dev/null | tar -t 2>/dev/null |
    sed -n 's#^spool/\(buffer_failed_worker[0-9][0-9]*-[^/]*\.json\.gz\)$#\1#p'
}
count_lines() { if [[ -z "$1" ]]; then echo 0; else wc -l <<<"$1" | tr -d ' '; fi; }

summary() { # CONTAINER PATH-IN-LOGS -> JSON (fails when missing)
  local s
  s=$(cat_file "$1" "/app/logs/$2")
  jq -e .records >/dev/null 2>&1 <<<"$s" || fail "no run summary /app/logs/$2 in container $1"
  echo "$s"
}

# ---- image -------------------------------------------------------------------------------------------------------
say "compose: ${COMPOSE[*]} ($(timeout 30 "${COMPOSE[@]}" version --short 2>/dev/null || echo '?')); project $PROJECT"
say "building image $IMAGE from the host binary (no registry pulls)"
bud 400
CARGO_BUILD_TIMEOUT=$((B > 60 ? B - 30 : B)) timeout "$B" bash scripts/docker-image-from-host.sh "$IMAGE" ${APP_BIN:+"$APP_BIN"} >"$TMP/image.log" 2>&1 ||
  { cat "$TMP/image.log"; fail "image build (scripts/docker-image-from-host.sh; APP_BIN=path tests a given binary)"; }
sed 's/^/  /' "$TMP/image.log"
# Compose would try to pull a missing image: make sure it is there.
timeout 20 docker image inspect "$IMAGE" >/dev/null 2>&1 || fail "image $IMAGE missing after the build"
dc 60 "${FILES[@]}" config -q >>"$TMP/compose.log" 2>&1 || fail "docker-compose.yml is invalid"
dc 60 "${FILES_SHARDS[@]}" config -q >>"$TMP/compose.log" 2>&1 || fail "docker-compose.shards.yml is invalid"

INVENTORY=$(dc 120 "${FILES[@]}" run -T --rm --no-deps etl validate 2>>"$TMP/compose.log" |
  sed -n 's/^validate: configuration ok; inventory .*: \([0-9][0-9]*\) devices, 0 invalid rows$/\1/p')
[[ "$INVENTORY" =~ ^[1-9][0-9]*$ ]] || fail "app validate in the image did not report the inventory size"
say "inventory (appliances.csv, mounted read-only): $INVENTORY devices"

# ---- 1. happy path -----------------------------------------------------------------------------------------------
say "== 1. happy path: up mock-server, wait until healthy, up etl"
dc 120 "${FILES[@]}" up -d --no-build mock-server >>"$TMP/compose.log" 2>&1 || fail "compose up mock-server"
MOCK=$(service_container mock-server)
[[ -n "$MOCK" ]] || fail "no mock-server container"
wait_healthy "$MOCK" 60
say "mock-server healthy, /stats at $(mock_url)"
check "records_accepted before any run" "$(stats | jq -r .records_accepted)" -eq 0

dc 120 "${FILES[@]}" up --no-build --no-color etl >"$TMP/etl-happy.log" 2>&1 || fail "compose up etl (see $TMP/etl-happy.log)"
ETL=$(service_container etl)
[[ -n "$ETL" ]] || fail "no etl container"
code=$(wait_exit "$ETL" 30) || exit 1
grep -E '\|   (records|batches|spool|result) ' "$TMP/etl-happy.log" | sed 's/^/  /'
check "etl exit code" "$code" -eq 0
S1=$(summary "$ETL" summary.json) || exit 1
ST=$(stats) || exit 1
check "records extracted" "$(jq -r .records.extracted <<<"$S1")" -eq "$INVENTORY"
check "records loaded" "$(jq -r .records.loaded <<<"$S1")" -eq "$INVENTORY"
check "/stats records_accepted" "$(jq -r .records_accepted <<<"$ST")" -eq "$INVENTORY"
check "/stats duplicate_batches" "$(jq -r .duplicate_batches <<<"$ST")" -eq 0
check "/stats unique_batches == batches sent" "$(jq -r .unique_batches <<<"$ST")" -eq "$(jq -r .batches.sent <<<"$S1")"
check "/stats refused loads" "$(jq -r '[.loads_refused[]] | add // 0' <<<"$ST")" -eq 0
check "spool files after the run" "$(count_lines "$(spool_files "$ETL")")" -eq 0
log_size=$(cat_file "$ETL" /app/logs/etl.log | wc -c)
check "bytes in logs/etl.log (log volume)" "$log_size" -gt 0
EXTRACTED_TOTAL=$(jq -r .records.extracted <<<"$S1")
SENT_TOTAL=$(jq -r .batches.sent <<<"$S1")

# ---- 2. outage -----------------------------------------------------------------------------------------------------
say "== 2. outage: a slow etl run, the mock cut off its network halfway"
# shellcheck disable=SC2016 # a Go template, not a shell expansion
NET=$(timeout 10 docker inspect -f '{{range $k, $v := .NetworkSettings.Networks}}{{$k}}{{"\n"}}{{end}}' "$MOCK" | grep -m1 .)
[[ "$NET" == *etl-net ]] || fail "mock-server is not on the project's etl-net network (got '$NET')"
BASE=$(stats | jq -r .records_accepted) || exit 1
OUTAGE="${PROJECT}_outage"
# ~40 devices in flight x 200 ms: about 200 records/s, a 20 s run; short request timeout and backoff cap so that the
# loaders give up on the unreachable API in seconds.
dc 60 "${FILES[@]}" run -d -T --no-deps --name "$OUTAGE" \
  -e APP__EXTRACT__CONCURRENCY=40 \
  -e APP__EXTRACT__SIMULATED__LATENCY_MS=200 \
  -e APP__LOAD__REQUEST_TIMEOUT_MS=2000 \
  -e APP__LOAD__RETRY__MAX_BACKOFF_MS=1000 \
  -e APP__LOG__FILE=logs/etl-outage.log \
  etl etl --summary-json logs/summary-outage.json >>"$TMP/compose.log" 2>&1 || fail "compose run (outage)"
cut_at=$((INVENTORY / 4))
accepted=0
for _ in $(seq 1 240); do
  bud 1
  now=$(stats | jq -r .records_accepted) || exit 1
  accepted=$((now - BASE))
  ((accepted >= cut_at)) && break
  [[ "$(timeout 10 docker inspect -f '{{.State.Running}}' "$OUTAGE" 2>/dev/null)" == true ]] ||
    fail "the outage run ended before the cut ($accepted records accepted); it is meant to be slower"
  sleep 0.25
done
((accepted >= cut_at)) || fail "the outage run did not reach $cut_at accepted records in time"
timeout 30 docker network disconnect "$NET" "$MOCK" || fail "docker network disconnect"
say "mock-server disconnected from $NET after $accepted accepted records (still running, counters kept)"
[[ "$(timeout 10 docker inspect -f '{{.State.Running}}' "$OUTAGE")" == true ]] || fail "the outage run ended before the cut"
spooled_seen=0
for _ in $(seq 1 60); do
  bud 1
  spooled_seen=$(count_lines "$(spool_files "$OUTAGE")")
  ((spooled_seen > 0)) && break
  [[ "$(timeout 10 docker inspect -f '{{.State.Running}}' "$OUTAGE")" == true ]] || break
  sleep 1
done
say "  ..   spool files in the volume while the run goes on: $spooled_seen"
check "spool files appearing during the outage" "$spooled_seen" -gt 0
code=$(wait_exit "$OUTAGE" 120) || exit 1
timeout 20 docker logs "$OUTAGE" 2>/dev/null | grep -E '^  (records|batches|spool|result) ' | sed 's/^/  /'
check "outage run exit code (3: something spooled)" "$code" -eq 3
S2=$(summary "$OUTAGE" summary-outage.json) || exit 1
SPOOLED=$(jq -r .records.spooled <<<"$S2")
FILES_WRITTEN=$(jq -r .spool.files_written <<<"$S2")
check "outage run: records extracted" "$(jq -r .records.extracted <<<"$S2")" -eq "$INVENTORY"
check "outage run: records spooled" "$SPOOLED" -gt 0
check "outage run: loaded + spooled == extracted" \
  "$(jq -r '.records.loaded + .records.spooled' <<<"$S2")" -eq "$(jq -r .records.extracted <<<"$S2")"
check "outage run: records lost or rejected" "$(jq -r '.records.lost + .records.rejected' <<<"$S2")" -eq 0
SPOOL_LIST=$(spool_files "$OUTAGE")
check "spool files in the volume after the run == files written" "$(count_lines "$SPOOL_LIST")" -eq "$FILES_WRITTEN"
mock_alive
EXTRACTED_TOTAL=$((EXTRACTED_TOTAL + $(jq -r .records.extracted <<<"$S2")))
SENT_TOTAL=$((SENT_TOTAL + $(jq -r .batches.sent <<<"$S2")))
timeout 30 docker rm "$OUTAGE" >/dev/null || fail "docker rm of the outage container"
say "outage container removed; the spooled batches now live only in the spool volume"

timeout 30 docker network connect --alias mock-server "$NET" "$MOCK" || fail "docker network connect"
say "mock-server reconnected; /stats at $(mock_url)"
RECOVER="${PROJECT}_recover"
dc 120 "${FILES[@]}" run -T --no-deps --name "$RECOVER" \
  etl etl --summary-json logs/summary-recover.json >"$TMP/etl-recover.log" 2>&1
code=$(wait_exit "$RECOVER" 30) || exit 1
grep -E '^  (records|batches|spool|result) ' "$TMP/etl-recover.log" | sed 's/^/  /'
check "recovery run (new container, same spool volume) exit code" "$code" -eq 0
S3=$(summary "$RECOVER" summary-recover.json) || exit 1
check "recovery run: spool files replayed == files written in the outage" \
  "$(jq -r .spool.files_replayed <<<"$S3")" -eq "$FILES_WRITTEN"
check "recovery run: records replayed == records spooled in the outage" "$(jq -r .records.replayed <<<"$S3")" -eq "$SPOOLED"
check "recovery run: records spooled" "$(jq -r .records.spooled <<<"$S3")" -eq 0
check "spool files left in the volume" "$(count_lines "$(spool_files "$RECOVER")")" -eq 0
EXTRACTED_TOTAL=$((EXTRACTED_TOTAL + $(jq -r .records.extracted <<<"$S3")))
SENT_TOTAL=$((SENT_TOTAL + $(jq -r .batches.sent <<<"$S3")))
ST=$(stats) || exit 1
say "  /stats: $(jq -c '{records_accepted, unique_batches, duplicate_batches, duplicate_records, loads_refused}' <<<"$ST")"
check "/stats records_accepted == records extracted by all 3 runs" "$(jq -r .records_accepted <<<"$ST")" -eq "$EXTRACTED_TOTAL"
check "/stats unique_batches == batches the runs saw delivered" "$(jq -r .unique_batches <<<"$ST")" -eq "$SENT_TOTAL"
check "/stats duplicate_batches <= spool files replayed" "$(jq -r .duplicate_batches <<<"$ST")" -le "$FILES_WRITTEN"
check "/stats refused loads" "$(jq -r '[.loads_refused[]] | add // 0' <<<"$ST")" -eq 0
# Duplicates only under the same batch id: every key the mock saw more than once is a spooled batch, every spooled
# batch was seen, and no /load came without a key.
MOCKLOG="$TMP/mock_server.log"
cat_file "$MOCK" /app/logs/mock_server.log >"$MOCKLOG"
keys=$(grep -o 'Received POST /load with size [0-9]* bytes key [A-Za-z0-9._-]*' "$MOCKLOG" | awk '{print $NF}')
check "/load requests in the mock log" "$(count_lines "$keys")" -gt 0
check "/load requests without Idempotency-Key" \
  "$(grep 'Received POST /load' "$MOCKLOG" | grep -vc 'bytes key ')" -eq 0
spooled_ids=$(sed -n 's/^buffer_failed_worker[0-9]*-\(.*\)\.json\.gz$/\1/p' <<<"$SPOOL_LIST" | sort -u)
repeated=$(sort <<<"$keys" | uniq -d)
check "keys sent more than once that are not spooled batches" \
  "$(comm -23 <(printf '%s\n' "$repeated" | grep . | sort -u) <(printf '%s\n' "$spooled_ids" | grep .) | wc -l)" -eq 0
check "spooled batches the mock never saw" \
  "$(comm -23 <(printf '%s\n' "$spooled_ids" | grep .) <(sort -u <<<"$keys") | wc -l)" -eq 0

# ---- 3. shards -------------------------------------------------------------------------------------------------------
say "== 3. three shards against a fresh mock (docker-compose.shards.yml)"
mapfile -t ids < <(timeout 30 docker ps -aq --filter "label=com.docker.compose.project=$PROJECT" \
  --filter "label=com.docker.compose.oneoff=True")
((${#ids[@]} == 0)) || timeout 60 docker rm -f "${ids[@]}" >/dev/null
dc 120 "${FILES[@]}" down -v >>"$TMP/compose.log" 2>&1 || fail "compose down -v"
dc 120 "${FILES_SHARDS[@]}" up -d --no-build >>"$TMP/compose.log" 2>&1 || fail "compose up (shards)"
MOCK=$(service_container mock-server)
[[ -n "$MOCK" ]] || fail "no mock-server container"
check "containers of the unsharded etl service" "$(count_lines "$(service_container etl)")" -eq 0
SHARD_EXTRACTED=0
SHARD_SENT=0
SPOOL_VOLUMES=""
for k in 0 1 2; do
  c=$(service_container "etl-shard-$k")
  [[ -n "$c" ]] || fail "no etl-shard-$k container"
  code=$(wait_exit "$c" 120) || exit 1
  check "etl-shard-$k exit code" "$code" -eq 0
  s=$(summary "$c" "summary-shard-$k.json") || exit 1
  e=$(jq -r .records.extracted <<<"$s")
  check "etl-shard-$k records extracted" "$e" -gt 0
  check "etl-shard-$k devices skipped by shard == inventory - own" "$(jq -r .devices.skipped_shard <<<"$s")" -eq $((INVENTORY - e))
  check "etl-shard-$k spool files" "$(count_lines "$(spool_files "$c")")" -eq 0
  SHARD_EXTRACTED=$((SHARD_EXTRACTED + e))
  SHARD_SENT=$((SHARD_SENT + $(jq -r .batches.sent <<<"$s")))
  SPOOL_VOLUMES+="$(timeout 10 docker inspect -f '{{range .Mounts}}{{if eq .Destination "/app/spool"}}{{.Name}}{{end}}{{end}}' "$c")"$'\n'
done
check "distinct spool volumes of the shards" "$(sort -u <<<"$SPOOL_VOLUMES" | grep -c .)" -eq 3
wait_healthy "$MOCK" 30
ST=$(stats) || exit 1
say "  /stats: $(jq -c '{records_accepted, unique_batches, duplicate_batches, loads_refused}' <<<"$ST")"
check "records extracted by the 3 shards" "$SHARD_EXTRACTED" -eq "$INVENTORY"
check "/stats records_accepted" "$(jq -r .records_accepted <<<"$ST")" -eq "$INVENTORY"
check "/stats duplicate_batches" "$(jq -r .duplicate_batches <<<"$ST")" -eq 0
check "/stats unique_batches == batches sent by the shards" "$(jq -r .unique_batches <<<"$ST")" -eq "$SHARD_SENT"

RESULT="PASS: happy path, outage + replay from the spool volume, 3 shards ($INVENTORY devices)"
