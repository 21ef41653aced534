#!/usr/bin/env bash
# Installs what the test suite starts or reads that cargo does not bring, each only when it is missing: net-snmp's
# agent and tools (snmpd, snmp), Debian's Pushgateway, Prometheus (remote-write receiver), VictoriaMetrics and
# InfluxDB 1.x, and snmpsim with the recordings of real devices (PyPI snmpsim, snmpsim-data) in /opt/snmpsim.
# Debian packages by apt-get, the Python ones by pip into a venv; runs as root (as .ci/run does). The README's test
# command is `bash scripts/install-test-deps.sh && cargo test`.
set -euo pipefail

apt_updated=0
need_apt() { # COMMAND PACKAGE: install PACKAGE with apt-get when COMMAND is missing
    command -v "$1" >/dev/null 2>&1 && return 0
    echo "== apt-get install $2 (for $1)"
    if [ "$apt_updated" = 0 ]; then apt-get update -qq; apt_updated=1; fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$2"
}
# The SNMP tests run the real net-snmp agent (snmpd) and its command-line tools (snmpget): Debian packages.
[ -x /usr/sbin/snmpd ] || need_apt snmpd snmpd
need_apt snmpget snmp
# The push tests (tests/it/push.rs) start Debian's real Pushgateway; in CI they fail rather than skip without it.
[ -x /usr/bin/prometheus-pushgateway ] || need_apt prometheus-pushgateway prometheus-pushgateway
# The sink tests (tests/it/sinks.rs) load Debian's real Prometheus (remote-write receiver), VictoriaMetrics and
# InfluxDB 1.x, and read the data back through their query APIs; they fail rather than skip without them.
need_apt prometheus prometheus
need_apt victoria-metrics victoria-metrics
need_apt influxd influxdb
# The SNMP profile tests (tests/it/snmp_profiles.rs) and the real-recordings test (snmp_recordings.rs) serve
# recordings of real devices (PyPI snmpsim-data) with snmpsim, from a venv of
# Debian's Python (snmpsim drops root to nobody, who must read that Python's library).
if [ ! -x /opt/snmpsim/bin/snmpsim-command-responder ]; then
    echo "== pip install snmpsim snmpsim-data (into /opt/snmpsim)"
    [ -x /usr/bin/python3 ] || need_apt /usr/bin/python3 python3
    /usr/bin/python3 -c 'import venv, ensurepip' 2>/dev/null || need_apt /nonexistent python3-venv
    /usr/bin/python3 -m venv /opt/snmpsim
    /opt/snmpsim/bin/pip install -q snmpsim snmpsim-data
    chmod -R a+rX /opt/snmpsim
fi
