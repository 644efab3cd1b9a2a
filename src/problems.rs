//! Every mistake found in a configuration file, each naming its key: what `warroom check`
//! and `warroom agent` print, one line a problem.

/// Every mistake found in a configuration, each naming its key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{origin}: {}", .problems.join(&format!("\n{origin}: ")))]
pub struct ConfigProblems {
    pub origin: String,
    pub problems: Vec<String>,
}
