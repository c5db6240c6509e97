#!/usr/bin/env bash
# promtool (Debian package prometheus), for `promtool check metrics` on a live node's metrics
# (tests/tests/suite/t99_metrics.rs).
set -euo pipefail
if command -v promtool >/dev/null; then exit 0; fi
# Without recommends: no node exporter, no SMART tools.
apt_install --no-install-recommends prometheus
# The package also brings the Prometheus server, which the tests do not need. Where systemd runs,
# the package starts and enables it (on :9090): stop and disable it. In a container without
# systemd (Docker's policy-rc.d answers 101) it was never started; keep it from starting at boot.
if [ -d /run/systemd/system ]; then
    systemctl disable --now prometheus.service || true
elif [ -x /etc/init.d/prometheus ]; then
    /etc/init.d/prometheus stop >/dev/null 2>&1 || true
    update-rc.d prometheus disable >/dev/null 2>&1 || true
fi
