//! CORS answered at the edge.
//!
//! Preflights (`OPTIONS` with `Origin` and `Access-Control-Request-Method`) from an allowed
//! origin, asking for allowed methods and headers, are answered here with 204 and never reach
//! the upstream; any other preflight gets 403 without CORS headers. On actual requests an
//! allowed origin gets `Access-Control-Allow-Origin` (the origin itself, or `*` for a wildcard
//! policy without credentials); a disallowed one gets no CORS headers at all, and CORS headers
//! the upstream sent are removed, so the edge's policy is the only one. The origin is echoed
//! only after it matched the allowlist, so an arbitrary origin is never reflected — with
//! credentials, `*` is refused at load. `Vary: Origin` is added whenever the answer depends on
//! the origin, so shared caches keep one copy per origin.

use super::config::CorsConfig;
use crate::config::ConfigError;
use crate::decision::{HeaderMutations, LocalReply};
use crate::request::RequestView;

/// Is this request a CORS preflight? (`OPTIONS` + `Origin` + `Access-Control-Request-Method`.)
/// The JWT module uses it for `bypass_cors_preflight`.
pub fn is_cors_preflight(req: &RequestView) -> bool {
    req.method == "OPTIONS"
        && req.header("origin").is_some()
        && req.header("access-control-request-method").is_some()
}

/// An allowed origin pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum OriginPattern {
    /// Any origin (`*`).
    Any,
    /// Exact `scheme://host[:port]`, lowercase.
    Exact(String),
    /// `scheme://*.domain[:port]`: any subdomain of `domain`, same scheme and port.
    Wildcard {
        /// `https://`.
        scheme: String,
        /// `.example.com` (with the leading dot).
        suffix: String,
    },
}

/// Compiled CORS policy.
#[derive(Debug, Clone)]
pub struct Cors {
    origins: Vec<OriginPattern>,
    methods: Vec<String>,
    headers: Vec<String>,
    allow_methods_value: String,
    allow_headers_value: Option<String>,
    expose_value: Option<String>,
    credentials: bool,
    max_age: String,
}

const CORS_RESPONSE_HEADERS: [&str; 6] = [
    "access-control-allow-origin",
    "access-control-allow-credentials",
    "access-control-expose-headers",
    "access-control-allow-methods",
    "access-control-allow-headers",
    "access-control-max-age",
];

impl Cors {
    /// Compile and validate at `path`.
    pub fn compile(c: &CorsConfig, path: &str) -> Result<Cors, ConfigError> {
        if c.allowed_origins.is_empty() {
            return Err(ConfigError::new(
                format!("{path}.allowed_origins"),
                "must list at least one origin",
            ));
        }
        let mut origins = Vec::new();
        for (i, o) in c.allowed_origins.iter().enumerate() {
            let at = format!("{path}.allowed_origins[{i}]");
            let pattern = parse_origin_pattern(o).ok_or_else(|| {
                ConfigError::new(
                    &at,
                    "must be *, scheme://host[:port] or scheme://*.domain[:port] (no path)",
                )
            })?;
            if pattern == OriginPattern::Any && c.allow_credentials {
                return Err(ConfigError::new(
                    &at,
                    "* cannot be combined with allow_credentials (it would let any site read credentialed responses)",
                ));
            }
            origins.push(pattern);
        }
        let methods: Vec<String> = if c.allowed_methods.is_empty() {
            vec!["GET".into(), "HEAD".into(), "POST".into()]
        } else {
            c.allowed_methods.clone()
        };
        for (i, m) in methods.iter().enumerate() {
            if m.is_empty() || !m.bytes().all(|b| b.is_ascii_uppercase()) {
                return Err(ConfigError::new(
                    format!("{path}.allowed_methods[{i}]"),
                    "must be an uppercase method token such as GET",
                ));
            }
        }
        for (i, h) in c.allowed_headers.iter().enumerate() {
            super::config::check_header_name(h, &format!("{path}.allowed_headers[{i}]"))?;
        }
        for (i, h) in c.exposed_headers.iter().enumerate() {
            super::config::check_header_name(h, &format!("{path}.exposed_headers[{i}]"))?;
        }
        let headers: Vec<String> = c
            .allowed_headers
            .iter()
            .map(|h| h.to_ascii_lowercase())
            .collect();
        Ok(Cors {
            origins,
            allow_methods_value: methods.join(", "),
            methods,
            allow_headers_value: (!headers.is_empty()).then(|| headers.join(", ")),
            headers,
            expose_value: (!c.exposed_headers.is_empty()).then(|| c.exposed_headers.join(", ")),
            credentials: c.allow_credentials,
            max_age: c.max_age.unwrap_or(600).to_string(),
        })
    }

    /// Is `origin` on the list?
    pub fn origin_allowed(&self, origin: &str) -> bool {
        let lower = origin.to_ascii_lowercase();
        self.origins.iter().any(|p| match p {
            OriginPattern::Any => true,
            OriginPattern::Exact(o) => *o == lower,
            OriginPattern::Wildcard { scheme, suffix } => {
                lower.strip_prefix(scheme.as_str()).is_some_and(|rest| {
                    rest.len() > suffix.len()
                        && rest.ends_with(suffix.as_str())
                        && rest[..rest.len() - suffix.len()]
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
                })
            }
        })
    }

    fn allow_origin_value(&self, origin: &str) -> String {
        if !self.credentials && self.origins.contains(&OriginPattern::Any) {
            "*".to_string()
        } else {
            origin.to_string()
        }
    }

    /// Answer a preflight: 204 with the CORS headers, or 403 without them.
    pub fn preflight(&self, req: &RequestView) -> LocalReply {
        let origin = req.header("origin").unwrap_or("");
        let method = req.header("access-control-request-method").unwrap_or("");
        let requested: Vec<String> = req
            .header_values("access-control-request-headers")
            .flat_map(|v| v.split(','))
            .map(|h| h.trim().to_ascii_lowercase())
            .filter(|h| !h.is_empty())
            .collect();
        let method_ok = self.methods.iter().any(|m| m == method);
        let headers_ok = requested
            .iter()
            .all(|h| is_safelisted_request_header(h) || self.headers.contains(h));
        if !self.origin_allowed(origin) || !method_ok || !headers_ok {
            return LocalReply::error(
                403,
                "cors_preflight_rejected",
                "CORS preflight rejected: origin, method or headers not allowed",
            )
            .header("vary", "Origin");
        }
        let mut reply = LocalReply::with_body(204, "cors_preflight", "text/plain", Vec::new());
        reply.headers.clear();
        let mut reply = reply
            .header(
                "access-control-allow-origin",
                self.allow_origin_value(origin),
            )
            .header("access-control-allow-methods", &self.allow_methods_value)
            .header("access-control-max-age", &self.max_age)
            .header(
                "vary",
                "Origin, Access-Control-Request-Method, Access-Control-Request-Headers",
            );
        if let Some(h) = &self.allow_headers_value {
            reply = reply.header("access-control-allow-headers", h);
        }
        if self.credentials {
            reply = reply.header("access-control-allow-credentials", "true");
        }
        reply
    }

    /// CORS headers for an actual (non-preflight) response. `present` are the response's
    /// headers (for `Vary`).
    pub fn response_mutations(
        &self,
        req: &RequestView,
        present: &[(String, String)],
    ) -> HeaderMutations {
        let mut m = HeaderMutations::default();
        m.remove
            .extend(CORS_RESPONSE_HEADERS.iter().map(|h| h.to_string()));
        let vary_has_origin = present.iter().any(|(k, v)| {
            k.eq_ignore_ascii_case("vary")
                && v.split(',')
                    .any(|t| t.trim().eq_ignore_ascii_case("origin") || t.trim() == "*")
        });
        if !vary_has_origin {
            m.add.push(("vary".to_string(), "Origin".to_string()));
        }
        let Some(origin) = req.header("origin") else {
            return m;
        };
        if !self.origin_allowed(origin) {
            return m;
        }
        m.set.push((
            "access-control-allow-origin".to_string(),
            self.allow_origin_value(origin),
        ));
        if self.credentials {
            m.set.push((
                "access-control-allow-credentials".to_string(),
                "true".to_string(),
            ));
        }
        if let Some(e) = &self.expose_value {
            m.set
                .push(("access-control-expose-headers".to_string(), e.clone()));
        }
        m
    }
}

/// CORS-safelisted request headers (Fetch standard) never need to be listed.
fn is_safelisted_request_header(h: &str) -> bool {
    matches!(
        h,
        "accept" | "accept-language" | "content-language" | "content-type" | "range"
    )
}

fn parse_origin_pattern(o: &str) -> Option<OriginPattern> {
    if o == "*" {
        return Some(OriginPattern::Any);
    }
    let lower = o.to_ascii_lowercase();
    let (scheme, rest) = lower.split_once("://")?;
    if scheme.is_empty()
        || !scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
    {
        return None;
    }
    let ok = |b: u8| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b);
    if let Some(domain) = rest.strip_prefix("*.") {
        if domain.is_empty() || !domain.bytes().all(ok) {
            return None;
        }
        return Some(OriginPattern::Wildcard {
            scheme: format!("{scheme}://"),
            suffix: format!(".{domain}"),
        });
    }
    if rest.is_empty() || !rest.bytes().all(ok) {
        return None;
    }
    Some(OriginPattern::Exact(lower))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::ConnectionInfo;

    fn cors(json: &str) -> Cors {
        Cors::compile(&serde_json::from_str(json).unwrap(), "headers.cors").unwrap()
    }

    fn req(method: &str, headers: &[(&str, &str)]) -> RequestView {
        RequestView::new(
            method,
            "https",
            "api.example.com",
            "/x",
            headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ConnectionInfo::default(),
        )
        .unwrap()
    }

    fn has(headers: &[(String, String)], k: &str, v: &str) -> bool {
        headers.iter().any(|(a, b)| a == k && b == v)
    }

    const C: &str = r#"{"allowed_origins":["https://app.example.com","https://*.example.org"],
        "allowed_methods":["GET","POST","DELETE"],"allowed_headers":["Authorization","X-Req"],
        "exposed_headers":["X-Total"],"allow_credentials":true,"max_age":300}"#;

    #[test]
    fn origin_patterns() {
        let c = cors(C);
        assert!(c.origin_allowed("https://app.example.com"));
        assert!(c.origin_allowed("https://APP.example.com"));
        assert!(!c.origin_allowed("http://app.example.com"));
        assert!(!c.origin_allowed("https://app.example.com.evil.com"));
        assert!(c.origin_allowed("https://a.b.example.org"));
        assert!(!c.origin_allowed("https://example.org"));
        assert!(!c.origin_allowed("https://evilexample.org"));
        assert!(!c.origin_allowed("https://x/y.example.org"));
        assert!(!c.origin_allowed("null"));
    }

    #[test]
    fn preflight_from_allowed_origin_is_204_with_headers() {
        let c = cors(C);
        let r = c.preflight(&req(
            "OPTIONS",
            &[
                ("Origin", "https://app.example.com"),
                ("Access-Control-Request-Method", "DELETE"),
                (
                    "Access-Control-Request-Headers",
                    "authorization, content-type",
                ),
            ],
        ));
        assert_eq!(r.status, 204);
        assert!(r.body.is_empty());
        assert!(has(
            &r.headers,
            "access-control-allow-origin",
            "https://app.example.com"
        ));
        assert!(has(&r.headers, "access-control-allow-credentials", "true"));
        assert!(has(
            &r.headers,
            "access-control-allow-methods",
            "GET, POST, DELETE"
        ));
        assert!(has(
            &r.headers,
            "access-control-allow-headers",
            "authorization, x-req"
        ));
        assert!(has(&r.headers, "access-control-max-age", "300"));
        assert!(r
            .headers
            .iter()
            .any(|(k, v)| k == "vary" && v.contains("Origin")));
        assert!(!r.headers.iter().any(|(k, _)| k == "content-type"));
    }

    #[test]
    fn preflight_rejections_carry_no_cors_headers() {
        let c = cors(C);
        for hs in [
            vec![
                ("Origin", "https://evil.com"),
                ("Access-Control-Request-Method", "GET"),
            ],
            vec![
                ("Origin", "https://app.example.com"),
                ("Access-Control-Request-Method", "PUT"),
            ],
            vec![
                ("Origin", "https://app.example.com"),
                ("Access-Control-Request-Method", "GET"),
                ("Access-Control-Request-Headers", "x-secret"),
            ],
        ] {
            let r = c.preflight(&req("OPTIONS", &hs));
            assert_eq!(r.status, 403);
            assert!(!r
                .headers
                .iter()
                .any(|(k, _)| k.starts_with("access-control-")));
        }
    }

    #[test]
    fn actual_requests_echo_only_allowed_origins_and_vary() {
        let c = cors(C);
        let m = c.response_mutations(&req("GET", &[("Origin", "https://app.example.com")]), &[]);
        assert!(has(
            &m.set,
            "access-control-allow-origin",
            "https://app.example.com"
        ));
        assert!(has(&m.set, "access-control-expose-headers", "X-Total"));
        assert!(has(&m.add, "vary", "Origin"));
        let m = c.response_mutations(
            &req("GET", &[("Origin", "https://evil.com")]),
            &[(
                "Access-Control-Allow-Origin".into(),
                "https://evil.com".into(),
            )],
        );
        assert!(m.set.is_empty());
        assert!(m
            .remove
            .contains(&"access-control-allow-origin".to_string()));
        let m = c.response_mutations(
            &req("GET", &[]),
            &[("Vary".into(), "Accept, Origin".into())],
        );
        assert!(m.add.is_empty());
    }

    #[test]
    fn wildcard_without_credentials_sends_star_and_with_credentials_is_refused() {
        let c = cors(r#"{"allowed_origins":["*"]}"#);
        let m = c.response_mutations(&req("GET", &[("Origin", "https://x.com")]), &[]);
        assert!(has(&m.set, "access-control-allow-origin", "*"));
        let e = Cors::compile(
            &serde_json::from_str(r#"{"allowed_origins":["*"],"allow_credentials":true}"#).unwrap(),
            "headers.cors",
        )
        .unwrap_err();
        assert_eq!(e.path, "headers.cors.allowed_origins[0]");
        let e = Cors::compile(
            &serde_json::from_str(r#"{"allowed_origins":["https://a.com/path"]}"#).unwrap(),
            "headers.cors",
        )
        .unwrap_err();
        assert_eq!(e.path, "headers.cors.allowed_origins[0]");
    }

    #[test]
    fn preflight_detection() {
        assert!(is_cors_preflight(&req(
            "OPTIONS",
            &[
                ("Origin", "https://a"),
                ("Access-Control-Request-Method", "GET")
            ]
        )));
        assert!(!is_cors_preflight(&req(
            "OPTIONS",
            &[("Origin", "https://a")]
        )));
        assert!(!is_cors_preflight(&req(
            "GET",
            &[
                ("Origin", "https://a"),
                ("Access-Control-Request-Method", "GET")
            ]
        )));
    }
}
