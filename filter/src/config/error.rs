//! The one error type for configuration problems.

use std::fmt;

/// A configuration problem: where (JSON path) and why. Its `Display` is the exact line users see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// JSON path of the offending field, e.g. `rules[2].match.prefix` (empty for the document).
    pub path: String,
    /// Human-readable reason.
    pub reason: String,
}

impl ConfigError {
    /// Build an error at `path` with `reason`.
    pub fn new(path: impl Into<String>, reason: impl Into<String>) -> Self {
        ConfigError {
            path: path.into(),
            reason: reason.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "config error: {}", self.reason)
        } else {
            write!(f, "config error at {}: {}", self.path, self.reason)
        }
    }
}

impl std::error::Error for ConfigError {}
