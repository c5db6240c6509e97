#!/usr/bin/env bash
# A Python virtual environment with the stock gRPC tooling partners use (grpcio, grpcio-tools,
# grpcio-reflection) and pytest, at target/test-venv. Tests find it there.
set -euo pipefail
venv=target/test-venv
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -m pip install -q --disable-pip-version-check -r scripts/test-tools/python-requirements.txt
