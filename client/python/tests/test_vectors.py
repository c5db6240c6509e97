"""The Python helpers against the fixed vectors of docs/signing-vectors.json, which a Rust test
regenerates with the node's own code: same key id, body bytes, PAE, signature, envelope,
leaf hashes, checkpoint and receipts, and the same refusals."""

import base64
import json

import nacl.signing
import pytest
from google.protobuf import json_format

from comity.v1 import log_pb2, statement_pb2 as pb
from comity_client import (
    Envelope,
    KeyFile,
    LogError,
    NoteVerifier,
    StatementError,
    entry_leaf_hash,
    key_id,
    pae,
    sign_decision,
    statement_id,
    verify_checkpoint,
    verify_receipt,
)
from comity_client.log import note_key_id


def decision_of(vector):
    return json_format.ParseDict(vector["decision"], pb.Decision())


def receipt_of(r):
    return log_pb2.Receipt(
        origin=r["origin"],
        index=r["index"],
        logged_at=r["logged_at"],
        leaf_hash=bytes.fromhex(r["leaf_hash"]),
        checkpoint=r["checkpoint"],
        inclusion_proof=[bytes.fromhex(h) for h in r["inclusion_proof"]],
    )


def test_pae_is_dsse_v1():
    assert pae("http://example.com/HelloWorld", b"hello world") == b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    assert pae("", b"") == b"DSSEv1 0  0 "


def test_key_file_seed_public_key_and_key_id(vectors, tmp_path):
    key = vectors["key"]
    seed = bytes.fromhex(key["seed"])
    public = bytes(nacl.signing.SigningKey(seed).verify_key)
    assert public.hex() == key["public_key"]
    assert key_id(public) == key["key_id"]
    path = tmp_path / "de.bafa.key"
    path.write_text(json.dumps(key["key_file"]))
    loaded = KeyFile.load(path)
    assert (loaded.authority, loaded.key_id, loaded.public_key) == ("de.bafa", key["key_id"], public)


def test_a_key_file_whose_public_key_is_not_its_own_is_refused(vectors, tmp_path):
    fields = dict(vectors["key"]["key_file"])
    fields["public_key"] = bytes(nacl.signing.SigningKey(bytes(32)).verify_key).hex()
    path = tmp_path / "bad.key"
    path.write_text(json.dumps(fields))
    with pytest.raises(ValueError, match="does not match"):
        KeyFile.load(path)


def test_body_pae_signature_and_envelope_match_the_vectors(vectors):
    signing_key = nacl.signing.SigningKey(bytes.fromhex(vectors["key"]["seed"]))
    assert vectors["payload_type"] == "comity.v1.statement"
    for v in vectors["statements"]:
        statement = pb.Statement(decision=decision_of(v))
        body = statement.SerializeToString(deterministic=True)
        assert body.hex() == v["body"], v["name"]
        message = pae(vectors["payload_type"], body)
        assert message.hex() == v["pae"], v["name"]
        assert signing_key.sign(message).signature.hex() == v["signature"], v["name"]
        envelope = sign_decision(decision_of(v), signing_key)
        assert envelope.hex() == v["envelope"], v["name"]
        assert statement_id(envelope).hex() == v["statement_id"], v["name"]


def test_the_vector_envelopes_verify_with_the_key_and_only_with_it(vectors):
    public = bytes.fromhex(vectors["key"]["public_key"])
    other = bytes(nacl.signing.SigningKey(bytes(32)).verify_key)
    for v in vectors["statements"]:
        envelope = Envelope.parse(bytes.fromhex(v["envelope"]))
        assert envelope.verify([other, public]) == [public]
        assert envelope.decision() == decision_of(v)
        assert envelope.id.hex() == v["statement_id"]
        with pytest.raises(StatementError) as refused:
            envelope.verify([other])
        assert refused.value.kind == "unknown_key"


def test_the_refused_vectors_are_refused_for_their_reason(vectors):
    public = bytes.fromhex(vectors["key"]["public_key"])
    assert len(vectors["refused"]) >= 4
    for r in vectors["refused"]:
        with pytest.raises(StatementError) as refused:
            Envelope.parse(bytes.fromhex(r["envelope"])).verify([public])
        assert refused.value.kind == r["error"], r["name"]


def test_every_flipped_bit_of_an_envelope_is_refused(vectors):
    public = bytes.fromhex(vectors["key"]["public_key"])
    envelope = bytes.fromhex(vectors["statements"][0]["envelope"])
    for bit in range(len(envelope) * 8):
        tampered = bytearray(envelope)
        tampered[bit // 8] ^= 1 << (bit % 8)
        with pytest.raises((StatementError, ValueError)):
            Envelope.parse(bytes(tampered)).verify([public])


def test_leaf_hashes_checkpoint_and_receipts(vectors):
    log = vectors["log"]
    envelopes = [bytes.fromhex(s["envelope"]) for s in vectors["statements"]]
    for entry in log["entries"]:
        assert entry_leaf_hash(entry["logged_at"], envelopes[entry["statement"]]).hex() == entry["leaf_hash"]
    verifier = NoteVerifier.parse(log["verifier_key"])
    checkpoint = verify_checkpoint(log["checkpoint"], verifier, now=log["time"])
    assert (checkpoint.origin, checkpoint.size, checkpoint.root.hex(), checkpoint.time, checkpoint.licence_map_root.hex()) == (
        log["origin"], log["size"], log["root"], log["time"], log["licence_map_root"])
    for i, r in enumerate(log["receipts"]):
        assert verify_receipt(receipt_of(r), envelopes[i], verifier, now=log["time"]).root == checkpoint.root
    with pytest.raises(LogError, match="future"):
        verify_checkpoint(log["checkpoint"], verifier, now=log["time"] - 601)


def test_altered_receipts_and_checkpoints_are_refused(vectors):
    log = vectors["log"]
    verifier = NoteVerifier.parse(log["verifier_key"])
    envelope = bytes.fromhex(vectors["statements"][1]["envelope"])
    good = log["receipts"][1]
    for change in [
        {"logged_at": good["logged_at"] + 1},
        {"index": 0},
        {"inclusion_proof": list(reversed(good["inclusion_proof"]))},
        {"checkpoint": good["checkpoint"].replace("\n3\n", "\n4\n", 1)},
        {"origin": "registry.ecju.example/log"},
    ]:
        with pytest.raises(LogError):
            verify_receipt(receipt_of({**good, **change}), envelope, verifier, now=log["time"])
    with pytest.raises(LogError):
        verify_receipt(receipt_of(good), bytes.fromhex(vectors["statements"][0]["envelope"]), verifier, now=log["time"])
    # The same checkpoint under another key of the same name is refused.
    other = bytes(nacl.signing.SigningKey(bytes(32)).verify_key)
    with pytest.raises(LogError):
        verify_checkpoint(log["checkpoint"], NoteVerifier.parse(vkey(log["origin"], other)), now=log["time"])


def vkey(name, public):
    raw = b"\x01" + public
    return f"{name}+{note_key_id(name, raw).hex()}+{base64.b64encode(raw).decode()}"


def test_the_log_verifier_key_is_the_note_key_of_the_log_seed(vectors):
    log = vectors["log"]
    public = bytes(nacl.signing.SigningKey(bytes.fromhex(log["key_seed"])).verify_key)
    assert vkey(log["origin"], public) == log["verifier_key"]
    with pytest.raises(LogError, match="key id"):
        NoteVerifier.parse(log["verifier_key"].replace(log["origin"], "registry.ecju.example/log"))
