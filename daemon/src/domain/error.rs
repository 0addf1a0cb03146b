//! Errors of domain operations: what an operator or the cloud did wrong, said plainly.

use crate::secrets::SecretsError;
use crate::store::StoreError;

/// Why a domain operation was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    /// Bad input: the message says what and why.
    #[error("{0}")]
    Invalid(String),
    /// No such thing.
    #[error("{0} not found")]
    NotFound(String),
    /// It exists already.
    #[error("{0} already exists")]
    Exists(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A sealed secret could not be opened or sealed.
    #[error(transparent)]
    Secrets(#[from] SecretsError),
}

impl From<rusqlite::Error> for DomainError {
    fn from(err: rusqlite::Error) -> Self {
        DomainError::Store(StoreError::Sqlite(err))
    }
}

/// `Err(DomainError::Invalid)` unless `ok`.
pub(crate) fn ensure(ok: bool, message: impl FnOnce() -> String) -> Result<(), DomainError> {
    if ok {
        Ok(())
    } else {
        Err(DomainError::Invalid(message()))
    }
}
