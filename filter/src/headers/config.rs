//! The `headers` section and per-rule header overrides (`rules[N].headers`).
//!
//! Every field is optional: an empty `"headers": {}` section gives the defaults documented in
//! [`crate::headers`] (the security headers, fingerprint stripping and cookie hardening are
//! on; host allowlist, HTTPS redirect, trusted proxies and CORS are off until configured).

use crate::config::ConfigError;
use schemars::JsonSchema;
use serde::Deserialize;

/// Security headers, hosts, HTTPS, CORS, trusted proxies.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HeadersConfig {
    /// The security response headers; each entry overrides the built-in default.
    #[serde(default)]
    pub security: SecurityHeadersConfig,
    /// Response headers removed because they fingerprint the stack. `null`/absent = the default
    /// list (`server`, `x-powered-by`, `x-aspnet-version`, `x-aspnetmvc-version`,
    /// `x-envoy-upstream-service-time`); `[]` removes nothing.
    #[serde(default)]
    pub strip_response_headers: Option<Vec<String>>,
    /// `Set-Cookie` hardening.
    #[serde(default)]
    pub cookies: CookiesConfig,
    /// Allowed `:authority` values: `api.example.com`, `*.example.com` (any subdomain), with an
    /// optional `:port` (then only that port). Empty = any host.
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
    /// Redirect plain-HTTP requests to HTTPS (301 for GET/HEAD, 308 otherwise).
    #[serde(default)]
    pub https_redirect: bool,
    /// Port to put in the redirect's `Location` (omitted when absent or 443).
    #[serde(default)]
    pub https_port: Option<u16>,
    /// Proxies (CIDRs or single IPs) whose `X-Forwarded-For` / `X-Forwarded-Proto` are believed.
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
    /// Number of proxies in front of this one that each append to `X-Forwarded-For`; the client
    /// is the N-th address from the right. 0 = use `trusted_proxies` (or the peer address).
    #[serde(default)]
    pub xff_trusted_hops: u32,
    /// CORS answered at the edge; absent = CORS is left to the upstream.
    #[serde(default)]
    pub cors: Option<CorsConfig>,
}

/// What to do with one response header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum HeaderAction {
    /// Always send our value, replacing the upstream's.
    Set,
    /// Keep the upstream's value when it sent one; otherwise send ours.
    IfAbsent,
    /// Remove the header from every response.
    Remove,
}

/// One security header: action and value, each falling back to the default when absent.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HeaderRule {
    /// `set` (default), `if_absent` or `remove`.
    #[serde(default)]
    pub action: Option<HeaderAction>,
    /// The header value.
    #[serde(default)]
    pub value: Option<String>,
}

/// An extra response header that has no built-in default.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NamedHeaderRule {
    /// Header name.
    pub name: String,
    /// `set` (default), `if_absent` or `remove`.
    #[serde(default)]
    pub action: Option<HeaderAction>,
    /// Value (required unless `action` is `remove`).
    #[serde(default)]
    pub value: Option<String>,
}

/// `Strict-Transport-Security` (sent on HTTPS responses only).
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HstsConfig {
    /// `set` (default), `if_absent` or `remove`.
    #[serde(default)]
    pub action: Option<HeaderAction>,
    /// `max-age` in seconds (default 31536000).
    #[serde(default)]
    pub max_age: Option<u64>,
    /// `includeSubDomains` (default true).
    #[serde(default)]
    pub include_subdomains: Option<bool>,
    /// `preload` (default false); requires max_age ≥ 31536000 and include_subdomains.
    #[serde(default)]
    pub preload: Option<bool>,
}

/// `Content-Security-Policy` (or its `-Report-Only` variant).
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CspConfig {
    /// `set` (default), `if_absent` or `remove`.
    #[serde(default)]
    pub action: Option<HeaderAction>,
    /// The policy (default in [`crate::headers::security::DEFAULT_CSP`]).
    #[serde(default)]
    pub value: Option<String>,
    /// Send `Content-Security-Policy-Report-Only` instead (browsers report, never block).
    #[serde(default)]
    pub report_only: Option<bool>,
}

/// The security headers; each field overrides the built-in default.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SecurityHeadersConfig {
    /// `Strict-Transport-Security`.
    #[serde(default)]
    pub strict_transport_security: Option<HstsConfig>,
    /// `Content-Security-Policy`.
    #[serde(default)]
    pub content_security_policy: Option<CspConfig>,
    /// `X-Content-Type-Options` (default `nosniff`).
    #[serde(default)]
    pub x_content_type_options: Option<HeaderRule>,
    /// `X-Frame-Options` (default `DENY`).
    #[serde(default)]
    pub x_frame_options: Option<HeaderRule>,
    /// `Referrer-Policy` (default `strict-origin-when-cross-origin`).
    #[serde(default)]
    pub referrer_policy: Option<HeaderRule>,
    /// `Permissions-Policy` (default: powerful features disabled).
    #[serde(default)]
    pub permissions_policy: Option<HeaderRule>,
    /// `Cross-Origin-Opener-Policy` (default `same-origin`).
    #[serde(default)]
    pub cross_origin_opener_policy: Option<HeaderRule>,
    /// `Cross-Origin-Resource-Policy` (default `same-origin`).
    #[serde(default)]
    pub cross_origin_resource_policy: Option<HeaderRule>,
    /// `X-XSS-Protection` (default `0`: the legacy auditor is itself an attack surface).
    #[serde(default)]
    pub x_xss_protection: Option<HeaderRule>,
    /// Further headers (e.g. `Cross-Origin-Embedder-Policy`).
    #[serde(default)]
    pub extra: Vec<NamedHeaderRule>,
}

/// `SameSite` attribute to add.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SameSiteSetting {
    /// `SameSite=Strict`.
    Strict,
    /// `SameSite=Lax`.
    Lax,
    /// `SameSite=None` (browsers require `Secure` with it).
    None,
    /// Add no `SameSite` attribute.
    Off,
}

/// `Set-Cookie` hardening: attributes added when the cookie lacks them.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CookiesConfig {
    /// Add `Secure` (default true).
    #[serde(default)]
    pub secure: Option<bool>,
    /// Add `HttpOnly` (default true).
    #[serde(default)]
    pub http_only: Option<bool>,
    /// Add `SameSite` (default `lax`).
    #[serde(default)]
    pub same_site: Option<SameSiteSetting>,
    /// Per-cookie-name overrides; the first whose `name` pattern fits applies.
    #[serde(default)]
    pub rules: Vec<CookieRule>,
}

/// Overrides for cookies whose name fits a pattern.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CookieRule {
    /// Cookie name pattern: exact, or with `*` wildcards (`csrf_*`, `*`). Case-sensitive.
    pub name: String,
    /// Add `Secure`.
    #[serde(default)]
    pub secure: Option<bool>,
    /// Add `HttpOnly`.
    #[serde(default)]
    pub http_only: Option<bool>,
    /// Add `SameSite`.
    #[serde(default)]
    pub same_site: Option<SameSiteSetting>,
}

/// CORS answered at the edge.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CorsConfig {
    /// Allowed origins: `https://app.example.com`, `https://*.example.com`, or `*` (any,
    /// never with credentials).
    pub allowed_origins: Vec<String>,
    /// Allowed methods (default GET, HEAD, POST).
    #[serde(default)]
    pub allowed_methods: Vec<String>,
    /// Allowed request headers (case-insensitive; CORS-safelisted ones are always allowed).
    #[serde(default)]
    pub allowed_headers: Vec<String>,
    /// Response headers scripts may read (`Access-Control-Expose-Headers`).
    #[serde(default)]
    pub exposed_headers: Vec<String>,
    /// Send `Access-Control-Allow-Credentials: true`.
    #[serde(default)]
    pub allow_credentials: bool,
    /// Preflight cache lifetime in seconds (default 600).
    #[serde(default)]
    pub max_age: Option<u64>,
}

/// Per-rule overrides of the `headers` section.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleHeaders {
    /// Security-header overrides, merged field by field over the section's.
    #[serde(default)]
    pub security: Option<SecurityHeadersConfig>,
    /// CORS for this rule, replacing the section's.
    #[serde(default)]
    pub cors: Option<CorsConfig>,
    /// Turn the section's CORS off for this rule.
    #[serde(default)]
    pub cors_disabled: bool,
}

impl HeadersConfig {
    /// Validate at `path` (compiling is the validation: the same code runs at load).
    pub fn validate(&self, path: &str) -> Result<(), ConfigError> {
        crate::headers::security::HeaderSet::compile(
            &self.security,
            None,
            &format!("{path}.security"),
        )?;
        if let Some(list) = &self.strip_response_headers {
            for (i, h) in list.iter().enumerate() {
                check_header_name(h, &format!("{path}.strip_response_headers[{i}]"))?;
            }
        }
        crate::headers::cookies::CookiePolicy::compile(&self.cookies, &format!("{path}.cookies"))?;
        crate::headers::hosts::HostAllowlist::compile(
            &self.allowed_hosts,
            &format!("{path}.allowed_hosts"),
        )?;
        crate::headers::proxies::TrustedProxies::compile(self, path)?;
        if self.https_port == Some(0) {
            return Err(ConfigError::new(
                format!("{path}.https_port"),
                "must be between 1 and 65535",
            ));
        }
        if let Some(c) = &self.cors {
            crate::headers::cors::Cors::compile(c, &format!("{path}.cors"))?;
        }
        Ok(())
    }
}

impl RuleHeaders {
    /// Validate a rule's overrides at `path` against the section they override.
    pub fn validate(&self, section: &SecurityHeadersConfig, path: &str) -> Result<(), ConfigError> {
        if let Some(s) = &self.security {
            crate::headers::security::HeaderSet::compile(
                section,
                Some(s),
                &format!("{path}.security"),
            )?;
        }
        if let Some(c) = &self.cors {
            if self.cors_disabled {
                return Err(ConfigError::new(
                    format!("{path}.cors_disabled"),
                    "cannot be true together with cors",
                ));
            }
            crate::headers::cors::Cors::compile(c, &format!("{path}.cors"))?;
        }
        Ok(())
    }
}

/// Validate a rule's `headers` against the section (a rule cannot override a missing section).
pub fn validate_rule_headers(
    section: Option<&HeadersConfig>,
    rule: Option<&RuleHeaders>,
    path: &str,
) -> Result<(), ConfigError> {
    match (section, rule) {
        (_, None) => Ok(()),
        (None, Some(_)) => Err(ConfigError::new(
            path,
            "needs a headers section to override",
        )),
        (Some(s), Some(r)) => r.validate(&s.security, path),
    }
}

/// A header name must be a non-empty HTTP token.
pub(crate) fn check_header_name(name: &str, path: &str) -> Result<(), ConfigError> {
    let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if name.is_empty() || !name.bytes().all(token) {
        return Err(ConfigError::new(path, "must be an HTTP header name"));
    }
    Ok(())
}

/// A header value must be visible ASCII or spaces/tabs (no CR, LF or NUL).
pub(crate) fn check_header_value(value: &str, path: &str) -> Result<(), ConfigError> {
    if !value
        .bytes()
        .all(|b| b == b'\t' || (0x20..0x7f).contains(&b))
    {
        return Err(ConfigError::new(
            path,
            "must be printable ASCII (no control characters)",
        ));
    }
    Ok(())
}
