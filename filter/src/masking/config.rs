//! The `masking` section and the per-rule `masking` switch.
//!
//! ```json
//! "masking": {
//!   "keys":  {"email": "email", "phone_number": "phone"},
//!   "paths": {"$.user.email": "email", "$.items[*].card_number": "card", "$..ssn": "ssn"},
//!   "key_heuristics": {"email": "email", "phone": "phone", "card": "card", "ssn": "ssn",
//!                      "password": "redact", "secret": "secret", "token": "secret",
//!                      "api_key": "secret", "apikey": "secret"},
//!   "detectors": {"card": true, "ssn": true, "email": true, "jwt": "redact", "api_key": false},
//!   "hash_key": {"env": "EDGEGUARD_MASK_KEY"},
//!   "max_body_bytes": 1048576,
//!   "on_oversize": "block", "on_malformed": "block", "on_compressed": "block",
//!   "content_types": ["application/json", "*/*+json"]
//! }
//! ```
//! A rule enables masking with `"masking": true` (the section as is) or an object that adds
//! rule-specific `keys` / `paths` (`{"keys": {"iban": "partial"}}`); `false` or absent: off.
//!
//! Selection precedence for a value: a matching JSON path, then an exact key name
//! (ASCII case-insensitive), then a key heuristic (the key, lowercased with `_` and `-` removed,
//! contains the heuristic's word, likewise normalized; the longest word wins). A masked key's
//! value is masked whatever its type: strings by the strategy on the decoded text, numbers and
//! booleans by the strategy on their JSON text, the result written as a JSON string (`"pin": 1234`
//! with `partial` → `"pin": "****"`); `null` stays `null` (it carries nothing); objects and
//! arrays keep their shape and every scalar inside them is masked with the same strategy.

use crate::config::ConfigError;
use schemars::JsonSchema;
use serde::Deserialize;
use std::collections::BTreeMap;

/// The default `max_body_bytes`: 1 MiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;

/// Shortest accepted `hash_key`, in bytes (HMAC keys shorter than this are guessable).
pub const MIN_HASH_KEY_BYTES: usize = 16;

/// Fields, detectors, strategies and limits for masking JSON response bodies.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MaskingConfig {
    /// Exact key names (ASCII case-insensitive) → strategy.
    #[serde(default)]
    pub keys: BTreeMap<String, Strategy>,
    /// JSONPath selectors (`$.a.b`, `$.items[*].x`, `$['a b'][0]`, `$..ssn`) → strategy.
    #[serde(default)]
    pub paths: BTreeMap<String, Strategy>,
    /// Words that mark a key as sensitive when the key contains them → strategy. Absent: the
    /// built-in list (email, phone, card, ssn, password, secret, token, api_key, apikey);
    /// `{}` turns heuristics off.
    #[serde(default)]
    pub key_heuristics: Option<BTreeMap<String, Strategy>>,
    /// Value detectors run inside every string (all on by default).
    #[serde(default)]
    pub detectors: Detectors,
    /// Key for the `hash` strategy (HMAC-SHA256): inline, or `{"env": "NAME"}` read at load.
    #[serde(default)]
    pub hash_key: Option<SecretSource>,
    /// Largest body that is buffered and masked (default 1 MiB).
    #[serde(default = "default_max_body_bytes")]
    pub max_body_bytes: usize,
    /// What happens to a body larger than `max_body_bytes`.
    #[serde(default)]
    pub on_oversize: Fallback,
    /// What happens to a body that is not valid JSON.
    #[serde(default)]
    pub on_malformed: Fallback,
    /// What happens to a compressed (`content-encoding`) body, which cannot be inspected.
    #[serde(default)]
    pub on_compressed: Fallback,
    /// Media types that are masked: exact (`application/json`) or `*/*+json` (any `+json`
    /// suffix), `type/*`, `*/*`. Default: `application/json` and `*/*+json`.
    #[serde(default = "default_content_types")]
    pub content_types: Vec<String>,
}

impl Default for MaskingConfig {
    fn default() -> Self {
        MaskingConfig {
            keys: BTreeMap::new(),
            paths: BTreeMap::new(),
            key_heuristics: None,
            detectors: Detectors::default(),
            hash_key: None,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            on_oversize: Fallback::Block,
            on_malformed: Fallback::Block,
            on_compressed: Fallback::Block,
            content_types: default_content_types(),
        }
    }
}

fn default_max_body_bytes() -> usize {
    DEFAULT_MAX_BODY_BYTES
}

fn default_content_types() -> Vec<String> {
    vec!["application/json".to_string(), "*/*+json".to_string()]
}

/// The built-in key heuristics: word → strategy.
pub fn default_key_heuristics() -> BTreeMap<String, Strategy> {
    [
        ("email", Strategy::Email),
        ("phone", Strategy::Phone),
        ("card", Strategy::Card),
        ("ssn", Strategy::Ssn),
        ("password", Strategy::Redact),
        ("secret", Strategy::Secret),
        ("token", Strategy::Secret),
        ("api_key", Strategy::Secret),
        ("apikey", Strategy::Secret),
    ]
    .into_iter()
    .map(|(k, s)| (k.to_string(), s))
    .collect()
}

/// How a sensitive value is rewritten (formats defined in `strategies.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// `jo*****@example.com`: first 2 of a local part longer than 3, domain kept.
    Email,
    /// Last 4 digits kept, other digits starred, non-digits dropped.
    Phone,
    /// Digits only, all starred but the last 4.
    Card,
    /// `***-**-` + last 4 for 9 digits, else all stars.
    Ssn,
    /// First 4 + stars + last 4 when longer than 8, else all stars.
    Secret,
    /// First 2 + stars + last 2 when longer than 4, else `****`.
    Partial,
    /// `***MASKED***`.
    Redact,
    /// `h:` + first 16 hex digits of HMAC-SHA256(hash_key, value).
    Hash,
}

/// Keep going without masking, or answer 502.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Fallback {
    /// Replace the response with a 502 JSON error (an unmasked leak is worse than an error).
    #[default]
    Block,
    /// Let the body through unmasked, with a metric and a log line.
    Pass,
}

/// A detector switch: `true` (default strategy), `false` (off) or a strategy name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum DetectorSetting {
    /// On with the detector's default strategy, or off.
    Enabled(bool),
    /// On with this strategy.
    Strategy(Strategy),
}

impl DetectorSetting {
    /// The strategy to use, or `None` when the detector is off.
    pub fn resolve(self, default: Strategy) -> Option<Strategy> {
        match self {
            DetectorSetting::Enabled(true) => Some(default),
            DetectorSetting::Enabled(false) => None,
            DetectorSetting::Strategy(s) => Some(s),
        }
    }
}

fn detector_on() -> DetectorSetting {
    DetectorSetting::Enabled(true)
}

/// Value detectors, each on/off or with its own strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Detectors {
    /// Card numbers (13–19 digits, spaces/dashes allowed, Luhn-valid); default strategy `card`.
    #[serde(default = "detector_on")]
    pub card: DetectorSetting,
    /// US SSNs written `123-45-6789`; default strategy `ssn`.
    #[serde(default = "detector_on")]
    pub ssn: DetectorSetting,
    /// E-mail addresses; default strategy `email`.
    #[serde(default = "detector_on")]
    pub email: DetectorSetting,
    /// JWTs (`eyJ...`.`...`.`...`); default strategy `redact`.
    #[serde(default = "detector_on")]
    pub jwt: DetectorSetting,
    /// API keys of well-known shapes (Stripe `sk_live_`, AWS `AKIA`, GitHub `ghp_`, Slack
    /// `xoxb-`, Google `AIza`, GitLab `glpat-`, `sk-...`); default strategy `secret`.
    #[serde(default = "detector_on")]
    pub api_key: DetectorSetting,
}

impl Default for Detectors {
    fn default() -> Self {
        Detectors {
            card: detector_on(),
            ssn: detector_on(),
            email: detector_on(),
            jwt: detector_on(),
            api_key: detector_on(),
        }
    }
}

/// A secret given inline or named by an environment variable read once at load.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum SecretSource {
    /// The secret itself.
    Inline(String),
    /// `{"env": "NAME"}`: read from the environment when the config is compiled.
    Env {
        /// Environment variable name.
        env: String,
    },
}

impl SecretSource {
    /// Resolve to the key bytes; the error never contains the secret.
    pub fn resolve(&self, path: &str) -> Result<Vec<u8>, ConfigError> {
        let value = match self {
            SecretSource::Inline(s) => s.clone(),
            SecretSource::Env { env } => crate::environment::var(env).ok_or_else(|| {
                ConfigError::new(
                    path,
                    format!("environment variable {env:?} is not set or not UTF-8"),
                )
            })?,
        };
        if value.len() < MIN_HASH_KEY_BYTES {
            return Err(ConfigError::new(
                path,
                format!("hash key must be at least {MIN_HASH_KEY_BYTES} bytes"),
            ));
        }
        Ok(value.into_bytes())
    }
}

/// Per-rule masking: `true` (the section as is), `false` (off), or an object of additions.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum RuleMasking {
    /// On with the `masking` section (or its defaults when there is none), or off.
    Enabled(bool),
    /// On, with extra selectors for this rule.
    Overrides(RuleMaskingOverrides),
}

impl Default for RuleMasking {
    fn default() -> Self {
        RuleMasking::Enabled(false)
    }
}

/// Rule-specific selectors added to the section's.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleMaskingOverrides {
    /// Extra exact key names → strategy (override the section's for the same key).
    #[serde(default)]
    pub keys: BTreeMap<String, Strategy>,
    /// Extra JSONPath selectors → strategy.
    #[serde(default)]
    pub paths: BTreeMap<String, Strategy>,
}

impl MaskingConfig {
    /// Validate at `path`: paths parse, limits make sense, a hash key exists when needed.
    pub fn validate(&self, path: &str) -> Result<(), ConfigError> {
        if self.max_body_bytes == 0 {
            return Err(ConfigError::new(
                format!("{path}.max_body_bytes"),
                "must be greater than 0",
            ));
        }
        for (i, ct) in self.content_types.iter().enumerate() {
            if crate::masking::media::MediaPattern::parse(ct).is_none() {
                return Err(ConfigError::new(
                    format!("{path}.content_types[{i}]"),
                    format!("{ct:?} is not a media type pattern (type/subtype, */*+json)"),
                ));
            }
        }
        for k in self.keys.keys() {
            if k.is_empty() {
                return Err(ConfigError::new(format!("{path}.keys"), "empty key name"));
            }
        }
        if let Some(h) = &self.key_heuristics {
            for k in h.keys() {
                if crate::masking::selector::normalize_word(k).is_empty() {
                    return Err(ConfigError::new(
                        format!("{path}.key_heuristics"),
                        format!("{k:?} has no letters or digits"),
                    ));
                }
            }
        }
        for p in self.paths.keys() {
            crate::masking::selector::JsonPath::parse(p)
                .map_err(|e| ConfigError::new(format!("{path}.paths.{p}"), e))?;
        }
        if let Some(src) = &self.hash_key {
            src.resolve(&format!("{path}.hash_key"))?;
        }
        Ok(())
    }

    /// Does any selector or detector use the `hash` strategy?
    pub fn uses_hash(&self) -> bool {
        let d = &self.detectors;
        self.keys.values().any(|s| *s == Strategy::Hash)
            || self.paths.values().any(|s| *s == Strategy::Hash)
            || self
                .key_heuristics
                .as_ref()
                .is_some_and(|h| h.values().any(|s| *s == Strategy::Hash))
            || [d.card, d.ssn, d.email, d.jwt, d.api_key]
                .contains(&DetectorSetting::Strategy(Strategy::Hash))
    }
}
