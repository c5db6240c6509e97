"""The client against a real node (see conftest.py): read and check a licence with its proof,
publish a decision signed here and check its receipt, and see the node refuse what
docs/signing.md says it refuses."""

import time

import grpc
import nacl.signing
import pytest

from comity.v1 import log_pb2, registry_pb2, statement_pb2 as pb
from comity_client import Envelope, KeyFile, connect, sign_decision, sign_statement, verify_checkpoint, verify_receipt
from comity_client import trust

DAY = 86_400


@pytest.fixture(scope="module")
def env(node_env):
    key = KeyFile.load(node_env["COMITY_KEY"])
    authority = trust.load(node_env["COMITY_TRUST"])[key.authority]
    with connect(node_env["COMITY_NODE"]) as node:
        yield node, key, authority


def new_grant(authority, licence_id):
    now = int(time.time())
    return pb.Decision(
        authority=authority,
        licence_id=licence_id,
        version=1,
        action=pb.GRANT,
        licence_type=pb.INDIVIDUAL,
        applicant=pb.Party(name="Rheinauen Sensorik GmbH", country="DE"),
        end_users=[pb.Party(name="Osaka Institute of Remote Sensing", country="JP")],
        end_use="Calibration of a civil Earth-observation instrument",
        items=[pb.Item(regime=pb.EU_DUAL_USE, control_code="6A003.b.4", description="Thermal imaging cameras",
                       quantity="2", unit="pcs", value_minor=9_000_000, currency="EUR")],
        destinations=["JP"],
        valid_from=now,
        valid_until=now + 365 * DAY,
        risk_tier=2,
        application_received=now - 30 * DAY,
        decided_at=now - 60,
    )


def test_the_checkpoint_verifies_with_the_pinned_log_key(env):
    node, _, authority = env
    answer = node.log.GetCheckpoint(log_pb2.GetCheckpointRequest())
    checkpoint = verify_checkpoint(answer.checkpoint, authority.log(answer.origin))
    assert (checkpoint.size, checkpoint.root) == (answer.size, answer.root)
    assert checkpoint.size > 0


def test_a_licence_and_its_proof_verify_from_the_pinned_keys(env):
    node, key, authority = env
    found = node.registry.Search(registry_pb2.SearchRequest(authority=key.authority, page_size=20))
    answers = [node.registry.GetLicence(registry_pb2.GetLicenceRequest(authority=s.authority, licence_id=s.licence_id)) for s in found.licences]
    # A confidential licence's chain is of RestrictedDecisions: take a public one.
    answer = next((a for a in answers if not a.audience), None)
    assert answer is not None, f"no public licence of {key.authority} at the node"
    proof = answer.proof
    assert len(proof.statements) == len(proof.receipts) == len(answer.chain) + 1
    # The key set, signed by a threshold of the pinned roots, names the signing keys.
    key_sets = [s for s in proof.statements if Envelope.parse(s).statement.WhichOneof("kind") == "key_set"]
    assert len(key_sets) == 1
    signing_keys = authority.key_set_keys(key_sets[0])
    assert key.public_key in signing_keys
    # Every decision of the chain is signed by one of them and linked to the one before.
    previous = b""
    for version, link in enumerate(answer.chain, start=1):
        envelope = Envelope.parse(link.envelope)
        assert envelope.verify(signing_keys)
        assert envelope.id == link.statement_id
        assert (envelope.decision().version, envelope.decision().previous) == (version, previous)
        previous = envelope.id
    assert answer.licence.head_id == previous
    # Every statement is in the node's log, proven against a checkpoint signed by the pinned key.
    for envelope, receipt in zip(proof.statements, proof.receipts):
        verify_receipt(receipt, envelope, authority.log(receipt.origin))


def test_publish_a_decision_signed_in_python_and_check_its_receipt(env):
    node, key, authority = env
    licence_id = f"DE-PY-{time.time_ns()}"
    envelope = sign_decision(new_grant(key.authority, licence_id), key.signing_key)
    published = node.registry.Publish(registry_pb2.PublishRequest(envelope=envelope))
    assert published.statement_id == Envelope.parse(envelope).id
    assert not published.already_present
    assert published.licence.status == registry_pb2.ISSUED
    checkpoint = verify_receipt(published.receipt, envelope, authority.log(published.receipt.origin))
    assert checkpoint.size > published.receipt.index
    # Stored verbatim, and publishing it again changes nothing.
    stored = node.registry.GetStatement(registry_pb2.GetStatementRequest(statement_id=published.statement_id))
    assert stored.envelope == envelope
    again = node.registry.Publish(registry_pb2.PublishRequest(envelope=envelope))
    assert again.already_present


def refusal(node, envelope):
    with pytest.raises(grpc.RpcError) as refused:
        node.registry.Publish(registry_pb2.PublishRequest(envelope=envelope))
    return refused.value.code(), refused.value.details()


def test_the_node_refuses_what_the_rules_refuse(env):
    node, key, _ = env
    decision = new_grant(key.authority, f"DE-PY-{time.time_ns()}")
    good = pb.SignedStatement.FromString(sign_decision(decision, key.signing_key))

    flipped = pb.SignedStatement()
    flipped.CopyFrom(good)
    flipped.signatures[0].sig = bytes([good.signatures[0].sig[0] ^ 1]) + good.signatures[0].sig[1:]
    code, details = refusal(node, flipped.SerializeToString(deterministic=True))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "does not verify" in details

    # key_id is enforced: the right signature under a key id that is not exactly the key's.
    upper = pb.SignedStatement()
    upper.CopyFrom(good)
    upper.signatures[0].key_id = key.key_id.upper()
    code, details = refusal(node, upper.SerializeToString(deterministic=True))
    assert code == grpc.StatusCode.PERMISSION_DENIED and "unknown key" in details

    code, details = refusal(node, good.SerializeToString(deterministic=True) + b"\x18\x01")
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "canonical" in details

    # A signature by a key the authority does not hold.
    stranger = nacl.signing.SigningKey(bytes(range(32, 64)))
    code, _ = refusal(node, sign_statement(pb.Statement(decision=decision), [stranger]))
    assert code == grpc.StatusCode.PERMISSION_DENIED
