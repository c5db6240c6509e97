//! The node's error type and its one mapping to `tonic::Status`.

use comity_proto::decision::FieldError;
use comity_proto::rules::RuleError;
use comity_proto::statement::StatementError;
use comity_proto::trust::TrustError;
use tonic::{Code, Status};

use crate::store::StoreError;

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Malformed input (bad envelope, bad field, bad query).
    #[error("{0}")]
    InvalidArgument(String),
    /// The envelope's signature does not verify.
    #[error("{0}")]
    BadSignature(StatementError),
    /// Not allowed here (authority not hosted, key not accepted).
    #[error("{0}")]
    PermissionDenied(String),
    /// Breaks the licence rules.
    #[error("{0}")]
    Rule(#[from] RuleError),
    /// Not possible in the current state (e.g. a frozen log).
    #[error("{0}")]
    FailedPrecondition(String),
    /// The licence moved on while the decision was signed (a customs write-off raced it): read
    /// the head and sign again. Nothing was stored.
    #[error("{0}")]
    Aborted(String),
    /// Two validly signed decisions for one licence version; evidence was recorded.
    #[error("fork: {0}")]
    Fork(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Unimplemented(String),
    /// A position or size past what this node holds (a log index beyond its size).
    #[error("{0}")]
    OutOfRange(String),
    /// A client over its limits (requests in flight, rate, Watch streams).
    #[error("{0}")]
    ResourceExhausted(String),
    /// No answer in the time allowed.
    #[error("{0}")]
    DeadlineExceeded(String),
    /// The node is shutting down or overloaded.
    #[error("{0}")]
    Unavailable(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// This node's own data does not hold together (e.g. a stored checkpoint that no longer
    /// verifies); details go to the log.
    #[error("{0}")]
    Internal(String),
    /// As [`Error::Internal`], but the client is told `what` went wrong (a fixed text, e.g.
    /// "stored log is incomplete"); `detail` goes to the log only.
    #[error("{what}: {detail}")]
    Damaged { what: &'static str, detail: String },
}

/// Longest message a status carries: every message is cut to this many bytes (on a character
/// boundary), whatever a client sent or a lower layer said.
pub const MAX_MESSAGE_BYTES: usize = 1024;

/// `message` cut to at most [`MAX_MESSAGE_BYTES`] bytes, marked with `…` when cut.
fn capped(mut message: String) -> String {
    const MARK: &str = "…";
    if message.len() > MAX_MESSAGE_BYTES {
        let cut = (0..=MAX_MESSAGE_BYTES - MARK.len()).rev().find(|&i| message.is_char_boundary(i)).unwrap_or(0);
        message.truncate(cut);
        message.push_str(MARK);
    }
    message
}

impl Error {
    /// Internal damage with a fixed public text; see [`Error::Damaged`].
    pub fn damaged(what: &'static str, detail: impl std::fmt::Display) -> Self {
        Error::Damaged { what, detail: detail.to_string() }
    }

    /// The status code a client sees for this error.
    pub fn code(&self) -> Code {
        match self {
            Error::InvalidArgument(_) | Error::BadSignature(_) => Code::InvalidArgument,
            Error::PermissionDenied(_) => Code::PermissionDenied,
            Error::Rule(_) | Error::Fork(_) | Error::FailedPrecondition(_) => Code::FailedPrecondition,
            Error::NotFound(_) => Code::NotFound,
            Error::Aborted(_) => Code::Aborted,
            Error::Unimplemented(_) => Code::Unimplemented,
            Error::OutOfRange(_) => Code::OutOfRange,
            Error::ResourceExhausted(_) => Code::ResourceExhausted,
            Error::DeadlineExceeded(_) => Code::DeadlineExceeded,
            Error::Unavailable(_) => Code::Unavailable,
            Error::Store(inner) if inner.is_write_failure() => Code::Unavailable,
            Error::Store(_) | Error::Internal(_) | Error::Damaged { .. } => Code::Internal,
        }
    }
}

/// The one answer to a write the store could not make durable (a full disk, a failing one):
/// nothing of it was acknowledged, so the client can tell that repeating it is safe.
pub fn write_refused(reason: impl std::fmt::Display) -> Error {
    Error::Unavailable(refused_message(reason))
}

fn refused_message(reason: impl std::fmt::Display) -> String {
    format!("storage write failed, the decision is not acknowledged (publishing the same envelope again is safe): {reason}")
}

impl From<FieldError> for Error {
    fn from(e: FieldError) -> Self {
        Error::InvalidArgument(format!("invalid decision: {e}"))
    }
}

impl From<StatementError> for Error {
    fn from(e: StatementError) -> Self {
        match e {
            StatementError::UnknownKey(_) => Error::PermissionDenied(e.to_string()),
            StatementError::BadSignature(_) => Error::BadSignature(e),
            other => Error::InvalidArgument(other.to_string()),
        }
    }
}

impl From<TrustError> for Error {
    fn from(e: TrustError) -> Self {
        match &e {
            TrustError::NotTrusted(_) | TrustError::BelowThreshold { .. } => Error::PermissionDenied(e.to_string()),
            TrustError::Signature { source: StatementError::UnknownKey(_), .. } => Error::PermissionDenied(e.to_string()),
            TrustError::Rollback { .. } => Error::FailedPrecondition(e.to_string()),
            TrustError::File(_) | TrustError::NotKeySet | TrustError::Invalid { .. } | TrustError::Signature { .. } => Error::InvalidArgument(e.to_string()),
        }
    }
}

impl From<Error> for Status {
    fn from(e: Error) -> Self {
        let message = match &e {
            Error::Store(inner) if inner.is_write_failure() => {
                tracing::error!(error = %inner, "storage write failure");
                refused_message(inner)
            }
            Error::Store(inner) => {
                // Internal detail goes to the log, not to the client.
                tracing::error!(error = %inner, "storage failure");
                "internal storage error; see the node's log".to_string()
            }
            Error::Internal(detail) => {
                tracing::error!(error = %detail, "internal error");
                "internal error; see the node's log".to_string()
            }
            Error::Damaged { what, detail } => {
                tracing::error!(error = %detail, "{what}");
                format!("{what}; see the node's log")
            }
            other => other.to_string(),
        };
        Status::new(e.code(), capped(message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "/var/lib/comity/db/conf: checksum mismatch at 0x1f";

    fn to_status(e: Error) -> Status {
        e.into()
    }

    #[test]
    fn each_error_has_its_code() {
        let s = |m: &str| m.to_string();
        let cases = [
            (Error::InvalidArgument(s("bad")), Code::InvalidArgument),
            (Error::BadSignature(StatementError::Unsigned), Code::InvalidArgument),
            (Error::PermissionDenied(s("no")), Code::PermissionDenied),
            (Error::Rule(RuleError::VersionGap { current: 1, got: 3 }), Code::FailedPrecondition),
            (Error::FailedPrecondition(s("frozen")), Code::FailedPrecondition),
            (Error::Fork(s("two version 2")), Code::FailedPrecondition),
            (Error::Aborted(s("moved on")), Code::Aborted),
            (Error::NotFound(s("none")), Code::NotFound),
            (Error::Unimplemented(s("later")), Code::Unimplemented),
            (Error::OutOfRange(s("past the end")), Code::OutOfRange),
            (Error::ResourceExhausted(s("slow down")), Code::ResourceExhausted),
            (Error::DeadlineExceeded(s("late")), Code::DeadlineExceeded),
            (Error::Unavailable(s("shutting down")), Code::Unavailable),
            (Error::Store(StoreError::Failed(s("no space left on device"))), Code::Unavailable),
            (Error::Store(StoreError::Corrupt { table: "heads", detail: s(SECRET) }), Code::Internal),
            (Error::Internal(s(SECRET)), Code::Internal),
            (Error::damaged("stored log is incomplete", SECRET), Code::Internal),
        ];
        for (error, code) in cases {
            let shown = error.to_string();
            assert_eq!(error.code(), code, "{shown}");
            let status = to_status(error);
            assert_eq!(status.code(), code, "{shown}");
        }
    }

    #[test]
    fn client_errors_keep_their_text() {
        let status = to_status(Error::OutOfRange("end 9 is beyond the log size 3".into()));
        assert_eq!(status.message(), "end 9 is beyond the log size 3");
        assert_eq!(to_status(Error::Fork("v2".into())).message(), "fork: v2");
    }

    #[test]
    fn internal_detail_never_reaches_the_client() {
        let corrupt = to_status(Error::Store(StoreError::Corrupt { table: "heads", detail: SECRET.into() }));
        assert_eq!(corrupt.message(), "internal storage error; see the node's log");
        let internal = to_status(Error::Internal(SECRET.into()));
        assert_eq!(internal.message(), "internal error; see the node's log");
        let damaged = to_status(Error::damaged("stored log is incomplete", SECRET));
        assert_eq!(damaged.message(), "stored log is incomplete; see the node's log");
        for s in [corrupt, internal, damaged] {
            assert!(!s.message().contains("checksum") && !s.message().contains("/var/lib"), "{}", s.message());
        }
    }

    #[test]
    fn messages_are_bounded_for_a_huge_input() {
        let huge = "é".repeat(3_000_000);
        let variants = [
            Error::InvalidArgument(huge.clone()),
            Error::PermissionDenied(huge.clone()),
            Error::FailedPrecondition(huge.clone()),
            Error::Fork(huge.clone()),
            Error::NotFound(huge.clone()),
            Error::Unimplemented(huge.clone()),
            Error::OutOfRange(huge.clone()),
            Error::ResourceExhausted(huge.clone()),
            Error::DeadlineExceeded(huge.clone()),
            Error::Unavailable(huge.clone()),
            Error::BadSignature(StatementError::Malformed(huge.clone())),
            Error::Store(StoreError::Failed(huge.clone())),
            Error::Store(StoreError::Corrupt { table: "heads", detail: huge.clone() }),
            Error::Internal(huge.clone()),
            Error::damaged("stored log is incomplete", &huge),
        ];
        for error in variants {
            let code = error.code();
            let message = to_status(error).message().to_string();
            assert!(message.len() <= 1024, "{code:?}: {} bytes", message.len());
            assert!(!message.is_empty(), "{code:?}");
        }
        assert!(to_status(Error::NotFound(huge)).message().ends_with('…'));
    }
}
