//! What a use case's failure means to the door that asked: the rules refused it, others kept
//! changing what it depends on, the input itself is wrong, or the store failed. Doors answer
//! the first three with a 4xx that says what to do, and only a store failure with 503.
//!
//! Inside the use cases errors travel as `anyhow::Error`; the few that are not the store's
//! are raised as an `AppError` and keep their kind through it (`AppError::classify`), so
//! every other error — a store that is down, an event it gave back unreadable — is `Store`.

/// A use case's failure, by what the caller can do about it.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The rules refuse it; the reason says what to do instead.
    #[error("{0}")]
    Refused(String),
    /// Other writers kept changing what it depends on; the same request again may succeed.
    #[error("{0}")]
    Conflict(String),
    /// The input is wrong: `field` names the part at fault, when one is.
    #[error("{message}")]
    Invalid {
        field: Option<String>,
        message: String,
    },
    /// The store failed, or gave back what cannot be read; nothing more was recorded.
    #[error("{0:#}")]
    Store(anyhow::Error),
}

impl AppError {
    /// The kind of an error raised inside the use cases: an `AppError` (also under added
    /// context) keeps its kind; anything else is the store's.
    pub fn classify(error: anyhow::Error) -> AppError {
        match error.downcast::<AppError>() {
            Ok(kind) => kind,
            Err(other) => AppError::Store(other),
        }
    }

    /// A refusal, as an `anyhow::Error` that keeps its kind.
    pub fn refused(reason: impl Into<String>) -> anyhow::Error {
        AppError::Refused(reason.into()).into()
    }

    /// The same failure with its reason rewritten by `explain` (a store failure is kept as
    /// it is: its words are for the log).
    pub fn explained(self, explain: impl FnOnce(String) -> String) -> AppError {
        match self {
            AppError::Refused(reason) => AppError::Refused(explain(reason)),
            AppError::Conflict(reason) => AppError::Conflict(explain(reason)),
            AppError::Invalid { field, message } => AppError::Invalid {
                field,
                message: explain(message),
            },
            store @ AppError::Store(_) => store,
        }
    }

    /// A conflict, as an `anyhow::Error` that keeps its kind.
    pub fn conflict(reason: impl Into<String>) -> anyhow::Error {
        AppError::Conflict(reason.into()).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn a_kind_survives_the_trip_through_anyhow_and_anything_else_is_the_stores() {
        let refused: anyhow::Result<()> =
            Err(AppError::refused("INC-1 is closed; reopen it first"));
        let with_context = refused.context("line 3").unwrap_err();
        match AppError::classify(with_context) {
            AppError::Refused(reason) => assert_eq!(reason, "INC-1 is closed; reopen it first"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            AppError::classify(AppError::conflict("busy")),
            AppError::Conflict(_)
        ));
        assert!(matches!(
            AppError::classify(anyhow::anyhow!("database error: disk I/O error")),
            AppError::Store(_)
        ));
    }
}
