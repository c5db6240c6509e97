"""Signed statements as docs/signing.md defines them: key files, key ids, the DSSE
pre-authentication encoding, signing, and strict parsing and verification of envelopes."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

import nacl.exceptions
import nacl.signing

from comity.v1 import statement_pb2 as pb

PAYLOAD_TYPE = "comity.v1.statement"
MAX_ENVELOPE_BYTES = 65535
MAX_SIGNATURES = 16

_AUTHORITY_ID = re.compile(r"[a-z][a-z0-9-]*(\.[a-z][a-z0-9-]*)+")


class StatementError(ValueError):
    """An envelope was refused. `kind` names why, as in docs/signing.md: too_large, malformed,
    non_canonical, bad_body, empty_body, unsigned, too_many_signatures, duplicate_signer,
    unknown_key, bad_signature."""

    def __init__(self, kind: str, message: str):
        super().__init__(f"{kind}: {message}")
        self.kind = kind


def pae(payload_type: str, body: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding: b"DSSEv1 <len type> <type> <len body> <body>",
    lengths in ASCII decimal, counted in bytes."""
    t = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(body), body)


def key_id(public_key: bytes) -> str:
    """Lowercase hex of the first 8 bytes of SHA-256(32-byte public key)."""
    if len(public_key) != 32:
        raise ValueError("an ed25519 public key is 32 bytes")
    return hashlib.sha256(public_key).digest()[:8].hex()


def statement_id(envelope: bytes) -> bytes:
    """SHA-256 of the envelope bytes exactly as carried."""
    return hashlib.sha256(envelope).digest()


@dataclass(frozen=True)
class KeyFile:
    """An authority's signing key file (JSON: authority, key_id, public_key, secret_key)."""

    authority: str
    key_id: str
    public_key: bytes
    signing_key: nacl.signing.SigningKey

    @classmethod
    def load(cls, path: str | Path) -> "KeyFile":
        """Reads and checks a key file: exactly the four fields, a dotted authority id, and a
        public key and key id that are those of the secret seed."""
        fields = json.loads(Path(path).read_text())
        expected = {"authority", "key_id", "public_key", "secret_key"}
        if not isinstance(fields, dict) or set(fields) != expected:
            raise ValueError(f"{path}: a key file has exactly the fields {sorted(expected)}")
        if len(fields["authority"]) > 64 or not _AUTHORITY_ID.fullmatch(fields["authority"]):
            raise ValueError(f"{path}: authority is not a dotted lowercase id")
        if not re.fullmatch(r"[0-9a-fA-F]{64}", fields["secret_key"]):
            raise ValueError(f"{path}: secret_key must be 64 hex digits")
        seed = bytes.fromhex(fields["secret_key"])
        signing_key = nacl.signing.SigningKey(seed)
        public = bytes(signing_key.verify_key)
        if public.hex() != fields["public_key"] or key_id(public) != fields["key_id"]:
            raise ValueError(f"{path}: public_key or key_id does not match secret_key")
        return cls(fields["authority"], fields["key_id"], public, signing_key)


def sign_body(body: bytes, keys: list[nacl.signing.SigningKey]) -> bytes:
    """Signs encoded `Statement` bytes with each key; returns the envelope bytes."""
    message = pae(PAYLOAD_TYPE, body)
    envelope = pb.SignedStatement(body=body)
    for key in keys:
        envelope.signatures.add(key_id=key_id(bytes(key.verify_key)), sig=key.sign(message).signature)
    return envelope.SerializeToString(deterministic=True)


def sign_statement(statement: pb.Statement, keys: list[nacl.signing.SigningKey]) -> bytes:
    """Encodes `statement` canonically and signs it."""
    return sign_body(statement.SerializeToString(deterministic=True), keys)


def sign_decision(decision: pb.Decision, key: nacl.signing.SigningKey) -> bytes:
    """Wraps a decision in a statement and signs it: the envelope to publish."""
    statement = pb.Statement()
    statement.decision.CopyFrom(decision)
    return sign_statement(statement, [key])


@dataclass(frozen=True)
class Envelope:
    """A structurally valid envelope whose signatures have not been checked yet."""

    bytes: bytes
    id: bytes
    body: bytes
    signatures: list
    statement: pb.Statement

    @classmethod
    def parse(cls, data: bytes) -> "Envelope":
        """Size bound, protobuf decoding, canonical form, 1 to 16 signatures, a body with content."""
        if len(data) > MAX_ENVELOPE_BYTES:
            raise StatementError("too_large", f"envelope is {len(data)} bytes, more than {MAX_ENVELOPE_BYTES}")
        envelope = pb.SignedStatement()
        try:
            envelope.ParseFromString(data)
        except Exception as e:  # protobuf raises DecodeError, upb sometimes others
            raise StatementError("malformed", str(e)) from e
        # Canonical: re-encoding without unknown fields gives the same bytes (as prost does).
        envelope.DiscardUnknownFields()
        if envelope.SerializeToString(deterministic=True) != data:
            raise StatementError("non_canonical", "re-encoding the envelope changes its bytes")
        if not envelope.signatures:
            raise StatementError("unsigned", "envelope carries no signature")
        if len(envelope.signatures) > MAX_SIGNATURES:
            raise StatementError("too_many_signatures", f"{len(envelope.signatures)} signatures, more than {MAX_SIGNATURES}")
        statement = pb.Statement()
        try:
            statement.ParseFromString(envelope.body)
        except Exception as e:
            raise StatementError("bad_body", str(e)) from e
        if statement.WhichOneof("kind") is None:
            raise StatementError("empty_body", "statement body has no content")
        return cls(data, statement_id(data), envelope.body, list(envelope.signatures), statement)

    def verify(self, keys: list[bytes]) -> list[bytes]:
        """Checks every signature against the key among `keys` (32-byte public keys) whose key id
        it names. All must verify, and no key may sign twice. Returns the keys that signed."""
        message = pae(PAYLOAD_TYPE, self.body)
        by_id = {key_id(k): k for k in keys}
        signers: list[bytes] = []
        # Every key found (and every signature well-formed) first, then the signatures checked.
        for sig in self.signatures:
            key = by_id.get(sig.key_id)
            if key is None:
                raise StatementError("unknown_key", f"signature by key {sig.key_id!r} is not accepted here")
            if key in signers:
                raise StatementError("duplicate_signer", f"key {sig.key_id} signs the envelope more than once")
            if len(sig.sig) != 64:
                raise StatementError("bad_signature", f"signature by key {sig.key_id} is not 64 bytes")
            signers.append(key)
        for sig, key in zip(self.signatures, signers):
            try:
                nacl.signing.VerifyKey(key).verify(message, sig.sig)
            except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError) as e:
                raise StatementError("bad_signature", f"signature by key {sig.key_id} does not verify") from e
        return signers

    def decision(self) -> pb.Decision | None:
        """The decision, when the statement is one."""
        return self.statement.decision if self.statement.WhichOneof("kind") == "decision" else None


def verify_envelope(data: bytes, keys: list[bytes]) -> Envelope:
    """Parses and verifies an envelope against `keys`; returns it or raises StatementError."""
    envelope = Envelope.parse(data)
    envelope.verify(keys)
    return envelope
