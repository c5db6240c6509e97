"""Fixtures: the fixed test vectors of docs/signing.md, and the node the node tests run against
(COMITY_NODE: its URL; COMITY_KEY: a key file of an authority it hosts; COMITY_TRUST: a trust
file pinning that authority's roots and log). tests/tests/suite/t18_python_client.rs sets all three
for the demo federation."""

import json
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def vectors():
    return json.loads((REPO / "docs" / "signing-vectors.json").read_text())


@pytest.fixture(scope="session")
def node_env():
    env = {name: os.environ.get(name) for name in ("COMITY_NODE", "COMITY_KEY", "COMITY_TRUST")}
    missing = [name for name, value in env.items() if not value]
    if missing:
        pytest.skip(f"no node to test against: set {', '.join(missing)}")
    return env
