//! Errors at the crm-core boundary. Storage backends map their driver errors into `StoreError`;
//! no driver type crosses this line.

use serde::Serialize;

/// A refused input, naming the field (a JSON path such as `phones[1].number`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{entity} not found")]
    NotFound { entity: &'static str },
    /// A uniqueness or state rule refused the write (`serial` taken, stock would go negative).
    #[error("conflict on {field}: {message}")]
    Conflict { field: String, message: String },
    /// The input referred to something that does not exist or is not allowed.
    #[error(transparent)]
    Invalid(#[from] FieldError),
    /// The backend failed (connection lost, disk full). The message is for logs, not for clients.
    #[error("storage backend: {0}")]
    Backend(String),
}

impl StoreError {
    pub fn not_found(entity: &'static str) -> Self {
        StoreError::NotFound { entity }
    }
    pub fn conflict(field: impl Into<String>, message: impl Into<String>) -> Self {
        StoreError::Conflict {
            field: field.into(),
            message: message.into(),
        }
    }
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        StoreError::Invalid(FieldError::new(field, message))
    }
}

pub type StoreResult<T> = Result<T, StoreError>;
