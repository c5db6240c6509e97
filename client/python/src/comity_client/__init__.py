"""Python client for Comity registry nodes. The gRPC stubs are the generated package
`comity.v1`; the helpers follow docs/signing.md."""

from .log import Checkpoint, LogError, NoteVerifier, entry_leaf_hash, verify_checkpoint, verify_inclusion, verify_receipt
from .node import Node, connect
from .signing import (
    PAYLOAD_TYPE,
    Envelope,
    KeyFile,
    StatementError,
    key_id,
    pae,
    sign_body,
    sign_decision,
    sign_statement,
    statement_id,
    verify_envelope,
)

__all__ = [
    "PAYLOAD_TYPE", "Checkpoint", "Envelope", "KeyFile", "LogError", "Node", "NoteVerifier", "StatementError",
    "connect", "entry_leaf_hash", "key_id", "pae", "sign_body", "sign_decision", "sign_statement", "statement_id",
    "verify_checkpoint", "verify_envelope", "verify_inclusion", "verify_receipt",
]
