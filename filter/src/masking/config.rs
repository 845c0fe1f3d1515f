//! The `masking` section and per-rule masking switch. (Placeholder types.)

use crate::config::ConfigError;
use schemars::JsonSchema;
use serde::Deserialize;

/// Fields, detectors, strategies, limits.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MaskingConfig {}

impl MaskingConfig {
    /// Validate at `path`.
    pub fn validate(&self, _path: &str) -> Result<(), ConfigError> {
        Ok(())
    }
}

/// Per-rule masking: `true`/`false` or an object of overrides.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleMasking {}
