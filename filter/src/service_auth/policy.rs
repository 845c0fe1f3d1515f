//! Signature policy with its defaults applied: what a signature must cover and how fresh it
//! must be. Built once per (rule, key) when the config compiles.

use super::config::SignaturePolicyConfig;
use super::message_signature::ComponentId;
use crate::config::ConfigError;

/// Default covered components when a policy names none.
pub const DEFAULT_COMPONENTS: &[&str] = &["@method", "@authority", "@path"];
/// Default max age of a signature or token, in seconds.
pub const DEFAULT_MAX_AGE: u64 = 300;
/// Default tolerated clock difference, in seconds.
pub const DEFAULT_SKEW: u64 = 30;

/// A signature policy ready to check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignaturePolicy {
    /// Components that must be covered.
    pub required: Vec<ComponentId>,
    /// `content-digest` must be covered when the request has a body.
    pub require_content_digest: bool,
    /// `created` must be present.
    pub require_created: bool,
    /// Max age in seconds.
    pub max_age: i64,
    /// Clock skew in seconds.
    pub skew: i64,
    /// Required `tag` value.
    pub required_tag: Option<String>,
    /// `nonce` must be present.
    pub require_nonce: bool,
    /// Record and reject repeated nonces / signatures.
    pub replay_protection: bool,
}

impl SignaturePolicy {
    /// Apply defaults to a (merged) policy config; `path` names it in errors.
    pub fn compile(
        cfg: &SignaturePolicyConfig,
        path: &str,
    ) -> Result<SignaturePolicy, ConfigError> {
        let names: Vec<String> = match &cfg.required_components {
            Some(list) => list.clone(),
            None => DEFAULT_COMPONENTS.iter().map(|s| s.to_string()).collect(),
        };
        let required = names
            .iter()
            .enumerate()
            .map(|(i, n)| {
                ComponentId::parse_config(n)
                    .map_err(|e| ConfigError::new(format!("{path}.required_components[{i}]"), e))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(SignaturePolicy {
            required,
            require_content_digest: cfg.require_content_digest.unwrap_or(true),
            require_created: cfg.require_created.unwrap_or(true),
            max_age: clamp(cfg.max_age_seconds.unwrap_or(DEFAULT_MAX_AGE)),
            skew: clamp(cfg.clock_skew_seconds.unwrap_or(DEFAULT_SKEW)),
            required_tag: cfg.required_tag.clone(),
            require_nonce: cfg.require_nonce.unwrap_or(false),
            replay_protection: cfg.replay_protection.unwrap_or(true),
        })
    }
}

fn clamp(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX / 4).min(i64::MAX / 4)
}
