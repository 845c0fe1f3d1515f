//! The `service_auth` section. (Placeholder type.)

use crate::config::ConfigError;
use schemars::JsonSchema;
use serde::Deserialize;

/// Keys and policies for message signatures and service tokens.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceAuthConfig {}

impl ServiceAuthConfig {
    /// Validate at `path`.
    pub fn validate(&self, _path: &str) -> Result<(), ConfigError> {
        Ok(())
    }
}
