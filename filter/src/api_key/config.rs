//! The top-level `api_keys` section and the per-rule `api_key` setting.

use crate::api_key::hash::parse_digest_hex;
use crate::api_key::rfc3339::parse_unix_nanos;
use crate::config::ConfigError;
use schemars::JsonSchema;
use serde::Deserialize;
use std::collections::HashSet;

/// API keys: a credential beside JWTs and service credentials. Keys are configured only as
/// digests (see `edgeguard hash-key`), never in clear.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiKeysConfig {
    /// Request header carrying the key (default `x-api-key`).
    #[serde(default = "default_header")]
    pub header: String,
    /// Also accept `Authorization: <scheme> <key>` with this scheme (e.g. `ApiKey`); off when
    /// absent. The scheme is compared case-insensitively.
    #[serde(default)]
    pub authorization_scheme: Option<String>,
    /// How the configured digests were made: `sha256` (default) or `hmac_sha256` (needs `pepper`).
    #[serde(default)]
    pub hash: KeyHashAlgorithm,
    /// The HMAC pepper, read from the environment when the config loads: `{"env": "NAME"}`.
    #[serde(default)]
    pub pepper: Option<SecretSource>,
    /// Send the key header itself upstream too (default false: it is removed, and upstream
    /// sees only `x-api-key-name`).
    #[serde(default)]
    pub forward_key: bool,
    /// The keys.
    pub keys: Vec<ApiKeyEntry>,
}

fn default_header() -> String {
    "x-api-key".to_string()
}

/// How key digests are computed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum KeyHashAlgorithm {
    /// Lowercase hex SHA-256 of the key.
    #[default]
    Sha256,
    /// Lowercase hex HMAC-SHA256 of the key, keyed with the pepper.
    HmacSha256,
}

/// Where a secret comes from (never inline in the config).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SecretSource {
    /// Name of the environment variable holding the secret (Envoy: `vm_config.environment_variables`).
    pub env: String,
}

/// One API key.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyEntry {
    /// Name sent upstream in `x-api-key-name` and used in logs (never the key).
    pub name: String,
    /// 64 hex digits: the key's digest per `api_keys.hash`.
    pub hash: String,
    /// Permissions the key grants (`messages:read`, ...), checked by `require_permissions`.
    #[serde(default)]
    pub permissions: Vec<String>,
    /// RFC 3339 instant after which the key is refused (`2027-01-31T23:59:59Z`).
    #[serde(default)]
    pub expires_at: Option<String>,
    /// A disabled key is refused (default true).
    #[serde(default = "default_true")]
    pub enabled: bool,
}

fn default_true() -> bool {
    true
}

/// Per-rule API key setting: `{"required": true}` demands a valid key; `{}` (required false)
/// verifies a key when one is presented and lets requests without one through.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleApiKey {
    /// Reject requests without a valid API key (401).
    #[serde(default)]
    pub required: bool,
}

/// A header name as HTTP allows it (RFC 9110 token), checked at load.
pub(crate) fn is_header_token(name: &str) -> bool {
    !name.is_empty()
        && name.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'!' | b'#'
                        | b'$'
                        | b'%'
                        | b'&'
                        | b'\''
                        | b'*'
                        | b'+'
                        | b'-'
                        | b'.'
                        | b'^'
                        | b'_'
                        | b'`'
                        | b'|'
                        | b'~'
                )
        })
}

impl ApiKeysConfig {
    /// Validate at `path` (`api_keys`): header names, digests, names, expiries, pepper.
    pub fn validate(&self, path: &str) -> Result<(), ConfigError> {
        if !is_header_token(&self.header) {
            return Err(ConfigError::new(
                format!("{path}.header"),
                "must be an HTTP header name",
            ));
        }
        let header = self.header.to_ascii_lowercase();
        if matches!(
            header.as_str(),
            "authorization" | "cookie" | "host" | "x-api-key-name"
        ) {
            return Err(ConfigError::new(
                format!("{path}.header"),
                format!(
                    "{header:?} cannot carry API keys (use authorization_scheme for Authorization)"
                ),
            ));
        }
        if let Some(s) = &self.authorization_scheme {
            if !is_header_token(s) || s.eq_ignore_ascii_case("bearer") {
                return Err(ConfigError::new(
                    format!("{path}.authorization_scheme"),
                    "must be an auth scheme name other than Bearer, e.g. \"ApiKey\"",
                ));
            }
        }
        match (self.hash, &self.pepper) {
            (KeyHashAlgorithm::HmacSha256, None) => {
                return Err(ConfigError::new(
                    format!("{path}.pepper"),
                    "hmac_sha256 needs a pepper: {\"env\": \"NAME\"}",
                ))
            }
            (KeyHashAlgorithm::Sha256, Some(_)) => {
                return Err(ConfigError::new(
                    format!("{path}.pepper"),
                    "a pepper is only used with \"hash\": \"hmac_sha256\"",
                ))
            }
            (_, Some(p)) if p.env.is_empty() => {
                return Err(ConfigError::new(
                    format!("{path}.pepper.env"),
                    "must name an environment variable",
                ))
            }
            _ => {}
        }
        let mut names = HashSet::new();
        let mut digests = HashSet::new();
        for (i, k) in self.keys.iter().enumerate() {
            let kp = format!("{path}.keys[{i}]");
            if k.name.is_empty() || !k.name.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(ConfigError::new(
                    format!("{kp}.name"),
                    "must be non-empty visible ASCII without spaces (it is sent in a header)",
                ));
            }
            if !names.insert(k.name.as_str()) {
                return Err(ConfigError::new(
                    format!("{kp}.name"),
                    format!("duplicate key name {:?}", k.name),
                ));
            }
            let Some(d) = parse_digest_hex(&k.hash) else {
                return Err(ConfigError::new(
                    format!("{kp}.hash"),
                    "must be 64 hex digits (the output of `edgeguard hash-key`), never the key itself",
                ));
            };
            if !digests.insert(d) {
                return Err(ConfigError::new(
                    format!("{kp}.hash"),
                    "the same key digest is configured twice",
                ));
            }
            for (j, p) in k.permissions.iter().enumerate() {
                if p.is_empty() || !p.bytes().all(|b| b.is_ascii_graphic()) {
                    return Err(ConfigError::new(
                        format!("{kp}.permissions[{j}]"),
                        "must be a non-empty permission name without spaces",
                    ));
                }
            }
            if let Some(e) = &k.expires_at {
                parse_unix_nanos(e).map_err(|r| ConfigError::new(format!("{kp}.expires_at"), r))?;
            }
        }
        Ok(())
    }
}
