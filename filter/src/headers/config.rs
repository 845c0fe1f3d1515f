//! The `headers` section and per-rule header overrides. (Placeholder types.)

use crate::config::ConfigError;
use schemars::JsonSchema;
use serde::Deserialize;

/// Security headers, hosts, HTTPS, CORS, trusted proxies.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HeadersConfig {}

impl HeadersConfig {
    /// Validate at `path`.
    pub fn validate(&self, _path: &str) -> Result<(), ConfigError> {
        Ok(())
    }
}

/// Per-rule overrides of the `headers` section.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleHeaders {}
