//! The `match` of a rule: which requests a rule applies to.

use super::ConfigError;
use schemars::JsonSchema;
use serde::Deserialize;

/// Route match. Exactly one of `prefix`, `path` or `regex`; the others narrow it further.
/// Paths are matched against the normalized path (see `request::normalize_path`), without query.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RouteMatch {
    /// Path prefix, e.g. `/api/`. Segment-unaware, as Envoy's `prefix`.
    #[serde(default)]
    pub prefix: Option<String>,
    /// Exact path.
    #[serde(default)]
    pub path: Option<String>,
    /// Regular expression (regex-lite syntax) that must match the whole path.
    #[serde(default)]
    pub regex: Option<String>,
    /// Allowed methods (uppercase); empty = any.
    #[serde(default)]
    pub methods: Vec<String>,
    /// Hosts (`:authority` without port): exact, or `*.example.com` for any subdomain; empty = any.
    #[serde(default)]
    pub hosts: Vec<String>,
    /// Header conditions; all must hold.
    #[serde(default)]
    pub headers: Vec<HeaderMatch>,
}

/// A header condition: present (no `exact`), or equal to `exact`. `invert` negates it.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HeaderMatch {
    /// Header name (case-insensitive).
    pub name: String,
    /// Required value; when absent, the header only has to be present.
    #[serde(default)]
    pub exact: Option<String>,
    /// Negate the condition.
    #[serde(default)]
    pub invert: bool,
}

impl RouteMatch {
    /// Check the match at `path` (e.g. `rules[2].match`).
    pub fn validate(&self, path: &str) -> Result<(), ConfigError> {
        let kinds = [
            self.prefix.is_some(),
            self.path.is_some(),
            self.regex.is_some(),
        ]
        .iter()
        .filter(|b| **b)
        .count();
        if kinds != 1 {
            return Err(ConfigError::new(
                path,
                "exactly one of prefix, path or regex is required",
            ));
        }
        if let Some(p) = &self.prefix {
            if !p.starts_with('/') {
                return Err(ConfigError::new(
                    format!("{path}.prefix"),
                    "must start with \"/\"",
                ));
            }
        }
        if let Some(p) = &self.path {
            if !p.starts_with('/') {
                return Err(ConfigError::new(
                    format!("{path}.path"),
                    "must start with \"/\"",
                ));
            }
        }
        if let Some(r) = &self.regex {
            regex_lite::Regex::new(r).map_err(|e| {
                ConfigError::new(format!("{path}.regex"), format!("invalid regex: {e}"))
            })?;
        }
        for (i, m) in self.methods.iter().enumerate() {
            if m.is_empty() || !m.bytes().all(|b| b.is_ascii_uppercase()) {
                return Err(ConfigError::new(
                    format!("{path}.methods[{i}]"),
                    "must be an uppercase method token such as GET",
                ));
            }
        }
        for (i, h) in self.hosts.iter().enumerate() {
            let bare = h.strip_prefix("*.").unwrap_or(h);
            if bare.is_empty() || bare.contains('*') || bare.contains('/') {
                return Err(ConfigError::new(
                    format!("{path}.hosts[{i}]"),
                    "must be a host name or *.domain",
                ));
            }
        }
        for (i, h) in self.headers.iter().enumerate() {
            if h.name.is_empty() {
                return Err(ConfigError::new(
                    format!("{path}.headers[{i}].name"),
                    "must not be empty",
                ));
            }
        }
        Ok(())
    }
}
