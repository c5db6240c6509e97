#!/usr/bin/env bash
# The Python client (client/python: comity-client, whose build generates the gRPC stubs from
# proto/ with grpcio-tools, and pynacl) installed into target/test-venv, made by 20-python.sh.
# Reinstalled whenever its sources or the protos change, so tests never run a stale copy;
# `--check` only says (exit 1) whether the installed copy is missing or stale.
set -euo pipefail
venv=target/test-venv
stamp_file="$venv/comity-client.stamp"
stamp=$(find client/python/pyproject.toml client/python/setup.py client/python/src/comity_client proto/comity \
            -type f \( -name '*.py' -o -name '*.toml' -o -name '*.proto' \) -print0 \
        | sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1)
current=false
if [ -x "$venv/bin/python" ] && [ "$(cat "$stamp_file" 2>/dev/null)" = "$stamp" ]; then current=true; fi
if [ "${1:-}" = "--check" ]; then $current; exit; fi
$current && exit 0
# pip always rebuilds and reinstalls a package given as a local directory.
"$venv/bin/python" -m pip install -q --disable-pip-version-check ./client/python
echo "$stamp" > "$stamp_file"
