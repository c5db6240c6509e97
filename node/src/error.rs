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
    /// Two validly signed decisions for one licence version; evidence was recorded.
    #[error("fork: {0}")]
    Fork(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Unimplemented(String),
    /// The node is shutting down or overloaded.
    #[error("{0}")]
    Unavailable(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// This node's own data does not hold together (e.g. a stored checkpoint that no longer
    /// verifies); details go to the log.
    #[error("{0}")]
    Internal(String),
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
        let code = match &e {
            Error::InvalidArgument(_) | Error::BadSignature(_) => Code::InvalidArgument,
            Error::PermissionDenied(_) => Code::PermissionDenied,
            Error::Rule(_) | Error::Fork(_) | Error::FailedPrecondition(_) => Code::FailedPrecondition,
            Error::NotFound(_) => Code::NotFound,
            Error::Unimplemented(_) => Code::Unimplemented,
            Error::Unavailable(_) => Code::Unavailable,
            Error::Store(inner) if inner.is_write_failure() => {
                tracing::error!(error = %inner, "storage write failure");
                return Status::unavailable(refused_message(inner));
            }
            Error::Store(inner) => {
                // Internal detail goes to the log, not to the client.
                tracing::error!(error = %inner, "storage failure");
                return Status::internal("internal storage error; see the node's log");
            }
            Error::Internal(detail) => {
                tracing::error!(error = %detail, "internal error");
                return Status::internal("internal error; see the node's log");
            }
        };
        Status::new(code, e.to_string())
    }
}
