#!/usr/bin/env bash
# Stock tools the deploy tests (tests/tests/suite/t94_deploy.rs) check deploy/ with:
# - systemd-analyze and systemd-sysusers (Debian's systemd), to check the unit and the
#   sysusers.d file;
# - script (util-linux), which gives the node a terminal in the log-colour test;
# - kubernetes-validate (the Kubernetes OpenAPI schemas, bundled: works offline) and docker (the
#   Docker SDK for Python, whose build-context code applies .dockerignore as `docker build`
#   does), in the test venv target/test-venv.
set -euo pipefail
command -v systemd-analyze > /dev/null || apt_install systemd
command -v script > /dev/null || apt_install bsdutils
venv=target/test-venv
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -m pip install -q --disable-pip-version-check kubernetes-validate==1.37.0 docker==7.2.0
