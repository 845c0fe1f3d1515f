//! CSRF defence for cookie-authenticated requests: a state-changing request (POST, PUT, PATCH,
//! DELETE) must come from an allowed origin, judged by `Sec-Fetch-Site`, then `Origin`, then
//! the origin of `Referer`. Requests carrying a bearer token or an API key are exempt: a browser
//! cannot attach those to a cross-site request without a CORS preflight.

use crate::config::ConfigError;
use crate::request::RequestView;
use schemars::JsonSchema;
use serde::Deserialize;

/// Per-rule CSRF settings.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleCsrf {
    /// Origins allowed to send state-changing requests, as `scheme://host[:port]`
    /// (e.g. `https://app.example.com`).
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// The request's own origin (`:scheme` + `:authority`) counts as allowed (default true).
    #[serde(default = "default_true")]
    pub allow_same_origin: bool,
    /// Reject state-changing requests that carry neither `Origin` nor `Referer` (default false:
    /// let them through, as non-browser clients send neither).
    #[serde(default)]
    pub strict: bool,
}

fn default_true() -> bool {
    true
}

impl RuleCsrf {
    /// Validate at `path` (`rules[N].csrf`).
    pub fn validate(&self, path: &str) -> Result<(), ConfigError> {
        for (i, o) in self.allowed_origins.iter().enumerate() {
            if !is_bare_origin(o) || normalize_origin(o).is_none() {
                return Err(ConfigError::new(
                    format!("{path}.allowed_origins[{i}]"),
                    format!(
                        "{o:?} is not an origin: expected scheme://host[:port] (http or https, no path)"
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// Why a request failed the CSRF check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CsrfRejection {
    /// `Sec-Fetch-Site: cross-site` and the origin is not allowed.
    CrossSite,
    /// `Origin` (or the `Referer`'s origin) is not an allowed origin (or is `null`/malformed).
    OriginNotAllowed,
    /// Neither `Origin` nor `Referer`, and the rule is `strict`.
    OriginMissing,
}

impl CsrfRejection {
    /// Machine reason for logs and metrics.
    pub fn reason(self) -> &'static str {
        match self {
            CsrfRejection::CrossSite => "csrf_cross_site",
            CsrfRejection::OriginNotAllowed => "csrf_origin_not_allowed",
            CsrfRejection::OriginMissing => "csrf_origin_missing",
        }
    }

    /// The message in the 403 body.
    pub fn message(self) -> &'static str {
        match self {
            CsrfRejection::CrossSite => {
                "cross-site request rejected: state-changing requests must come from an allowed origin"
            }
            CsrfRejection::OriginNotAllowed => {
                "request origin is not allowed to make state-changing requests"
            }
            CsrfRejection::OriginMissing => {
                "state-changing request without Origin or Referer header rejected"
            }
        }
    }
}

/// What the CSRF check concluded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CsrfVerdict {
    /// Not a state-changing method: not checked.
    NotApplicable,
    /// Carries a bearer token or API key: not subject to the check.
    Exempt,
    /// Checked and allowed.
    Allowed,
    /// Refused; `origin` is the normalized origin seen (for logs), if any.
    Rejected {
        /// Why.
        rejection: CsrfRejection,
        /// The origin the request came from, as far as known.
        origin: Option<String>,
    },
}

/// A compiled per-rule CSRF check.
#[derive(Debug, Clone)]
pub struct Csrf {
    allowed: Vec<String>,
    allow_same_origin: bool,
    strict: bool,
}

/// Methods that change state and so are checked (any case: `fetch` sends `patch` as written).
pub fn is_state_changing(method: &str) -> bool {
    ["POST", "PUT", "PATCH", "DELETE"]
        .iter()
        .any(|m| m.eq_ignore_ascii_case(method))
}

impl Csrf {
    /// Compile validated settings.
    pub fn compile(c: &RuleCsrf) -> Csrf {
        Csrf {
            allowed: c
                .allowed_origins
                .iter()
                .filter_map(|o| normalize_origin(o))
                .collect(),
            allow_same_origin: c.allow_same_origin,
            strict: c.strict,
        }
    }

    /// Judge `req`. `has_unforgeable_credential` is true when the request carries a bearer
    /// token or an API key (the caller knows the configured API key header).
    pub fn check(&self, req: &RequestView, has_unforgeable_credential: bool) -> CsrfVerdict {
        if !is_state_changing(&req.method) {
            return CsrfVerdict::NotApplicable;
        }
        if has_unforgeable_credential {
            return CsrfVerdict::Exempt;
        }
        // The origin claimed by the browser: `Origin`, else the origin part of `Referer`.
        // Some(None) = present but unusable (`null`, malformed): never allowed.
        let claimed: Option<Option<String>> = match req.header("origin") {
            Some(o) => Some(if is_bare_origin(o.trim()) {
                normalize_origin(o.trim())
            } else {
                None
            }),
            None => req.header("referer").map(|r| normalize_origin(r.trim())),
        };
        let allowed = |o: &str| {
            self.allowed.iter().any(|a| a == o)
                || (self.allow_same_origin && own_origin(req).as_deref() == Some(o))
        };
        let origin_ok = matches!(&claimed, Some(Some(o)) if allowed(o));
        let seen = claimed.clone().flatten();
        let cross_site = req
            .header("sec-fetch-site")
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("cross-site"));
        if cross_site {
            return if origin_ok {
                CsrfVerdict::Allowed
            } else {
                CsrfVerdict::Rejected {
                    rejection: CsrfRejection::CrossSite,
                    origin: seen,
                }
            };
        }
        match claimed {
            Some(_) if origin_ok => CsrfVerdict::Allowed,
            Some(_) => CsrfVerdict::Rejected {
                rejection: CsrfRejection::OriginNotAllowed,
                origin: seen,
            },
            None if self.strict => CsrfVerdict::Rejected {
                rejection: CsrfRejection::OriginMissing,
                origin: None,
            },
            None => CsrfVerdict::Allowed,
        }
    }
}

/// The request's own origin from `:scheme` and `:authority`.
fn own_origin(req: &RequestView) -> Option<String> {
    if req.scheme.is_empty() || req.authority.is_empty() {
        return None;
    }
    normalize_origin(&format!("{}://{}", req.scheme, req.authority))
}

/// True when `s` is `scheme://authority` with nothing after it.
fn is_bare_origin(s: &str) -> bool {
    s.split_once("://")
        .is_some_and(|(_, rest)| !rest.is_empty() && !rest.contains(['/', '?', '#']))
}

/// The origin (`scheme://host[:port]`, lowercase, default port dropped) of an http(s) URL or
/// origin; None for `null`, other schemes, user info or a malformed authority.
pub fn normalize_origin(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "https" => "443",
        "http" => "80",
        _ => return None,
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    let authority = authority.to_ascii_lowercase();
    let (host, port) = if authority.starts_with('[') {
        let end = authority.find(']')?;
        let (h, p) = authority.split_at(end + 1);
        match p {
            "" => (h, None),
            p => (h, Some(p.strip_prefix(':')?)),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority.as_str(), None),
        }
    };
    if host.is_empty()
        || !host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'[' | b']' | b':'))
    {
        return None;
    }
    match port {
        None => Some(format!("{scheme}://{host}")),
        Some(p) if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) || p.len() > 5 => None,
        Some(p) if p == default_port => Some(format!("{scheme}://{host}")),
        Some(p) => Some(format!("{scheme}://{host}:{p}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_changing_methods_any_case() {
        for m in ["POST", "put", "Patch", "delete"] {
            assert!(is_state_changing(m), "{m}");
        }
        for m in ["GET", "HEAD", "OPTIONS", "TRACE", "POSTX"] {
            assert!(!is_state_changing(m), "{m}");
        }
    }

    #[test]
    fn origins_normalize() {
        assert_eq!(
            normalize_origin("HTTPS://App.Example.com:443/path?q#f").as_deref(),
            Some("https://app.example.com")
        );
        assert_eq!(
            normalize_origin("http://a.com:8080").as_deref(),
            Some("http://a.com:8080")
        );
        assert_eq!(
            normalize_origin("http://[::1]:80/").as_deref(),
            Some("http://[::1]")
        );
        for bad in [
            "null",
            "ftp://a.com",
            "https://",
            "https://u@a.com",
            "https://a.com:x",
            "https://a com",
            "a.com",
        ] {
            assert_eq!(normalize_origin(bad), None, "{bad}");
        }
    }

    #[test]
    fn config_rejects_non_origins() {
        for bad in ["https://a.com/", "a.com", "null", "https://a.com/x"] {
            let c = RuleCsrf {
                allowed_origins: vec![bad.into()],
                allow_same_origin: true,
                strict: false,
            };
            let e = c.validate("rules[0].csrf").unwrap_err();
            assert_eq!(e.path, "rules[0].csrf.allowed_origins[0]", "{bad}");
        }
    }
}
