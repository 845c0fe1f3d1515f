//! The `rate_limit` section: policies, hint format, brute-force lockout.

use crate::config::ConfigError;
use schemars::JsonSchema;
use serde::Deserialize;

/// Largest number of shared-data slots one policy (or the lockout table) may use.
pub const MAX_SLOTS: u32 = 1 << 20;
/// Slots per table when not configured.
pub const DEFAULT_SLOTS: u32 = 4096;

/// Policies, hint format, lockout.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Which rate-limit hint headers responses carry (default `both`).
    #[serde(default)]
    pub hints: HintFormat,
    /// The policies; rules name them in `rate_limits`.
    #[serde(default)]
    pub policies: Vec<PolicyConfig>,
    /// Brute-force lockout after repeated authentication failures; absent = off.
    #[serde(default)]
    pub lockout: Option<LockoutConfig>,
}

/// Rate-limit hint header format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum HintFormat {
    /// `RateLimit-Policy` and `RateLimit` (draft-ietf-httpapi-ratelimit-headers-11).
    Ietf,
    /// `X-RateLimit-Limit`, `X-RateLimit-Remaining`, `X-RateLimit-Reset` (delta seconds).
    Legacy,
    /// Both sets.
    #[default]
    Both,
    /// No hint headers (429 still carries `Retry-After`).
    None,
}

/// One rate-limit policy: at most `quota` requests per `window_secs` per key (GCRA: a burst of
/// `quota`, refilled evenly over the window).
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// Name used in rules, hint headers and the 429 body (`[A-Za-z0-9_.-]`).
    pub name: String,
    /// Requests allowed per window.
    pub quota: u64,
    /// Window length in seconds.
    pub window_secs: u64,
    /// What is counted: `ip`, `header:<name>`, `claim:<name>`, `service`, `route` or `global`.
    #[serde(default = "default_key")]
    pub key: String,
    /// Emit hint headers only; never block.
    #[serde(default)]
    pub hint_only: bool,
    /// Apply to every request, whatever rule matched (or none).
    #[serde(default)]
    pub all_routes: bool,
    /// Shared-data slots (the bound on distinct keys tracked at once; default 4096).
    #[serde(default)]
    pub slots: Option<u32>,
}

fn default_key() -> String {
    "ip".to_string()
}

/// Block a client after repeated authentication failures.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LockoutConfig {
    /// Failures that trigger a lockout (default 5).
    #[serde(default)]
    pub max_failures: Option<u32>,
    /// Window the failures must fall in, seconds (default 300).
    #[serde(default)]
    pub window_secs: Option<u64>,
    /// How long the client is blocked, seconds (default 900).
    #[serde(default)]
    pub duration_secs: Option<u64>,
    /// Who is locked out: `ip` (default) or `header:<name>`.
    #[serde(default)]
    pub key: Option<String>,
    /// Denial statuses that count as failures (default `[401]`).
    #[serde(default)]
    pub count_statuses: Option<Vec<u16>>,
    /// Count denials for a missing credential (`*_missing` reasons) too (default false).
    #[serde(default)]
    pub count_missing_credentials: bool,
    /// Shared-data slots (default 4096).
    #[serde(default)]
    pub slots: Option<u32>,
}

impl RateLimitConfig {
    /// Validate at `path` (compiling is the validation).
    pub fn validate(&self, path: &str) -> Result<(), ConfigError> {
        crate::rate_limit::policy::compile_policies(&self.policies, path)?;
        if let Some(l) = &self.lockout {
            crate::rate_limit::lockout::Lockout::compile(l, &format!("{path}.lockout"))?;
        }
        Ok(())
    }

    /// Check that every policy a rule names exists.
    pub fn validate_rule_refs(&self, names: &[String], path: &str) -> Result<(), ConfigError> {
        for (i, n) in names.iter().enumerate() {
            if !self.policies.iter().any(|p| p.name == *n) {
                return Err(ConfigError::new(
                    format!("{path}[{i}]"),
                    format!("unknown rate limit policy {n:?}"),
                ));
            }
            if names.get(..i).is_some_and(|prev| prev.contains(n)) {
                return Err(ConfigError::new(
                    format!("{path}[{i}]"),
                    format!("rate limit policy {n:?} is listed twice"),
                ));
            }
        }
        Ok(())
    }
}
