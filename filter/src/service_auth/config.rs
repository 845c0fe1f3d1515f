//! The `service_auth` section and the per-rule `service_auth` field.
//!
//! ```json
//! "service_auth": {
//!   "service_name": "email-router",
//!   "identity_header": "x-service-id",
//!   "max_body_bytes": 1048576,
//!   "policy": { "required_components": ["@method", "@authority", "@path"],
//!               "require_created": true, "max_age_seconds": 300, "clock_skew_seconds": 30,
//!               "required_tag": null, "require_nonce": false, "replay_protection": true },
//!   "keys": {
//!     "call-assistant-2026": { "alg": "hmac-sha256", "service_id": "call-assistant",
//!                              "secrets": [{"env": "CALL_ASSISTANT_KEY"}, "old-secret"] },
//!     "ed": { "alg": "ed25519", "public_key": {"value": "<base64 raw key>", "encoding": "base64"} }
//!   },
//!   "service_tokens": { "header": "x-service-token", "ttl_seconds": 300,
//!                       "clock_skew_seconds": 30, "replay_protection": false,
//!                       "services": { "call-assistant": { "secrets": [{"env": "CA_TOKEN"}] } } }
//! }
//! ```

use crate::config::ConfigError;
use base64::Engine as _;
use schemars::JsonSchema;
use serde::Deserialize;
use std::collections::BTreeMap;

/// Keys and policies for message signatures and service tokens.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceAuthConfig {
    /// This service's own name: service tokens must name it as their target
    /// (a rule's `service_auth.target_service` overrides it).
    #[serde(default)]
    pub service_name: Option<String>,
    /// Request header that carries the verified service id upstream (incoming copies are
    /// always removed). Default `x-service-id`.
    #[serde(default)]
    pub identity_header: Option<String>,
    /// Largest request body buffered to check a `Content-Digest` (default 1 MiB); above → 413.
    #[serde(default)]
    pub max_body_bytes: Option<u64>,
    /// Default signature policy (keys and rules may override parts of it).
    #[serde(default)]
    pub policy: SignaturePolicyConfig,
    /// Message-signature keys by `keyid`.
    #[serde(default)]
    pub keys: BTreeMap<String, KeyConfig>,
    /// Simple `X-Service-Token` credentials.
    #[serde(default)]
    pub service_tokens: Option<ServiceTokensConfig>,
    /// Shared-data replay cache sizing.
    #[serde(default)]
    pub replay_cache: ReplayCacheConfig,
}

/// Signature policy; every field is optional so that a key or rule can override only a part.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SignaturePolicyConfig {
    /// Components the signature must cover. Default `["@method", "@authority", "@path"]`;
    /// `content-digest` is always required in addition when the request has a body, unless
    /// `require_content_digest` is false.
    #[serde(default)]
    pub required_components: Option<Vec<String>>,
    /// Require `content-digest` coverage when the request has a body (default true).
    #[serde(default)]
    pub require_content_digest: Option<bool>,
    /// Require the `created` parameter (default true).
    #[serde(default)]
    pub require_created: Option<bool>,
    /// Reject signatures created longer ago than this (default 300).
    #[serde(default)]
    pub max_age_seconds: Option<u64>,
    /// Tolerated clock difference for `created` / `expires` (default 30).
    #[serde(default)]
    pub clock_skew_seconds: Option<u64>,
    /// The `tag` parameter must equal this (application-specific signature profile).
    #[serde(default)]
    pub required_tag: Option<String>,
    /// Require the `nonce` parameter (default false).
    #[serde(default)]
    pub require_nonce: Option<bool>,
    /// Reject a nonce (or, without nonce, a signature) seen before within the max age
    /// (default true).
    #[serde(default)]
    pub replay_protection: Option<bool>,
}

impl SignaturePolicyConfig {
    /// This policy with every field set in `over` replacing ours.
    pub fn overlay(&self, over: &SignaturePolicyConfig) -> SignaturePolicyConfig {
        SignaturePolicyConfig {
            required_components: over
                .required_components
                .clone()
                .or_else(|| self.required_components.clone()),
            require_content_digest: over.require_content_digest.or(self.require_content_digest),
            require_created: over.require_created.or(self.require_created),
            max_age_seconds: over.max_age_seconds.or(self.max_age_seconds),
            clock_skew_seconds: over.clock_skew_seconds.or(self.clock_skew_seconds),
            required_tag: over
                .required_tag
                .clone()
                .or_else(|| self.required_tag.clone()),
            require_nonce: over.require_nonce.or(self.require_nonce),
            replay_protection: over.replay_protection.or(self.replay_protection),
        }
    }

    fn validate(&self, path: &str) -> Result<(), ConfigError> {
        if let Some(list) = &self.required_components {
            for (i, c) in list.iter().enumerate() {
                super::message_signature::ComponentId::parse_config(c)
                    .map_err(|e| ConfigError::new(format!("{path}.required_components[{i}]"), e))?;
            }
        }
        if self.max_age_seconds == Some(0) {
            return Err(ConfigError::new(
                format!("{path}.max_age_seconds"),
                "must be greater than 0",
            ));
        }
        Ok(())
    }
}

/// Signature algorithms we verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
pub enum SignatureAlgorithm {
    /// HMAC with SHA-256 (RFC 9421 §3.3.3), shared secrets.
    #[serde(rename = "hmac-sha256")]
    HmacSha256,
    /// Ed25519 (RFC 9421 §3.3.6), public keys.
    #[serde(rename = "ed25519")]
    Ed25519,
}

impl SignatureAlgorithm {
    /// The RFC 9421 `alg` parameter value.
    pub fn name(self) -> &'static str {
        match self {
            SignatureAlgorithm::HmacSha256 => "hmac-sha256",
            SignatureAlgorithm::Ed25519 => "ed25519",
        }
    }
}

/// One signature key (one `keyid`).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyConfig {
    /// Algorithm; a signature's `alg` parameter, if present, must equal it.
    pub alg: SignatureAlgorithm,
    /// Identity forwarded upstream when this key verifies (default: the keyid).
    #[serde(default)]
    pub service_id: Option<String>,
    /// `hmac-sha256`: shared secrets, any of which may verify (rotation: list new and old).
    #[serde(default)]
    pub secrets: Vec<SecretSpec>,
    /// `ed25519`: public keys (raw 32 bytes, base64 by default, or PEM SPKI), any may verify.
    #[serde(default)]
    pub public_keys: Vec<SecretSpec>,
    /// Policy overrides for signatures made with this key.
    #[serde(default)]
    pub policy: Option<SignaturePolicyConfig>,
}

/// Where a secret comes from: a plain string (its UTF-8 bytes), or an object.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum SecretSpec {
    /// The secret itself, used as UTF-8 bytes.
    Plain(String),
    /// `{"value": ...}` or `{"env": "NAME"}`, with an optional `encoding`.
    Detailed(SecretSource),
}

/// A secret given inline or by environment variable, and how its text is encoded.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SecretSource {
    /// Inline value.
    #[serde(default)]
    pub value: Option<String>,
    /// Name of an environment variable read when the config loads (in Envoy:
    /// `vm_config.environment_variables`).
    #[serde(default)]
    pub env: Option<String>,
    /// How the text encodes the bytes: `utf8` (default for secrets), `base64`, `hex`.
    #[serde(default)]
    pub encoding: Option<SecretEncoding>,
}

/// Text encodings of secret bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SecretEncoding {
    /// The UTF-8 bytes of the text.
    Utf8,
    /// Standard or URL-safe base64, padded or not.
    Base64,
    /// Hexadecimal.
    Hex,
}

impl SecretSpec {
    /// Resolve to bytes (reading the environment now); errors name `path`.
    pub fn resolve(&self, path: &str, default: SecretEncoding) -> Result<Vec<u8>, ConfigError> {
        let (text, encoding) = self.resolve_text(path)?;
        let bytes = decode_text(text.trim(), encoding.unwrap_or(default))
            .map_err(|e| ConfigError::new(path, e))?;
        if bytes.is_empty() {
            return Err(ConfigError::new(path, "secret is empty"));
        }
        Ok(bytes)
    }

    /// The text (inline or from the environment) and its explicit encoding, if any.
    pub fn resolve_text(
        &self,
        path: &str,
    ) -> Result<(String, Option<SecretEncoding>), ConfigError> {
        match self {
            SecretSpec::Plain(s) => Ok((s.clone(), None)),
            SecretSpec::Detailed(d) => match (&d.value, &d.env) {
                (Some(v), None) => Ok((v.clone(), d.encoding)),
                (None, Some(name)) => match crate::environment::var(name) {
                    Some(v) => Ok((v, d.encoding)),
                    None => Err(ConfigError::new(
                        format!("{path}.env"),
                        format!("environment variable {name:?} is not set (or not UTF-8)"),
                    )),
                },
                _ => Err(ConfigError::new(
                    path,
                    "give exactly one of \"value\" or \"env\"",
                )),
            },
        }
    }
}

/// Decode secret text in the given encoding.
pub fn decode_text(text: &str, encoding: SecretEncoding) -> Result<Vec<u8>, String> {
    match encoding {
        SecretEncoding::Utf8 => Ok(text.as_bytes().to_vec()),
        SecretEncoding::Base64 => decode_base64_any(text).ok_or_else(|| "invalid base64".into()),
        SecretEncoding::Hex => super::service_token::decode_hex(text)
            .ok_or_else(|| "invalid hex (need an even number of hex digits)".into()),
    }
}

/// Standard or URL-safe base64, padding optional.
pub fn decode_base64_any(text: &str) -> Option<Vec<u8>> {
    let normalized: String = text
        .trim_end_matches('=')
        .chars()
        .map(|c| match c {
            '-' => '+',
            '_' => '/',
            c => c,
        })
        .collect();
    base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(normalized)
        .ok()
}

/// The simple `X-Service-Token` credential.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceTokensConfig {
    /// Header carrying the token (default `x-service-token`).
    #[serde(default)]
    pub header: Option<String>,
    /// Token lifetime from its timestamp (default 300).
    #[serde(default)]
    pub ttl_seconds: Option<u64>,
    /// Tolerated clock difference (default 30).
    #[serde(default)]
    pub clock_skew_seconds: Option<u64>,
    /// Reject a token seen before (tokens are bearer credentials: without this, a captured
    /// token can be replayed until it expires). Default false.
    #[serde(default)]
    pub replay_protection: bool,
    /// Calling services and their secrets (several for rotation).
    pub services: BTreeMap<String, TokenServiceConfig>,
}

/// One calling service's token secrets.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenServiceConfig {
    /// HMAC-SHA256 secrets (UTF-8 text by default), any of which may verify.
    pub secrets: Vec<SecretSpec>,
}

/// Shared-data replay cache sizing (memory is bounded: shards × entries × 24 bytes).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayCacheConfig {
    /// Number of shared-data entries the cache is split over (default 16).
    #[serde(default = "default_shards")]
    pub shards: u32,
    /// Live entries per shard; when a shard is full of unexpired entries, new credentials
    /// are refused as an internal error (fail closed) rather than forgetting old ones.
    #[serde(default = "default_entries")]
    pub max_entries_per_shard: u32,
}

fn default_shards() -> u32 {
    16
}
fn default_entries() -> u32 {
    4096
}

impl Default for ReplayCacheConfig {
    fn default() -> Self {
        ReplayCacheConfig {
            shards: default_shards(),
            max_entries_per_shard: default_entries(),
        }
    }
}

/// Which credential kinds a rule accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CredentialKind {
    /// RFC 9421 `Signature-Input` / `Signature`.
    MessageSignature,
    /// `X-Service-Token`.
    ServiceToken,
}

/// Per-rule service-credential policy (`rules[N].service_auth`).
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleServiceAuth {
    /// Whether a credential is required (default true). When false, a credential that is
    /// present must still be valid, but its absence is allowed.
    #[serde(default)]
    pub required: Option<bool>,
    /// Accepted kinds (default: every configured kind).
    #[serde(default)]
    pub kinds: Option<Vec<CredentialKind>>,
    /// Only these service ids may call this route (default: any verified service); others 403.
    #[serde(default)]
    pub allowed_services: Option<Vec<String>>,
    /// Target name service tokens must carry on this route (overrides `service_name`).
    #[serde(default)]
    pub target_service: Option<String>,
    /// Signature policy overrides for this route (applied over the key's policy).
    #[serde(default)]
    pub policy: Option<SignaturePolicyConfig>,
}

impl RuleServiceAuth {
    /// Validate at `path` (e.g. `rules[2].service_auth`) against the section.
    pub fn validate(
        &self,
        path: &str,
        section: Option<&ServiceAuthConfig>,
    ) -> Result<(), ConfigError> {
        let Some(section) = section else {
            return Err(ConfigError::new(
                path,
                "a rule requires service auth but there is no service_auth section",
            ));
        };
        if let Some(kinds) = &self.kinds {
            if kinds.is_empty() {
                return Err(ConfigError::new(
                    format!("{path}.kinds"),
                    "must name at least one kind",
                ));
            }
            for (i, k) in kinds.iter().enumerate() {
                let ok = match k {
                    CredentialKind::MessageSignature => !section.keys.is_empty(),
                    CredentialKind::ServiceToken => section.service_tokens.is_some(),
                };
                if !ok {
                    return Err(ConfigError::new(
                        format!("{path}.kinds[{i}]"),
                        "this kind is not configured in the service_auth section",
                    ));
                }
            }
        }
        if let Some(p) = &self.policy {
            p.validate(&format!("{path}.policy"))?;
        }
        Ok(())
    }
}

impl ServiceAuthConfig {
    /// Validate at `path` (secrets are resolved, and so checked, when the stage compiles).
    pub fn validate(&self, path: &str) -> Result<(), ConfigError> {
        self.policy.validate(&format!("{path}.policy"))?;
        for (id, key) in &self.keys {
            let kp = format!("{path}.keys.{id}");
            if let Some(p) = &key.policy {
                p.validate(&format!("{kp}.policy"))?;
            }
            match key.alg {
                SignatureAlgorithm::HmacSha256 => {
                    if key.secrets.is_empty() {
                        return Err(ConfigError::new(
                            format!("{kp}.secrets"),
                            "hmac-sha256 keys need at least one secret",
                        ));
                    }
                    if !key.public_keys.is_empty() {
                        return Err(ConfigError::new(
                            format!("{kp}.public_keys"),
                            "hmac-sha256 keys take secrets, not public_keys",
                        ));
                    }
                }
                SignatureAlgorithm::Ed25519 => {
                    if key.public_keys.is_empty() {
                        return Err(ConfigError::new(
                            format!("{kp}.public_keys"),
                            "ed25519 keys need at least one public key",
                        ));
                    }
                    if !key.secrets.is_empty() {
                        return Err(ConfigError::new(
                            format!("{kp}.secrets"),
                            "ed25519 keys take public_keys, not secrets",
                        ));
                    }
                }
            }
        }
        if let Some(t) = &self.service_tokens {
            let tp = format!("{path}.service_tokens");
            if t.services.is_empty() {
                return Err(ConfigError::new(
                    format!("{tp}.services"),
                    "name at least one calling service",
                ));
            }
            for (name, svc) in &t.services {
                if name.is_empty() || name.contains(':') {
                    return Err(ConfigError::new(
                        format!("{tp}.services.{name}"),
                        "service ids must be non-empty and contain no ':'",
                    ));
                }
                if svc.secrets.is_empty() {
                    return Err(ConfigError::new(
                        format!("{tp}.services.{name}.secrets"),
                        "need at least one secret",
                    ));
                }
            }
            if t.ttl_seconds == Some(0) {
                return Err(ConfigError::new(
                    format!("{tp}.ttl_seconds"),
                    "must be greater than 0",
                ));
            }
        }
        if let Some(h) = &self.identity_header {
            if h.is_empty()
                || !h
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            {
                return Err(ConfigError::new(
                    format!("{path}.identity_header"),
                    "must be a lowercase header name",
                ));
            }
        }
        if self.replay_cache.shards == 0 || self.replay_cache.max_entries_per_shard == 0 {
            return Err(ConfigError::new(
                format!("{path}.replay_cache"),
                "shards and max_entries_per_shard must be greater than 0",
            ));
        }
        Ok(())
    }
}
