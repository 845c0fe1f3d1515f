//! The `jwt_authn` section (Envoy's `JwtAuthentication` in proto3 JSON) and the per-rule
//! `requires`, `require_claims`, `require_permissions`. (Placeholder types.)

use crate::config::ConfigError;
use schemars::JsonSchema;
use serde::Deserialize;

/// Envoy `JwtAuthentication`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JwtAuthnConfig {}

impl JwtAuthnConfig {
    /// Validate at `path`.
    pub fn validate(&self, _path: &str) -> Result<(), ConfigError> {
        Ok(())
    }
}

/// Envoy `JwtRequirement`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Requirement {}

/// Claims a verified token must carry.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RequireClaims {}

/// Permissions a verified credential must grant.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RequirePermissions {}
