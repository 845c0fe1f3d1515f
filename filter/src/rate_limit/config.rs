//! The `rate_limit` section. (Placeholder type.)

use crate::config::ConfigError;
use schemars::JsonSchema;
use serde::Deserialize;

/// Policies, hint format, lockout.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RateLimitConfig {}

impl RateLimitConfig {
    /// Validate at `path`.
    pub fn validate(&self, _path: &str) -> Result<(), ConfigError> {
        Ok(())
    }

    /// Check that every policy a rule names exists.
    pub fn validate_rule_refs(&self, names: &[String], path: &str) -> Result<(), ConfigError> {
        match names.first() {
            Some(n) => Err(ConfigError::new(
                format!("{path}[0]"),
                format!("unknown rate limit policy {n:?}"),
            )),
            None => Ok(()),
        }
    }
}
