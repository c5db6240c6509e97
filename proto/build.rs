//! Generates the `comity.v1` wire types and gRPC stubs with a vendored protoc, so no system
//! protobuf compiler is ever needed.

use std::{env, path::PathBuf};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    // Edition 2021: set_var is safe; build scripts are single-threaded.
    env::set_var("PROTOC", protoc);
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    tonic_prost_build::configure()
        .file_descriptor_set_path(out_dir.join("comity_descriptor.bin"))
        // Undecodable bytes are the sender's fault: INVALID_ARGUMENT, not tonic's INTERNAL.
        .codec_path("crate::codec::ComityCodec")
        // Ordered, so a report prints and compares the same everywhere.
        .btree_map(".comity.v1.StatsGroup.actions")
        // Proofs as shared buffers: a node answers Verify from receipts and envelopes it keeps
        // (cloning one is a reference count), and a client decodes them without copying.
        .bytes(".comity.v1.ProofBundle")
        .bytes(".comity.v1.Receipt")
        .bytes(".comity.v1.LicenceHeadProof")
        .compile_protos(
            &[
                "comity/v1/statement.proto",
                "comity/v1/log.proto",
                "comity/v1/registry.proto",
                "comity/v1/federation.proto",
                "comity/v1/export.proto",
                "comity/v1/stats.proto",
            ],
            &["."],
        )?;
    // Canonical proto3 JSON (enums by name, bytes in base64, 64-bit integers as strings) for
    // the node's JSON API: the same messages as gRPC, so the same fields and limits.
    let descriptors = std::fs::read(out_dir.join("comity_descriptor.bin"))?;
    pbjson_build::Builder::new().register_descriptors(&descriptors)?.build(&[".comity"])?;
    Ok(())
}
