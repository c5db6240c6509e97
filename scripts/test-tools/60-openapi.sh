#!/usr/bin/env bash
# jsonschema and openapi-spec-validator in target/test-venv (made by 20-python.sh), with which
# t82_web validates docs/openapi.yaml and the demo's real API answers against it.
set -euo pipefail
venv=target/test-venv
"$venv/bin/python" -m pip install -q --disable-pip-version-check -r scripts/test-tools/openapi-requirements.txt
