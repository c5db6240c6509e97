"""A tour of a Comity node from Python, against `comity-node demo`: search licences, check one
from its proof with the keys a partner pins (root keys, key set, log key), then sign a new
decision with an authority key file, publish it and check the log receipt.

    cargo run --bin comity-node -- demo           # in another terminal
    python client/python/examples/tour.py         # COMITY_NODE, --key and --trust override the defaults
"""

import argparse
import os
import time

from comity.v1 import log_pb2, registry_pb2, statement_pb2 as pb
from comity_client import Envelope, KeyFile, connect, sign_decision, verify_checkpoint, verify_receipt
from comity_client import trust

DAY = 86_400


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--node", default=os.environ.get("COMITY_NODE", "http://127.0.0.1:7700"), help="the node (BAFA's in the demo)")
    parser.add_argument("--key", default="comity-demo/keys/de.bafa.key", help="key file of an authority the node hosts")
    parser.add_argument("--trust", default=os.environ.get("COMITY_TRUST", "comity-demo/trust.toml"), help="trust file pinning its roots and log")
    args = parser.parse_args()

    key = KeyFile.load(args.key)
    pinned = trust.load(args.trust)[key.authority]
    with connect(args.node) as node:
        # 1. The node's log: its checkpoint, signed by the log key we pin.
        answer = node.log.GetCheckpoint(log_pb2.GetCheckpointRequest())
        checkpoint = verify_checkpoint(answer.checkpoint, pinned.log(answer.origin))
        print(f"log {checkpoint.origin}: {checkpoint.size} entries, checkpoint signature verified")

        # 2. Search: licences of the authority that are in force.
        found = node.registry.Search(registry_pb2.SearchRequest(authority=key.authority, status=registry_pb2.ISSUED, page_size=5))
        for s in found.licences:
            print(f"  {s.authority}/{s.licence_id}  {s.applicant}  to {', '.join(s.destinations)}  {', '.join(s.control_codes)}")

        # 3. Verify one licence ourselves: key set by the pinned roots, every decision by a key of
        #    the key set, every statement in the log under a checkpoint signed by the pinned key.
        for s in found.licences:
            licence = node.registry.GetLicence(registry_pb2.GetLicenceRequest(authority=s.authority, licence_id=s.licence_id))
            if not licence.audience:
                break  # a public licence (a confidential one's chain holds only commitments)
        key_set = next(e for e in licence.proof.statements if Envelope.parse(e).statement.WhichOneof("kind") == "key_set")
        signing_keys = pinned.key_set_keys(key_set)
        for link in licence.chain:
            Envelope.parse(link.envelope).verify(signing_keys)
        for envelope, receipt in zip(licence.proof.statements, licence.proof.receipts, strict=True):
            verify_receipt(receipt, envelope, pinned.log(receipt.origin))
        print(f"verified {s.authority}/{s.licence_id}: {len(licence.chain)} signed decision(s), "
              f"{len(licence.proof.receipts)} log receipt(s)")

        # 4. Publish: a new grant, signed here with the authority's key file.
        now = int(time.time())
        decision = pb.Decision(
            authority=key.authority,
            licence_id=f"DE-PY-{now}",
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
        envelope = sign_decision(decision, key.signing_key)
        published = node.registry.Publish(registry_pb2.PublishRequest(envelope=envelope))
        verify_receipt(published.receipt, envelope, pinned.log(published.receipt.origin))
        print(f"published {decision.authority}/{decision.licence_id} as statement {published.statement_id.hex()}: "
              f"{registry_pb2.LicenceStatus.Name(published.licence.status)}, "
              f"log entry {published.receipt.index}, receipt verified")


if __name__ == "__main__":
    main()
