"""Builds comity-client, generating the gRPC stubs (package `comity.v1`) from the repository's
proto/ with grpcio-tools first, so the stubs always match the protos they were built from.
The generated code lands in src/comity/ (git-ignored) and is never edited by hand."""

from pathlib import Path

from setuptools import setup

HERE = Path(__file__).resolve().parent
PROTO_ROOT = HERE.parent.parent / "proto"
OUT = HERE / "src"


def generate_stubs():
    import grpc_tools
    from grpc_tools import protoc

    protos = sorted((PROTO_ROOT / "comity" / "v1").glob("*.proto"))
    if not protos:
        if (OUT / "comity" / "v1" / "registry_pb2.py").exists():
            return  # built from a copy without proto/: keep the stubs generated before
        raise SystemExit(f"no .proto files under {PROTO_ROOT}: build comity-client from a Comity checkout")
    well_known = Path(grpc_tools.__file__).parent / "_proto"
    args = ["grpc_tools.protoc", f"-I{PROTO_ROOT}", f"-I{well_known}", f"--python_out={OUT}", f"--pyi_out={OUT}", f"--grpc_python_out={OUT}"]
    if protoc.main(args + [str(p.relative_to(PROTO_ROOT)) for p in protos]) != 0:
        raise SystemExit("grpc_tools.protoc failed")
    # Regular packages, so setuptools installs them like any other.
    for package in (OUT / "comity", OUT / "comity" / "v1"):
        (package / "__init__.py").write_text('"""Generated from proto/comity/v1 by setup.py; do not edit."""\n')


generate_stubs()
setup()
