"""What a stock Python gRPC client learns from a server by reflection alone.

Usage: reflect.py HOST:PORT   (plaintext)

Lists the services with grpcio-reflection's own client (reflection v1alpha) and with a v1
request, then asks grpc.health.v1 about the whole server ("") and each service, building the
health messages from the descriptors the server gave. Prints one JSON object:
{"v1alpha": [...], "v1": [...], "health": {"": "SERVING", ...}}.
Run by tests/tests/suite/t99_reflection.rs with target/test-venv/bin/python.
"""

import json
import sys

import grpc
from google.protobuf import descriptor_pool
from google.protobuf.message_factory import GetMessageClass
from grpc_reflection.v1alpha import reflection_pb2
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase


def services_v1(channel):
    # grpcio-reflection has no v1 client; v1 messages are v1alpha's on the wire, only the
    # method's path differs.
    call = channel.stream_stream(
        "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
        request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
        response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
    )
    answers = call(iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=10)
    return sorted(s.name for answer in answers for s in answer.list_services_response.service)


def main(address):
    channel = grpc.insecure_channel(address)
    grpc.channel_ready_future(channel).result(timeout=10)
    database = ProtoReflectionDescriptorDatabase(channel)
    v1alpha = sorted(database.get_services())
    pool = descriptor_pool.DescriptorPool(database)
    request_type = GetMessageClass(pool.FindMessageTypeByName("grpc.health.v1.HealthCheckRequest"))
    response_descriptor = pool.FindMessageTypeByName("grpc.health.v1.HealthCheckResponse")
    check = channel.unary_unary(
        "/grpc.health.v1.Health/Check",
        request_serializer=request_type.SerializeToString,
        response_deserializer=GetMessageClass(response_descriptor).FromString,
    )
    statuses = response_descriptor.fields_by_name["status"].enum_type.values_by_number
    health = {s: statuses[check(request_type(service=s), timeout=10).status].name for s in [""] + v1alpha}
    print(json.dumps({"v1alpha": v1alpha, "v1": services_v1(channel), "health": health}))


if __name__ == "__main__":
    main(sys.argv[1])
