//! The `jwt_authn` section: Envoy's `JwtAuthentication` message in its proto3 JSON form
//! (snake_case field names, durations as `"600s"` / `"1.5s"`), so an existing Envoy config can
//! be pasted; plus edgeguard's per-rule `requires`, `require_claims`, `require_permissions` and
//! the section-level `revoked_jti` extension. Validation errors name the JSON path.

use crate::config::ConfigError;
use crate::service_auth::config::RuleServiceAuth;
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;

/// Envoy `JwtAuthentication`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JwtAuthnConfig {
    /// Providers by name.
    #[serde(default)]
    pub providers: BTreeMap<String, JwtProvider>,
    /// Route rules: the first whose `match` fits decides the requirement (as in Envoy).
    #[serde(default)]
    pub rules: Vec<RequirementRule>,
    /// Named requirements, referenced by `requirement_name`.
    #[serde(default)]
    pub requirement_map: BTreeMap<String, Requirement>,
    /// Let CORS preflight requests (OPTIONS with Origin and Access-Control-Request-Method) pass.
    #[serde(default)]
    pub bypass_cors_preflight: bool,
    /// Send failures without body and without `WWW-Authenticate`.
    #[serde(default)]
    pub strip_failure_response: bool,
    /// Accepted for compatibility; edgeguard's metrics have fixed names.
    #[serde(default)]
    pub stat_prefix: Option<String>,
    /// edgeguard extension: `jti` values that are refused (403) even with a valid signature.
    #[serde(default)]
    pub revoked_jti: Vec<String>,
}

/// Envoy `JwtProvider`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JwtProvider {
    /// Required `iss`; empty or absent accepts any issuer.
    #[serde(default)]
    pub issuer: Option<String>,
    /// Allowed `aud` values; empty accepts any.
    #[serde(default)]
    pub audiences: Vec<String>,
    /// Allowed `sub` values.
    #[serde(default)]
    pub subjects: Option<StringMatcher>,
    /// Tokens without `exp` are refused.
    #[serde(default)]
    pub require_expiration: bool,
    /// Longest allowed `exp - iat` (needs both claims).
    #[serde(default)]
    pub max_lifetime: Option<ProtoDuration>,
    /// JWKS fetched from an upstream cluster.
    #[serde(default)]
    pub remote_jwks: Option<RemoteJwks>,
    /// JWKS given inline.
    #[serde(default)]
    pub local_jwks: Option<DataSource>,
    /// Keep the token in the request sent upstream.
    #[serde(default)]
    pub forward: bool,
    /// Headers carrying the token, with an optional value prefix such as `Bearer `.
    #[serde(default)]
    pub from_headers: Vec<JwtHeader>,
    /// Query parameters carrying the token.
    #[serde(default)]
    pub from_params: Vec<String>,
    /// Cookies carrying the token.
    #[serde(default)]
    pub from_cookies: Vec<String>,
    /// Header receiving the base64url payload of a verified token.
    #[serde(default)]
    pub forward_payload_header: Option<String>,
    /// Pad that payload with `=` to a multiple of 4.
    #[serde(default)]
    pub pad_forward_payload_header: bool,
    /// Default 60 s.
    #[serde(default)]
    pub clock_skew_seconds: Option<u32>,
    /// Verified-token cache size.
    #[serde(default)]
    pub jwt_cache_config: Option<JwtCacheConfig>,
    /// Copy claims into request headers (nested claims as `a.b`).
    #[serde(default)]
    pub claim_to_headers: Vec<ClaimToHeader>,
    /// Not supported in Wasm (dynamic metadata); rejected at load.
    #[serde(default)]
    pub payload_in_metadata: Option<String>,
    /// Not supported in Wasm; rejected at load.
    #[serde(default)]
    pub header_in_metadata: Option<String>,
    /// Not supported in Wasm; rejected at load.
    #[serde(default)]
    pub failed_status_in_metadata: Option<String>,
}

/// Envoy `JwtCacheConfig`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JwtCacheConfig {
    /// Entries per worker (default 100, as Envoy).
    #[serde(default)]
    pub jwt_cache_size: Option<u32>,
    /// Tokens longer than this are not cached (default 4096, as Envoy).
    #[serde(default)]
    pub jwt_max_token_size: Option<u32>,
}

/// Envoy `JwtHeader`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JwtHeader {
    /// Header name.
    pub name: String,
    /// Prefix before the token, e.g. `Bearer `.
    #[serde(default)]
    pub value_prefix: Option<String>,
}

/// Envoy `JwtClaimToHeader`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClaimToHeader {
    /// Request header to set.
    pub header_name: String,
    /// Claim name; `a.b` reads a nested claim.
    pub claim_name: String,
}

/// Envoy `config.core.v3.DataSource`; only the inline forms work in Wasm.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DataSource {
    /// JWKS JSON text.
    #[serde(default)]
    pub inline_string: Option<String>,
    /// JWKS JSON, base64 (proto3 JSON form of bytes).
    #[serde(default)]
    pub inline_bytes: Option<String>,
    /// Rejected: a Wasm filter cannot read files.
    #[serde(default)]
    pub filename: Option<String>,
    /// Rejected: a Wasm filter cannot read the environment.
    #[serde(default)]
    pub environment_variable: Option<String>,
}

/// Envoy `RemoteJwks`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RemoteJwks {
    /// Where the JWKS lives.
    pub http_uri: HttpUri,
    /// How long fetched keys are used before a refresh (default 600 s).
    #[serde(default)]
    pub cache_duration: Option<ProtoDuration>,
    /// Fetch at startup instead of on the first request.
    #[serde(default)]
    pub async_fetch: Option<AsyncFetch>,
    /// Retry/backoff for failed fetches.
    #[serde(default)]
    pub retry_policy: Option<RetryPolicy>,
}

/// Envoy `config.core.v3.HttpUri`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpUri {
    /// Full URL; its authority and path are used for the call.
    pub uri: String,
    /// Upstream cluster name.
    pub cluster: String,
    /// Call timeout.
    pub timeout: ProtoDuration,
}

/// Envoy `JwksAsyncFetch`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AsyncFetch {
    /// Accepted for compatibility (listeners start at once in Wasm anyway).
    #[serde(default)]
    pub fast_listener: bool,
    /// Wait before refetching after a failure (default 1 s).
    #[serde(default)]
    pub failed_refetch_duration: Option<ProtoDuration>,
}

/// Envoy `config.core.v3.RetryPolicy` (the parts that apply to a JWKS fetch).
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RetryPolicy {
    /// Backoff between retries.
    #[serde(default)]
    pub retry_back_off: Option<BackoffStrategy>,
    /// Accepted; retries continue with backoff while no keys are good.
    #[serde(default)]
    pub num_retries: Option<u32>,
    /// Accepted for compatibility.
    #[serde(default)]
    pub retry_on: Option<String>,
}

/// Envoy `config.core.v3.BackoffStrategy`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BackoffStrategy {
    /// First wait.
    pub base_interval: ProtoDuration,
    /// Longest wait (default 10 × base).
    #[serde(default)]
    pub max_interval: Option<ProtoDuration>,
}

/// Envoy `type.matcher.v3.StringMatcher`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StringMatcher {
    /// Equal.
    #[serde(default)]
    pub exact: Option<String>,
    /// Starts with.
    #[serde(default)]
    pub prefix: Option<String>,
    /// Ends with.
    #[serde(default)]
    pub suffix: Option<String>,
    /// Contains.
    #[serde(default)]
    pub contains: Option<String>,
    /// Whole-string regex.
    #[serde(default)]
    pub safe_regex: Option<RegexMatcher>,
    /// Compare ASCII case-insensitively (not for `safe_regex`).
    #[serde(default)]
    pub ignore_case: bool,
}

/// Envoy `type.matcher.v3.RegexMatcher`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RegexMatcher {
    /// The expression (regex-lite syntax, close to RE2 for common patterns).
    pub regex: String,
    /// Accepted for compatibility (deprecated in Envoy).
    #[serde(default)]
    pub google_re2: Option<serde_json::Value>,
}

/// Envoy `RequirementRule`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RequirementRule {
    /// Envoy `config.route.v3.RouteMatch` (prefix | path | safe_regex, headers).
    #[serde(rename = "match")]
    pub route: JwtRouteMatch,
    /// The requirement; absent (and no `requirement_name`) means no JWT check.
    #[serde(default)]
    pub requires: Option<Requirement>,
    /// A key of `requirement_map`.
    #[serde(default)]
    pub requirement_name: Option<String>,
}

/// Envoy `RouteMatch`, the subset jwt_authn rules use.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JwtRouteMatch {
    /// Path prefix.
    #[serde(default)]
    pub prefix: Option<String>,
    /// Exact path.
    #[serde(default)]
    pub path: Option<String>,
    /// Whole-path regex.
    #[serde(default)]
    pub safe_regex: Option<RegexMatcher>,
    /// Default true.
    #[serde(default)]
    pub case_sensitive: Option<bool>,
    /// All must match.
    #[serde(default)]
    pub headers: Vec<HeaderMatcher>,
}

/// Envoy `config.route.v3.HeaderMatcher` (common forms).
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HeaderMatcher {
    /// Header name.
    pub name: String,
    /// Deprecated Envoy form of `string_match.exact`.
    #[serde(default)]
    pub exact_match: Option<String>,
    /// Deprecated Envoy form of `string_match.prefix`.
    #[serde(default)]
    pub prefix_match: Option<String>,
    /// Deprecated Envoy form of `string_match.suffix`.
    #[serde(default)]
    pub suffix_match: Option<String>,
    /// Present (true) or absent (false).
    #[serde(default)]
    pub present_match: Option<bool>,
    /// Value matcher.
    #[serde(default)]
    pub string_match: Option<StringMatcher>,
    /// Negate.
    #[serde(default)]
    pub invert_match: bool,
}

/// Envoy `JwtRequirement`; at the top of an edgeguard rule also `{"requirement_name": ...}`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Requirement {
    /// One provider's token is required.
    #[serde(default)]
    pub provider_name: Option<String>,
    /// One provider's token, with audiences overriding the provider's.
    #[serde(default)]
    pub provider_and_audiences: Option<ProviderWithAudiences>,
    /// Any one of these.
    #[serde(default)]
    pub requires_any: Option<RequirementList>,
    /// All of these.
    #[serde(default)]
    pub requires_all: Option<RequirementList>,
    /// A missing token passes; a bad one fails.
    #[serde(default)]
    pub allow_missing: Option<Empty>,
    /// Missing or bad tokens pass (good ones are still verified and forwarded).
    #[serde(default)]
    pub allow_missing_or_failed: Option<Empty>,
    /// edgeguard rules only: a key of `jwt_authn.requirement_map`.
    #[serde(default)]
    pub requirement_name: Option<String>,
    /// edgeguard: a verified service credential (message signature or service token, from the
    /// `service_auth` section) satisfies this requirement. Takes a rule `service_auth`'s
    /// settings (`kinds`, `allowed_services`, `target_service`, `policy`), except `required`.
    #[serde(default)]
    pub service_auth: Option<RuleServiceAuth>,
    /// edgeguard: a valid API key (from the `api_keys` section) satisfies this requirement.
    #[serde(default)]
    pub api_key: Option<Empty>,
}

impl Requirement {
    /// Whether this requirement (or one nested in it) names JWT providers.
    pub fn names_jwt(&self) -> bool {
        self.provider_name.is_some()
            || self.provider_and_audiences.is_some()
            || self.allow_missing.is_some()
            || self.allow_missing_or_failed.is_some()
            || self.requirement_name.is_some()
            || [&self.requires_any, &self.requires_all]
                .into_iter()
                .flatten()
                .any(|l| l.requirements.iter().any(Requirement::names_jwt))
    }
}

/// Envoy `ProviderWithAudiences`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProviderWithAudiences {
    /// Provider.
    pub provider_name: String,
    /// Allowed audiences.
    #[serde(default)]
    pub audiences: Vec<String>,
}

/// Envoy `JwtRequirementOrList` / `JwtRequirementAndList`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RequirementList {
    /// At least two in Envoy; at least one here.
    pub requirements: Vec<Requirement>,
}

/// `google.protobuf.Empty`: `{}`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Empty {}

/// Claims a verified token must carry: claim name (`a.b` for nested) → a value, or a list
/// of allowed values. A claim that is an array passes when any element is allowed.
/// Example: `{"type": "access", "role": ["admin", "developer"]}`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct RequireClaims(pub BTreeMap<String, ClaimCondition>);

/// One allowed value or a list of them.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum ClaimCondition {
    /// Any of these.
    OneOf(Vec<serde_json::Value>),
    /// Exactly this.
    Equals(serde_json::Value),
}

/// Permissions a verified credential must grant, all of them.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RequirePermissions {
    /// Every one must be granted.
    pub all: Vec<String>,
    /// Claim holding permissions (array, or space-delimited string); by default both
    /// `permissions` (array) and `scope` (space-delimited) are read.
    #[serde(default)]
    pub claim: Option<String>,
}

/// A proto3 JSON duration (`"600s"`, `"1.5s"`), kept in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProtoDuration {
    /// Milliseconds.
    pub millis: u64,
}

impl ProtoDuration {
    /// Parse `"<seconds>[.<fraction>]s"`.
    pub fn parse(s: &str) -> Result<ProtoDuration, String> {
        let bad =
            || format!("invalid duration {s:?}: expected a string such as \"600s\" or \"1.5s\"");
        let body = s.strip_suffix('s').ok_or_else(bad)?;
        let (whole, frac) = body.split_once('.').unwrap_or((body, ""));
        if whole.is_empty()
            || !whole.bytes().all(|b| b.is_ascii_digit())
            || !frac.bytes().all(|b| b.is_ascii_digit())
            || frac.len() > 9
            || (body.contains('.') && frac.is_empty())
        {
            return Err(bad());
        }
        let secs: u64 = whole.parse().map_err(|_| bad())?;
        let mut ms_digits = frac.chars().take(3).collect::<String>();
        while ms_digits.len() < 3 {
            ms_digits.push('0');
        }
        let ms: u64 = ms_digits.parse().map_err(|_| bad())?;
        let millis = secs
            .checked_mul(1000)
            .and_then(|v| v.checked_add(ms))
            .ok_or_else(bad)?;
        Ok(ProtoDuration { millis })
    }

    /// Whole seconds (rounded down).
    pub fn secs(&self) -> u64 {
        self.millis / 1000
    }
}

impl<'de> Deserialize<'de> for ProtoDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        ProtoDuration::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for ProtoDuration {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ProtoDuration".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^[0-9]+(\\.[0-9]{1,9})?s$",
            "description": "proto3 JSON duration such as \"600s\" or \"1.5s\""
        })
    }
}

impl StringMatcher {
    /// Check exactly one kind is set and the regex compiles.
    pub fn validate(&self, path: &str) -> Result<(), ConfigError> {
        let n = [
            self.exact.is_some(),
            self.prefix.is_some(),
            self.suffix.is_some(),
            self.contains.is_some(),
            self.safe_regex.is_some(),
        ]
        .iter()
        .filter(|b| **b)
        .count();
        if n != 1 {
            return Err(ConfigError::new(
                path,
                "exactly one of exact, prefix, suffix, contains or safe_regex is required",
            ));
        }
        if let Some(r) = &self.safe_regex {
            regex_lite::Regex::new(&r.regex).map_err(|e| {
                ConfigError::new(
                    format!("{path}.safe_regex.regex"),
                    format!("invalid regex: {e}"),
                )
            })?;
        }
        Ok(())
    }
}

impl JwtAuthnConfig {
    /// Validate the section at `path` (`jwt_authn`).
    pub fn validate(&self, path: &str) -> Result<(), ConfigError> {
        for (name, p) in &self.providers {
            p.validate(&format!("{path}.providers.{name}"))?;
        }
        for (i, rule) in self.rules.iter().enumerate() {
            let rp = format!("{path}.rules[{i}]");
            rule.route.validate(&format!("{rp}.match"))?;
            if rule.requires.is_some() && rule.requirement_name.is_some() {
                return Err(ConfigError::new(
                    rp,
                    "set only one of requires or requirement_name",
                ));
            }
            if let Some(r) = &rule.requires {
                self.validate_requirement(r, &format!("{rp}.requires"), false)?;
            }
            if let Some(n) = &rule.requirement_name {
                if !self.requirement_map.contains_key(n) {
                    return Err(ConfigError::new(
                        format!("{rp}.requirement_name"),
                        format!("unknown requirement {n:?}: not in requirement_map"),
                    ));
                }
            }
        }
        for (name, r) in &self.requirement_map {
            self.validate_requirement(r, &format!("{path}.requirement_map.{name}"), false)?;
        }
        Ok(())
    }

    /// Validate a requirement tree at `path`; `top_level_rule` allows `requirement_name`.
    pub fn validate_requirement(
        &self,
        r: &Requirement,
        path: &str,
        top_level_rule: bool,
    ) -> Result<(), ConfigError> {
        let n = [
            r.provider_name.is_some(),
            r.provider_and_audiences.is_some(),
            r.requires_any.is_some(),
            r.requires_all.is_some(),
            r.allow_missing.is_some(),
            r.allow_missing_or_failed.is_some(),
            r.requirement_name.is_some(),
            r.service_auth.is_some(),
            r.api_key.is_some(),
        ]
        .iter()
        .filter(|b| **b)
        .count();
        if n != 1 {
            return Err(ConfigError::new(
                path,
                "exactly one of provider_name, provider_and_audiences, requires_any, \
                 requires_all, allow_missing, allow_missing_or_failed, service_auth, api_key \
                 is required",
            ));
        }
        if r.service_auth
            .as_ref()
            .is_some_and(|s| s.required.is_some())
        {
            return Err(ConfigError::new(
                format!("{path}.service_auth.required"),
                "not allowed in a requirement: a requirement's credential is always required \
                 (combine it in requires_any to accept other credentials instead)",
            ));
        }
        if let Some(p) = &r.provider_name {
            self.check_provider(p, &format!("{path}.provider_name"))?;
        }
        if let Some(pa) = &r.provider_and_audiences {
            self.check_provider(
                &pa.provider_name,
                &format!("{path}.provider_and_audiences.provider_name"),
            )?;
        }
        for (key, list) in [
            ("requires_any", &r.requires_any),
            ("requires_all", &r.requires_all),
        ] {
            if let Some(list) = list {
                if list.requirements.is_empty() {
                    return Err(ConfigError::new(
                        format!("{path}.{key}.requirements"),
                        "must not be empty",
                    ));
                }
                for (i, sub) in list.requirements.iter().enumerate() {
                    self.validate_requirement(
                        sub,
                        &format!("{path}.{key}.requirements[{i}]"),
                        false,
                    )?;
                }
            }
        }
        if let Some(name) = &r.requirement_name {
            if !top_level_rule {
                return Err(ConfigError::new(
                    format!("{path}.requirement_name"),
                    "only allowed directly in an edgeguard rule's requires",
                ));
            }
            if !self.requirement_map.contains_key(name) {
                return Err(ConfigError::new(
                    format!("{path}.requirement_name"),
                    format!("unknown requirement {name:?}: not in jwt_authn.requirement_map"),
                ));
            }
        }
        Ok(())
    }

    fn check_provider(&self, name: &str, path: &str) -> Result<(), ConfigError> {
        if self.providers.contains_key(name) {
            Ok(())
        } else {
            Err(ConfigError::new(
                path,
                format!("unknown provider {name:?}: not in jwt_authn.providers"),
            ))
        }
    }
}

impl JwtRouteMatch {
    /// Exactly one of prefix, path, safe_regex; regexes compile.
    pub fn validate(&self, path: &str) -> Result<(), ConfigError> {
        let n = [
            self.prefix.is_some(),
            self.path.is_some(),
            self.safe_regex.is_some(),
        ]
        .iter()
        .filter(|b| **b)
        .count();
        if n != 1 {
            return Err(ConfigError::new(
                path,
                "exactly one of prefix, path or safe_regex is required",
            ));
        }
        if let Some(r) = &self.safe_regex {
            regex_lite::Regex::new(&r.regex).map_err(|e| {
                ConfigError::new(
                    format!("{path}.safe_regex.regex"),
                    format!("invalid regex: {e}"),
                )
            })?;
        }
        for (i, h) in self.headers.iter().enumerate() {
            let hp = format!("{path}.headers[{i}]");
            if h.name.is_empty() {
                return Err(ConfigError::new(format!("{hp}.name"), "must not be empty"));
            }
            if let Some(sm) = &h.string_match {
                sm.validate(&format!("{hp}.string_match"))?;
            }
        }
        Ok(())
    }
}

impl JwtProvider {
    /// Check what cannot work in Wasm and the key sources.
    pub fn validate(&self, path: &str) -> Result<(), ConfigError> {
        for (field, v) in [
            ("payload_in_metadata", &self.payload_in_metadata),
            ("header_in_metadata", &self.header_in_metadata),
            ("failed_status_in_metadata", &self.failed_status_in_metadata),
        ] {
            if v.is_some() {
                return Err(ConfigError::new(
                    format!("{path}.{field}"),
                    "not supported in Wasm (dynamic metadata); use claim_to_headers or forward_payload_header",
                ));
            }
        }
        match (&self.local_jwks, &self.remote_jwks) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::new(
                    path,
                    "set only one of local_jwks or remote_jwks",
                ))
            }
            (None, None) => {
                return Err(ConfigError::new(
                    path,
                    "one of local_jwks or remote_jwks is required",
                ))
            }
            (Some(ds), None) => {
                let lp = format!("{path}.local_jwks");
                if ds.filename.is_some() {
                    return Err(ConfigError::new(
                        format!("{lp}.filename"),
                        "not supported in Wasm: a Wasm filter cannot read files; use inline_string or remote_jwks",
                    ));
                }
                if ds.environment_variable.is_some() {
                    return Err(ConfigError::new(
                        format!("{lp}.environment_variable"),
                        "not supported in Wasm; use inline_string or remote_jwks",
                    ));
                }
                let text =
                    crate::jwt::jwks::local_jwks_text(ds).map_err(|e| ConfigError::new(&lp, e))?;
                crate::jwt::jwks::Jwks::parse(&text)
                    .map_err(|e| ConfigError::new(format!("{lp}.inline_string"), e.message()))?;
            }
            (None, Some(r)) => {
                let rp = format!("{path}.remote_jwks.http_uri");
                if crate::jwt::remote::split_uri(&r.http_uri.uri).is_none() {
                    return Err(ConfigError::new(
                        format!("{rp}.uri"),
                        "must be an absolute http(s) URL such as https://idp.example.com/jwks.json",
                    ));
                }
                if r.http_uri.cluster.is_empty() {
                    return Err(ConfigError::new(
                        format!("{rp}.cluster"),
                        "must not be empty",
                    ));
                }
                if r.http_uri.timeout.millis == 0 {
                    return Err(ConfigError::new(
                        format!("{rp}.timeout"),
                        "must be positive",
                    ));
                }
            }
        }
        for (i, h) in self.from_headers.iter().enumerate() {
            if h.name.is_empty() {
                return Err(ConfigError::new(
                    format!("{path}.from_headers[{i}].name"),
                    "must not be empty",
                ));
            }
        }
        for (i, c) in self.claim_to_headers.iter().enumerate() {
            if c.header_name.is_empty() || c.header_name.starts_with(':') {
                return Err(ConfigError::new(
                    format!("{path}.claim_to_headers[{i}].header_name"),
                    "must be a regular header name",
                ));
            }
            if c.claim_name.is_empty() {
                return Err(ConfigError::new(
                    format!("{path}.claim_to_headers[{i}].claim_name"),
                    "must not be empty",
                ));
            }
        }
        if let Some(s) = &self.subjects {
            s.validate(&format!("{path}.subjects"))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_proto3_json_form() {
        assert_eq!(ProtoDuration::parse("600s").unwrap().millis, 600_000);
        assert_eq!(ProtoDuration::parse("1.5s").unwrap().millis, 1500);
        assert_eq!(ProtoDuration::parse("0.000000001s").unwrap().millis, 0);
        for bad in ["600", "1.s", "-1s", "1.5ms", "s", "1.0000000001s", ""] {
            assert!(ProtoDuration::parse(bad).is_err(), "{bad}");
        }
    }
}
