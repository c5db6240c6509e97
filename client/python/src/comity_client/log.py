"""The verifiable log as docs/signing.md defines it: leaf hashes binding the log time, RFC 9162
inclusion proofs, C2SP signed checkpoints and publish receipts."""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import time
from dataclasses import dataclass

import nacl.exceptions
import nacl.signing

ALG_ED25519 = 0x01
# How far in the future a checkpoint may be dated (clocks differ between nodes).
MAX_FUTURE_SECS = 600
SIGNATURE_LINE_PREFIX = "\u2014 "  # an em dash and a space
_DECIMAL = re.compile(r"0|[1-9][0-9]*")


class LogError(ValueError):
    """A proof, checkpoint, key or receipt was refused."""


def entry_leaf_hash(logged_at: int, envelope: bytes) -> bytes:
    """SHA-256(0x00 ‖ logged_at as 8-byte big-endian signed integer ‖ envelope)."""
    return hashlib.sha256(b"\x00" + logged_at.to_bytes(8, "big", signed=True) + envelope).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 9162 interior node: SHA-256(0x01 ‖ left ‖ right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def verify_inclusion(proof: list[bytes], tree_size: int, root: bytes, index: int, leaf: bytes) -> None:
    """Checks that `leaf` is entry `index` of the tree of `tree_size` entries with `root`
    (RFC 9162 section 2.1.3.2); raises LogError if not."""
    if index >= tree_size:
        raise LogError(f"index {index} is outside a tree of size {tree_size}")
    if any(len(p) != 32 for p in proof):
        raise LogError("a proof hash is not 32 bytes")
    fn, sn, r = index, tree_size - 1, leaf
    for p in proof:
        if sn == 0:
            raise LogError("inclusion proof is too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0 or r != root:
        raise LogError("inclusion proof does not lead to the root")


def note_key_id(name: str, algorithm_and_key: bytes) -> bytes:
    """C2SP signed-note key id: the first 4 bytes of SHA-256(name ‖ "\\n" ‖ alg ‖ key)."""
    return hashlib.sha256(name.encode() + b"\n" + algorithm_and_key).digest()[:4]


@dataclass(frozen=True)
class NoteVerifier:
    """A log's note verifier key, `name+hexid+base64(0x01 ‖ key)`; the name is the log's origin."""

    name: str
    key_id: bytes
    public_key: bytes

    @classmethod
    def parse(cls, text: str) -> "NoteVerifier":
        try:
            name, rest = text.split("+", 1)
            id_hex, key_b64 = rest.split("+", 1)
            raw = base64.b64decode(key_b64, validate=True)
        except (ValueError, binascii.Error) as e:
            raise LogError(f"`{text}`: expected name+id+key") from e
        if not name or " " in name or len(id_hex) != 8 or len(raw) != 33 or raw[0] != ALG_ED25519:
            raise LogError(f"`{text}`: not an ed25519 note verifier key")
        if note_key_id(name, raw).hex() != id_hex.lower():
            raise LogError(f"`{text}`: key id does not match the key")
        return cls(name, bytes.fromhex(id_hex), raw[1:])


@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint whose signature by the log key has been verified."""

    origin: str
    size: int
    root: bytes
    time: int
    licence_map_root: bytes
    note: str


def split_note(note: str) -> tuple[str, list[tuple[str, bytes]]]:
    """(signed text, [(name, key id + signature bytes)]) of a C2SP signed note."""
    if not note.endswith("\n") or "\n\n" not in note:
        raise LogError("checkpoint is malformed: not a signed note")
    cut = note.rindex("\n\n")
    text, block = note[: cut + 1], note[cut + 2 :]
    signatures = []
    for line in block.splitlines():
        if not line.startswith(SIGNATURE_LINE_PREFIX) or line.count(" ") != 2:
            raise LogError(f"checkpoint is malformed: bad signature line {line!r}")
        name, b64 = line[len(SIGNATURE_LINE_PREFIX) :].split(" ")
        try:
            raw = base64.b64decode(b64, validate=True)
        except binascii.Error as e:
            raise LogError("checkpoint is malformed: signature is not base64") from e
        if len(raw) < 5:
            raise LogError("checkpoint is malformed: signature too short")
        signatures.append((name, raw))
    if not signatures:
        raise LogError("checkpoint is malformed: no signature")
    return text, signatures


def verify_checkpoint(note: str, verifier: NoteVerifier, now: int | None = None) -> Checkpoint:
    """Checks the note's signature by `verifier` (other lines, e.g. witness cosignatures, are
    ignored here) and parses the checkpoint: origin, size, root and the `time` and
    `licence-map` extension lines. The origin must be the verifier's name, and the time not
    more than MAX_FUTURE_SECS after `now` (default: the clock's)."""
    text, signatures = split_note(note)
    signed = False
    for name, raw in signatures:
        if name == verifier.name and raw[:4] == verifier.key_id:
            try:
                nacl.signing.VerifyKey(verifier.public_key).verify(text.encode(), raw[4:])
            except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError) as e:
                raise LogError(f"checkpoint signature does not verify with log key {verifier.name}") from e
            signed = True
    if not signed:
        raise LogError(f"checkpoint carries no signature by log key {verifier.name}")
    lines = text[:-1].split("\n")
    if len(lines) < 3 or not _DECIMAL.fullmatch(lines[1]):
        raise LogError("checkpoint is malformed: expected origin, size and root lines")
    try:
        root = base64.b64decode(lines[2], validate=True)
    except binascii.Error as e:
        raise LogError("checkpoint is malformed: root is not base64") from e
    if len(root) != 32:
        raise LogError("checkpoint is malformed: root is not 32 bytes")
    if lines[0] != verifier.name:
        raise LogError(f"checkpoint is for origin `{lines[0]}`, expected `{verifier.name}`")
    extension = {}
    for line in lines[3:]:
        key, _, value = line.partition(" ")
        extension.setdefault(key, value)
    if not re.fullmatch(r"-?[0-9]+", extension.get("time", "")):
        raise LogError("checkpoint is malformed: no `time` extension line")
    try:
        map_root = base64.b64decode(extension.get("licence-map", ""), validate=True)
    except binascii.Error:
        map_root = b""
    if len(map_root) != 32:
        raise LogError("checkpoint is malformed: no `licence-map` line with a 32-byte base64 root")
    signed_at = int(extension["time"])
    ahead = signed_at - (int(time.time()) if now is None else now)
    if ahead > MAX_FUTURE_SECS:
        raise LogError(f"checkpoint is dated {ahead} s in the future, beyond the {MAX_FUTURE_SECS} s allowed")
    return Checkpoint(lines[0], int(lines[1]), root, signed_at, map_root, note)


def verify_receipt(receipt, envelope: bytes, verifier: NoteVerifier, now: int | None = None) -> Checkpoint:
    """Checks a publish receipt (a `comity.v1.Receipt`, or anything with its fields) for
    `envelope`: the checkpoint is signed by the log key, the leaf hash is that of the envelope at
    the receipt's log time, that time is not after the checkpoint's, the origins agree, and the
    inclusion proof leads to the checkpoint's root. Returns the checkpoint."""
    checkpoint = verify_checkpoint(receipt.checkpoint, verifier, now)
    leaf = entry_leaf_hash(receipt.logged_at, envelope)
    if bytes(receipt.leaf_hash) != leaf:
        raise LogError("receipt's leaf hash is not the hash of the envelope at its log time")
    if receipt.logged_at > checkpoint.time:
        raise LogError(f"receipt's log time {receipt.logged_at} is after its checkpoint's time {checkpoint.time}")
    if receipt.origin != checkpoint.origin:
        raise LogError(f"receipt is for origin `{receipt.origin}`, its checkpoint for `{checkpoint.origin}`")
    verify_inclusion([bytes(h) for h in receipt.inclusion_proof], checkpoint.size, checkpoint.root, receipt.index, leaf)
    return checkpoint
