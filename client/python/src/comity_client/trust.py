"""The keys a relying party pins in a trust file (`trust.toml`, as `comity-node demo` writes
it): per authority its root keys and threshold and the verifier keys of its logs."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from .log import NoteVerifier
from .signing import Envelope, StatementError


@dataclass(frozen=True)
class TrustedAuthority:
    id: str
    threshold: int
    root_keys: list[bytes]
    keys: list[bytes] = field(default_factory=list)
    logs: list[NoteVerifier] = field(default_factory=list)

    def log(self, origin: str) -> NoteVerifier:
        """The pinned key of the log `origin`, which must carry this authority's statements."""
        for verifier in self.logs:
            if verifier.name == origin:
                return verifier
        raise LookupError(f"no log key pinned for {self.id} under origin {origin}")

    def key_set_keys(self, envelope: bytes) -> list[bytes]:
        """Checks a `KeySet` envelope of this authority, signed by at least `threshold` distinct
        pinned root keys, and returns its signing keys. (Versions, windows and compromise
        times, which a full verifier also judges, are left to the caller.)"""
        parsed = Envelope.parse(envelope)
        if parsed.statement.WhichOneof("kind") != "key_set" or parsed.statement.key_set.authority != self.id:
            raise StatementError("bad_body", f"not a key set of {self.id}")
        signers = parsed.verify(self.root_keys)
        if self.threshold == 0 or len(signers) < self.threshold:
            raise StatementError("unknown_key", f"key set signed by {len(signers)} root keys, {self.threshold} required")
        return [bytes(k.public_key) for k in parsed.statement.key_set.keys]

def load(path: str | Path) -> dict[str, TrustedAuthority]:
    """The authorities of a trust file, by id."""
    data = tomllib.loads(Path(path).read_text())
    out = {}
    for a in data.get("authority", []):
        out[a["id"]] = TrustedAuthority(
            id=a["id"],
            threshold=a.get("threshold", 0),
            root_keys=[bytes.fromhex(k) for k in a.get("root_keys", [])],
            keys=[bytes.fromhex(k) for k in a.get("keys", [])],
            logs=[NoteVerifier.parse(v) for v in a.get("logs", [])],
        )
    return out

__all__ = ["TrustedAuthority", "load"]
