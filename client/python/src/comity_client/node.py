"""A gRPC connection to a Comity node."""

from __future__ import annotations

from dataclasses import dataclass

import grpc

from comity.v1 import federation_pb2_grpc, log_pb2_grpc, registry_pb2_grpc


@dataclass
class Node:
    channel: grpc.Channel
    registry: registry_pb2_grpc.RegistryStub
    log: log_pb2_grpc.LogStub
    federation: federation_pb2_grpc.FederationStub

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> "Node":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def connect(url: str) -> Node:
    """Connects to `http://HOST:PORT` (plaintext, as the demo serves) or `https://HOST:PORT`
    (TLS with the system's roots)."""
    if url.startswith("https://"):
        channel = grpc.secure_channel(url.removeprefix("https://").rstrip("/"), grpc.ssl_channel_credentials())
    elif url.startswith("http://"):
        channel = grpc.insecure_channel(url.removeprefix("http://").rstrip("/"))
    else:
        raise ValueError(f"node URL `{url}` must start with http:// or https://")
    return Node(channel, registry_pb2_grpc.RegistryStub(channel), log_pb2_grpc.LogStub(channel), federation_pb2_grpc.FederationStub(channel))
