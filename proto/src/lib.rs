//! Shared Comity code: the `comity.v1` wire types, signed statements, decision validation and
//! the licence rules. Everything a verifier needs and nothing a server needs.
//!
//! Feature `fixtures` (off by default) adds sample decisions ([`decision::fixtures`]) and the
//! fuzzing entry points ([`fuzzing`], `token::fuzz`) for tests, benches and `fuzz/`.

/// Generated protobuf and gRPC code for package `comity.v1`. Nothing hand-written lives here.
#[allow(missing_docs, clippy::all)]
pub mod pb {
    tonic::include_proto!("comity.v1");
    include!(concat!(env!("OUT_DIR"), "/comity.v1.serde.rs"));

    /// Encoded file descriptor set, for gRPC server reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("comity_descriptor");
}

pub mod authoring;
pub mod bundle;
pub mod catalogue;
pub mod catalogue_csv;
pub mod checked;
pub mod codec;
pub mod codes;
pub mod consultation;
pub mod decision;
pub mod end_use_check;
#[cfg(any(test, feature = "fixtures"))]
pub mod fuzzing;
pub mod keyfile;
pub mod licence_map;
pub mod log;
pub mod quantity;
pub mod re_export;
pub mod recognition;
pub mod restricted;
pub mod rules;
pub mod ruling;
pub mod screening;
#[cfg(test)]
mod signing_vectors;
pub mod statement;
pub mod token;
pub mod token_qr;
pub mod trust;
pub mod usage;
pub mod verdict;
pub mod witness;

/// The canonical gRPC name of a status code, e.g. `NOT_FOUND`.
pub fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code::*;
    match code {
        Ok => "OK",
        Cancelled => "CANCELLED",
        Unknown => "UNKNOWN",
        InvalidArgument => "INVALID_ARGUMENT",
        DeadlineExceeded => "DEADLINE_EXCEEDED",
        NotFound => "NOT_FOUND",
        AlreadyExists => "ALREADY_EXISTS",
        PermissionDenied => "PERMISSION_DENIED",
        ResourceExhausted => "RESOURCE_EXHAUSTED",
        FailedPrecondition => "FAILED_PRECONDITION",
        Aborted => "ABORTED",
        OutOfRange => "OUT_OF_RANGE",
        Unimplemented => "UNIMPLEMENTED",
        Internal => "INTERNAL",
        Unavailable => "UNAVAILABLE",
        DataLoss => "DATA_LOSS",
        Unauthenticated => "UNAUTHENTICATED",
    }
}

/// Characters of a client's value an error message quotes at most.
pub const SHOWN_CHARS: usize = 64;

/// `value` as an error message quotes it: whole when short, else its first [`SHOWN_CHARS`]
/// characters and its length, so a refusal never repeats a huge input back (a 3 MB licence id
/// once made a 3 MB error message no default gRPC client could read).
pub fn shown(value: &str) -> std::borrow::Cow<'_, str> {
    match value.char_indices().nth(SHOWN_CHARS) {
        None => value.into(),
        Some((cut, _)) => format!("{}…({} bytes)", &value[..cut], value.len()).into(),
    }
}

#[cfg(test)]
mod shown_tests {
    #[test]
    fn long_values_are_cut_and_measured() {
        assert_eq!(super::shown("de.bafa"), "de.bafa");
        let exact = "x".repeat(super::SHOWN_CHARS);
        assert_eq!(super::shown(&exact), exact);
        let long = "é".repeat(100_000);
        assert_eq!(super::shown(&long), format!("{}…(200000 bytes)", "é".repeat(64)));
    }
}
