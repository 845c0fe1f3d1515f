//! Typed plugin configuration: one JSON document, parsed with serde (`deny_unknown_fields`)
//! and validated at load. Every problem is reported as a [`ConfigError`] naming the JSON path
//! of the offending field and the reason, e.g. `config error at rules[2].match.prefix: must
//! start with "/"`. A bad config makes the plugin refuse to start; it is never half-applied.

mod error;
mod route;

pub use error::ConfigError;
pub use route::{HeaderMatch, RouteMatch};

use schemars::JsonSchema;
use serde::Deserialize;

/// The whole plugin configuration, as Envoy passes it in `plugin_config` (a JSON string).
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `enforce` (default) blocks and rewrites; `report` evaluates and logs/counts every
    /// decision but never blocks a request or changes a response.
    #[serde(default)]
    pub mode: Mode,
    /// What happens to a request when the filter hits an internal error at runtime (keys not
    /// loadable, host call failed). Never applies to a bad config, which always refuses to load.
    #[serde(default)]
    pub failure_mode: FailureMode,
    /// JWT authentication, in the proto3 JSON form of Envoy's `jwt_authn` `JwtAuthentication`.
    #[serde(default)]
    pub jwt_authn: Option<crate::jwt::config::JwtAuthnConfig>,
    /// Service-to-service credentials: RFC 9421 message signatures and simple service tokens.
    #[serde(default)]
    pub service_auth: Option<crate::service_auth::config::ServiceAuthConfig>,
    /// Security response headers, host allowlist, HTTPS redirect, CORS.
    #[serde(default)]
    pub headers: Option<crate::headers::config::HeadersConfig>,
    /// Rate-limit policies, hints and brute-force lockout.
    #[serde(default)]
    pub rate_limit: Option<crate::rate_limit::config::RateLimitConfig>,
    /// Masking of sensitive fields in JSON response bodies.
    #[serde(default)]
    pub masking: Option<crate::masking::config::MaskingConfig>,
    /// API keys (stored hashed): a credential beside JWTs and service credentials.
    #[serde(default)]
    pub api_keys: Option<crate::api_key::config::ApiKeysConfig>,
    /// Security events (which permissions count as admin-level).
    #[serde(default)]
    pub security_events: Option<crate::events::SecurityEventsConfig>,
    /// The filter's own counters (`edgeguard_*`); off for hosts without metrics.
    #[serde(default)]
    pub metrics: MetricsConfig,
    /// Ordered route rules; the first whose `match` fits the request applies.
    #[serde(default)]
    pub rules: Vec<Rule>,
}

/// Whether the filter defines and increments its counters at all.
///
/// Envoy shows them in `/stats`. Some proxy-wasm hosts (Google Service Extensions) offer no
/// metrics: there `enabled: false` keeps the filter from calling the metric ABI at all.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// Define and increment the `edgeguard_*` counters (default true).
    #[serde(default = "metrics_enabled_default")]
    pub enabled: bool,
}

impl Default for MetricsConfig {
    fn default() -> MetricsConfig {
        MetricsConfig { enabled: true }
    }
}

fn metrics_enabled_default() -> bool {
    true
}

/// Enforce decisions, or only report them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Block and rewrite as the policy says.
    #[default]
    Enforce,
    /// Log and count what would have been blocked or changed; change nothing.
    Report,
}

/// Fail closed (deny) or open (let through) on internal runtime errors.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FailureMode {
    /// Deny the request with a 5xx local reply.
    #[default]
    Closed,
    /// Let the request through unchanged and count it.
    Open,
}

/// One route rule: a match and what applies to requests that match it.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Name used in logs and metrics; defaults to `rules[N]`.
    #[serde(default)]
    pub name: Option<String>,
    /// Which requests this rule applies to.
    #[serde(rename = "match")]
    pub route: RouteMatch,
    /// Authentication requirement (JWT providers, service credentials), as in jwt_authn.
    #[serde(default)]
    pub requires: Option<crate::jwt::config::Requirement>,
    /// Claims the verified token must carry (e.g. `type: access`).
    #[serde(default)]
    pub require_claims: Option<crate::jwt::config::RequireClaims>,
    /// Permissions that must all be granted (token `permissions` / `scope`).
    #[serde(default)]
    pub require_permissions: Option<crate::jwt::config::RequirePermissions>,
    /// Names of `rate_limit.policies` that apply to this rule.
    #[serde(default)]
    pub rate_limits: Vec<String>,
    /// Per-rule overrides of the `headers` section.
    #[serde(default)]
    pub headers: Option<crate::headers::config::RuleHeaders>,
    /// Whether (and how) response bodies on this rule are masked.
    #[serde(default)]
    pub masking: Option<crate::masking::config::RuleMasking>,
    /// API key on this rule: `{"required": true}` demands one; `{}` verifies one if presented.
    #[serde(default)]
    pub api_key: Option<crate::api_key::config::RuleApiKey>,
    /// CSRF defence for state-changing methods (cookie-authenticated browsers).
    #[serde(default)]
    pub csrf: Option<crate::request_policy::csrf::RuleCsrf>,
    /// Request limits and hygiene (methods, URL/header/body sizes, content types, traversal).
    #[serde(default)]
    pub limits: Option<crate::request_policy::limits::RuleLimits>,
    /// Require mTLS and (optionally) an allowed peer certificate SAN.
    #[serde(default)]
    pub mtls: Option<crate::request_policy::mtls::RuleMtls>,
    /// Require a service credential (message signature / service token) on this rule.
    #[serde(default)]
    pub service_auth: Option<crate::service_auth::config::RuleServiceAuth>,
}

impl Config {
    /// Parse and validate a JSON config; the error names the JSON path and the reason.
    pub fn from_json(bytes: &[u8]) -> Result<Config, ConfigError> {
        let de = &mut serde_json::Deserializer::from_slice(bytes);
        let config: Config = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            ConfigError::new(
                if path == "." { String::new() } else { path },
                e.into_inner().to_string(),
            )
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Cross-field validation after parsing (rule matches, section references).
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (i, rule) in self.rules.iter().enumerate() {
            rule.route.validate(&format!("rules[{i}].match"))?;
            crate::headers::config::validate_rule_headers(
                self.headers.as_ref(),
                rule.headers.as_ref(),
                &format!("rules[{i}].headers"),
            )?;
            if let Some(rl) = &self.rate_limit {
                rl.validate_rule_refs(&rule.rate_limits, &format!("rules[{i}].rate_limits"))?;
            } else if !rule.rate_limits.is_empty() {
                return Err(ConfigError::new(
                    format!("rules[{i}].rate_limits[0]"),
                    format!(
                        "unknown rate limit policy {:?}: there is no rate_limit section",
                        rule.rate_limits[0]
                    ),
                ));
            }
        }
        if let Some(j) = &self.jwt_authn {
            j.validate("jwt_authn")?;
        }
        if let Some(s) = &self.service_auth {
            s.validate("service_auth")?;
        }
        if let Some(h) = &self.headers {
            h.validate("headers")?;
        }
        if let Some(r) = &self.rate_limit {
            r.validate("rate_limit")?;
        }
        if let Some(m) = &self.masking {
            m.validate("masking")?;
        }
        self.validate_request_policy()?;
        Ok(())
    }

    /// Validate `api_keys`, `security_events` and the rules' `api_key`, `csrf`, `limits`, `mtls`.
    fn validate_request_policy(&self) -> Result<(), ConfigError> {
        if let Some(k) = &self.api_keys {
            k.validate("api_keys")?;
        }
        if let Some(e) = &self.security_events {
            e.validate("security_events")?;
        }
        for (i, rule) in self.rules.iter().enumerate() {
            if rule.api_key.is_some() && self.api_keys.is_none() {
                return Err(ConfigError::new(
                    format!("rules[{i}].api_key"),
                    "there is no api_keys section",
                ));
            }
            if let Some(c) = &rule.csrf {
                c.validate(&format!("rules[{i}].csrf"))?;
            }
            if let Some(l) = &rule.limits {
                l.validate(&format!("rules[{i}].limits"))?;
            }
            if let Some(m) = &rule.mtls {
                m.validate(&format!("rules[{i}].mtls"))?;
            }
        }
        Ok(())
    }

    /// The JSON Schema of this config, generated from the types (committed as `config.schema.json`).
    pub fn json_schema() -> serde_json::Value {
        serde_json::to_value(schemars::schema_for!(Config)).unwrap_or_default()
    }
}
