#!/usr/bin/env bash
# Checks deploy/ with the real tools (called by .ci/run; about half a minute once the tools are installed):
#
#   1. Kubernetes: `kubectl kustomize deploy/kubernetes` (a small renderer of the same kustomization when kubectl is
#      missing), every rendered document plus job.yaml and drain-job.yaml validated against the Kubernetes API
#      schemas of KUBERNETES_VERSION by kubernetes-validate (PyPI, pinned, --strict: unknown fields are errors);
#      the consistency checks of scripts/check-deploy.py (N agrees, the exit-code policy, the security context,
#      the config's paths are the pod's mounts, job.yaml/drain-job.yaml equal the CronJob's Job); and
#      `app validate` on the ConfigMap's config.toml and inventory.csv with the built binary.
#   2. systemd: `systemd-analyze verify` of every unit (templates as instances app-etl@0-4) in a temp copy whose
#      ExecStart names the built binary (verify checks that it exists), with no warning allowed; the shard
#      instance's command line as systemd expands it; `systemd-analyze security --offline` exposure <= 2.0; the
#      units' consistency (scripts/check-deploy.py). Needs no running systemd (works in a container).
#   3. Prometheus: `promtool check rules` and `promtool test rules` (Debian's prometheus package); the Grafana
#      dashboard parses. (tests/it/deploy_metrics.rs checks that both name only metrics the binary exports.)
#
# Installs what is missing: promtool (apt-get install prometheus), systemd-analyze (apt-get install systemd),
# kubernetes-validate (pip). Environment: APP_BIN (default target/release/app, built when missing).
# Prints `check-deploy: PASS` and exits 0, or names each failure and exits 1.
set -euo pipefail
cd "$(dirname "$0")/.."

KUBERNETES_VERSION=1.31.0        # the API schemas the manifests are validated against
KUBERNETES_VALIDATE=1.31.0       # the PyPI package (its version carries the newest schemas it knows)
APP_BIN=${APP_BIN:-$PWD/target/release/app}

say() { echo "check-deploy: $*"; }
fail() { say "FAIL: $*"; exit 1; }

apt_updated=0
apt_install() { # PACKAGE...
    if [ "$apt_updated" = 0 ]; then apt-get update -qq >/dev/null; apt_updated=1; fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
command -v promtool >/dev/null || { say "installing promtool (apt-get install prometheus)"; apt_install prometheus; }
command -v systemd-analyze >/dev/null || { say "installing systemd-analyze (apt-get install systemd)"; apt_install systemd; }
command -v openssl >/dev/null || { say "installing openssl (apt-get install openssl)"; apt_install openssl; }
if ! python3 -c 'import kubernetes_validate, yaml' 2>/dev/null ||
   [ "$(python3 -c 'import importlib.metadata as m; print(m.version("kubernetes-validate"))')" != "$KUBERNETES_VALIDATE" ]; then
    say "installing kubernetes-validate==$KUBERNETES_VALIDATE (pip)"
    python3 -m pip install -q --disable-pip-version-check "kubernetes-validate==$KUBERNETES_VALIDATE" >/dev/null
fi
if [ ! -x "$APP_BIN" ]; then
    say "building $APP_BIN"
    cargo build --release --locked 2>&1 | tail -n 2
fi

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# --- 1. Kubernetes -------------------------------------------------------------------------------------------------
if command -v kubectl >/dev/null; then
    kubectl kustomize deploy/kubernetes > "$TMP/rendered.yaml" || fail "kubectl kustomize deploy/kubernetes"
    say "rendered deploy/kubernetes with kubectl kustomize ($(kubectl version --client 2>/dev/null | sed -n 's/^Kustomize Version: //p'))"
else
    python3 scripts/check-deploy.py render deploy/kubernetes > "$TMP/rendered.yaml" || fail "render deploy/kubernetes"
    say "rendered deploy/kubernetes with scripts/check-deploy.py render (no kubectl on this machine)"
fi
# kubernetes-validate needs metadata.name: the one-off Jobs use generateName (kubectl create gives the name).
for f in job drain-job; do
    sed 's/^  generateName: \(.*\)-$/  name: \1/' "deploy/kubernetes/$f.yaml" > "$TMP/$f.yaml"
done
kubernetes-validate --strict -k "$KUBERNETES_VERSION" "$TMP/rendered.yaml" "$TMP/job.yaml" "$TMP/drain-job.yaml" \
    > "$TMP/validate.out" 2>&1 || { cat "$TMP/validate.out"; fail "kubernetes-validate"; }
sed "s|$TMP/||; s/^/check-deploy: /" "$TMP/validate.out"
[ "$(grep -c ' passed for resource ' "$TMP/validate.out")" -ge 6 ] || fail "fewer resources validated than rendered"
python3 scripts/check-deploy.py kubernetes "$TMP/rendered.yaml" deploy/kubernetes | sed 's/^/check-deploy: kubernetes: /'
[ "${PIPESTATUS[0]}" = 0 ] || fail "kubernetes consistency"
printf 'a-token\n' > "$TMP/token"
# load.ca_file names the pod's mount: a throwaway CA stands in for it.
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$TMP/ca.key" -out "$TMP/ca.crt" -days 1 -subj /CN=check-deploy \
    >/dev/null 2>&1 || fail "openssl could not make a CA for app validate"
APP__LOAD__TOKEN_FILE="$TMP/token" APP__LOAD__CA_FILE="$TMP/ca.crt" "$APP_BIN" validate --config deploy/kubernetes/config.toml \
    --inventory deploy/kubernetes/inventory.csv > "$TMP/app-validate.out" 2>&1 ||
    { cat "$TMP/app-validate.out"; fail "app validate deploy/kubernetes/config.toml"; }
say "kubernetes: app validate: $(tail -n 1 "$TMP/app-validate.out")"

# --- 2. systemd ----------------------------------------------------------------------------------------------------
mkdir "$TMP/units"
for f in deploy/systemd/*; do
    sed "s|/usr/local/bin/app |$APP_BIN |" "$f" > "$TMP/units/$(basename "$f")"
done
(
    cd "$TMP/units"
    for t in app-etl@ app-etl-replay@; do cp "$t.service" "${t}0-4.service"; done
    cp app-etl@.timer app-etl@0-4.timer
    units=(app-etl.service app-etl.timer app-etl@0-4.service app-etl@0-4.timer app-etl-replay@0-4.service)
    if ! systemd-analyze verify "${units[@]/#/./}" > verify.out 2>&1 || [ -s verify.out ]; then
        cat verify.out; exit 1
    fi
    echo "check-deploy: systemd-analyze verify: ${units[*]}: no error, no warning"
    SYSTEMD_LOG_LEVEL=debug systemd-analyze verify ./app-etl@0-4.service 2>&1 | grep -F 'Command Line:' > cmd.out
    grep -qxF "			Command Line: $APP_BIN etl --config /etc/app-etl/config.toml --shard 0/4" cmd.out ||
        { cat cmd.out; echo "check-deploy: FAIL: app-etl@0-4.service does not run --shard 0/4"; exit 1; }
    echo "check-deploy: systemd: app-etl@0-4.service runs: $(sed 's/^[[:space:]]*Command Line: //; s|^[^ ]*/app |app |' cmd.out)"
    for u in app-etl.service app-etl@0-4.service app-etl-replay@0-4.service; do
        systemd-analyze security --offline=true --threshold=20 "./$u" > security.out 2>&1 ||
            { tail -n 5 security.out; echo "check-deploy: FAIL: $u exposure above 2.0"; exit 1; }
        echo "check-deploy: systemd: $(grep -o 'Overall exposure level for .*' security.out)"
    done
) || fail "systemd units"
python3 scripts/check-deploy.py systemd deploy/systemd | sed 's/^/check-deploy: systemd: /'
[ "${PIPESTATUS[0]}" = 0 ] || fail "systemd consistency"

# --- 3. Prometheus and Grafana -------------------------------------------------------------------------------------
promtool check rules deploy/prometheus/rules.yml 2>&1 | sed 's/^/check-deploy: promtool: /'
[ "${PIPESTATUS[0]}" = 0 ] || fail "promtool check rules"
promtool test rules deploy/prometheus/rules_test.yml > "$TMP/promtool-test.out" 2>&1 ||
    { cat "$TMP/promtool-test.out"; fail "promtool test rules"; }
say "promtool test rules deploy/prometheus/rules_test.yml: $(grep -o 'SUCCESS' "$TMP/promtool-test.out")"
python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); print("check-deploy: grafana: %s: %d panels" % (d["title"], len([p for p in d["panels"] if p["type"] != "row"])))' \
    deploy/grafana/app.json || fail "deploy/grafana/app.json does not parse"

say "PASS"
