//! Security response headers, cookie hardening, host allowlist, HTTPS redirect, CORS and the
//! client-IP decision.
//!
//! # Request side (stage `headers`, first after rule matching)
//! 1. `allowed_hosts`: any other `:authority` gets 421 before anything else ([`hosts`]).
//! 2. `https_redirect`: plain HTTP (by `:scheme`, or `X-Forwarded-Proto` from a trusted proxy)
//!    gets 301 (GET/HEAD) / 308 to the same URL over HTTPS.
//! 3. CORS preflights are answered at the edge (204 / 403) when CORS is configured ([`cors`]).
//!
//! The client IP comes from [`proxies`]: the peer address unless a trusted proxy chain is
//! configured. `X-Forwarded-*` headers are never believed from an untrusted peer.
//!
//! # Response side
//! Defaults, with no configuration at all (the MDN HTTP Observatory header tests pass with an
//! A+ score: no penalties, plus the CSP `default-src 'none'`, `frame-ancestors`,
//! Referrer-Policy and cookie bonuses):
//!
//! | header | default | threat |
//! |---|---|---|
//! | `Strict-Transport-Security` | `max-age=31536000; includeSubDomains`, HTTPS responses only | SSL stripping, cookie theft on a first plain-HTTP visit |
//! | `Content-Security-Policy` | [`security::DEFAULT_CSP`] (`default-src 'none'` ...) | XSS and data injection in anything a browser renders |
//! | `X-Content-Type-Options` | `nosniff` | MIME sniffing turning JSON/uploads into script |
//! | `X-Frame-Options` | `DENY` (with CSP `frame-ancestors 'none'`) | clickjacking |
//! | `Referrer-Policy` | `strict-origin-when-cross-origin` | URLs with tokens or ids leaking to other sites |
//! | `Permissions-Policy` | camera, microphone, geolocation, payment ... disabled | abuse of powerful browser features by injected content |
//! | `Cross-Origin-Opener-Policy` | `same-origin` | cross-window attacks (XS-Leaks, Spectre-style) |
//! | `Cross-Origin-Resource-Policy` | `same-origin` | other sites embedding responses (`no-cors` reads) |
//! | `X-XSS-Protection` | `0` | the legacy XSS auditor is itself a leak vector |
//! | removed | `Server`, `X-Powered-By`, `X-AspNet-Version`, `X-AspNetMvc-Version`, `X-Envoy-Upstream-Service-Time` | fingerprinting the stack to pick exploits |
//! | `Set-Cookie` | `Secure; HttpOnly; SameSite=Lax` added when missing | cookie theft over HTTP, by script, CSRF |
//!
//! Each header can be `set` (replace), `if_absent` (keep the upstream's) or `remove`d, in the
//! section and per rule (`rules[N].headers.security`, merged field by field). edgeguard's own
//! replies (401, 403, 429, redirects ...) get the same headers through
//! [`HeadersPolicy::decorate_local_reply`].

pub mod config;
pub mod cookies;
pub mod cors;
pub mod hosts;
pub mod proxies;
pub mod security;

pub use cors::is_cors_preflight;

use crate::config::{Config, ConfigError};
use crate::decision::{HeaderMutations, LocalReply};
use crate::engine::{RequestContext, Step};
use crate::request::RequestView;
use config::HeadersConfig;
use cookies::CookiePolicy;
use cors::Cors;
use hosts::HostAllowlist;
use proxies::TrustedProxies;
use security::HeaderSet;
use std::net::IpAddr;
use std::sync::Arc;

/// Fingerprinting headers removed from responses by default.
pub const DEFAULT_STRIPPED: [&str; 5] = [
    "server",
    "x-powered-by",
    "x-aspnet-version",
    "x-aspnetmvc-version",
    "x-envoy-upstream-service-time",
];

/// What applies to one rule's responses (or the section's, for unmatched requests).
#[derive(Debug, Clone)]
struct Profile {
    headers: Arc<HeaderSet>,
    cors: Option<Arc<Cors>>,
}

/// Compiled `headers` section and per-rule overrides.
#[derive(Debug)]
pub struct HeadersPolicy {
    enabled: bool,
    default: Profile,
    per_rule: Vec<Profile>,
    strip: Vec<String>,
    cookies: Option<CookiePolicy>,
    hosts: HostAllowlist,
    https_redirect: bool,
    https_port: Option<u16>,
    proxies: TrustedProxies,
}

impl Default for HeadersPolicy {
    fn default() -> Self {
        HeadersPolicy {
            enabled: false,
            default: Profile {
                headers: Arc::new(HeaderSet::default()),
                cors: None,
            },
            per_rule: Vec::new(),
            strip: Vec::new(),
            cookies: None,
            hosts: HostAllowlist::default(),
            https_redirect: false,
            https_port: None,
            proxies: TrustedProxies::default(),
        }
    }
}

impl HeadersPolicy {
    /// Compile from the whole config. Without a `headers` section nothing is changed; with
    /// `"headers": {}` the documented defaults apply.
    pub fn compile(config: &Config) -> Result<HeadersPolicy, ConfigError> {
        let Some(section) = &config.headers else {
            for (i, r) in config.rules.iter().enumerate() {
                if r.headers.is_some() {
                    return Err(ConfigError::new(
                        format!("rules[{i}].headers"),
                        "needs a headers section to override",
                    ));
                }
            }
            return Ok(HeadersPolicy::default());
        };
        Self::compile_section(section, config)
    }

    fn compile_section(c: &HeadersConfig, config: &Config) -> Result<HeadersPolicy, ConfigError> {
        let base = Arc::new(HeaderSet::compile(&c.security, None, "headers.security")?);
        let base_cors = match &c.cors {
            Some(cc) => Some(Arc::new(Cors::compile(cc, "headers.cors")?)),
            None => None,
        };
        let default = Profile {
            headers: base.clone(),
            cors: base_cors.clone(),
        };
        let mut per_rule = Vec::with_capacity(config.rules.len());
        for (i, rule) in config.rules.iter().enumerate() {
            let path = format!("rules[{i}].headers");
            let profile = match &rule.headers {
                None => default.clone(),
                Some(rh) => {
                    rh.validate(&c.security, &path)?;
                    Profile {
                        headers: match &rh.security {
                            Some(s) => Arc::new(HeaderSet::compile(
                                &c.security,
                                Some(s),
                                &format!("{path}.security"),
                            )?),
                            None => base.clone(),
                        },
                        cors: if rh.cors_disabled {
                            None
                        } else {
                            match &rh.cors {
                                Some(cc) => {
                                    Some(Arc::new(Cors::compile(cc, &format!("{path}.cors"))?))
                                }
                                None => base_cors.clone(),
                            }
                        },
                    }
                }
            };
            per_rule.push(profile);
        }
        let strip = match &c.strip_response_headers {
            None => DEFAULT_STRIPPED.iter().map(|s| s.to_string()).collect(),
            Some(list) => {
                for (i, h) in list.iter().enumerate() {
                    config::check_header_name(h, &format!("headers.strip_response_headers[{i}]"))?;
                }
                list.iter().map(|s| s.to_ascii_lowercase()).collect()
            }
        };
        Ok(HeadersPolicy {
            enabled: true,
            default,
            per_rule,
            strip,
            cookies: Some(CookiePolicy::compile(&c.cookies, "headers.cookies")?),
            hosts: HostAllowlist::compile(&c.allowed_hosts, "headers.allowed_hosts")?,
            https_redirect: c.https_redirect,
            https_port: c.https_port,
            proxies: TrustedProxies::compile(c, "headers")?,
        })
    }

    fn profile(&self, rule: Option<usize>) -> &Profile {
        rule.and_then(|i| self.per_rule.get(i))
            .unwrap_or(&self.default)
    }

    /// The client IP: the connection's source address unless trusted proxies say otherwise.
    pub fn client_ip(&self, req: &RequestView) -> Option<IpAddr> {
        self.proxies.client_ip(req)
    }

    /// Did the request arrive over HTTPS (`:scheme`, or a trusted `X-Forwarded-Proto`)?
    pub fn is_https(&self, req: &RequestView) -> bool {
        self.proxies.is_https(req)
    }

    /// Host allowlist, HTTPS redirect, CORS preflight.
    pub fn on_request(&self, ctx: &mut RequestContext<'_>) -> Step {
        if !self.enabled {
            return Step::Next;
        }
        let req = ctx.req;
        if !self.hosts.allows(&req.authority) {
            return Step::Respond(hosts::host_not_allowed());
        }
        if self.https_redirect && !self.is_https(req) {
            return Step::Respond(hosts::https_redirect(req, self.https_port).unwrap_or_else(
                || LocalReply::error(400, "bad_request", "request cannot be redirected to https"),
            ));
        }
        if is_cors_preflight(req) {
            if let Some(cors) = &self.profile(ctx.rule).cors {
                return Step::Respond(cors.preflight(req));
            }
        }
        Step::Next
    }

    /// Security headers, cookie hardening and CORS headers for an upstream response.
    pub fn on_response_headers(
        &self,
        req: &RequestView,
        rule: Option<usize>,
        headers: &[(String, String)],
    ) -> HeaderMutations {
        if !self.enabled {
            return HeaderMutations::default();
        }
        let profile = self.profile(rule);
        let mut m = HeaderMutations::default();
        m.remove.extend(self.strip.iter().cloned());
        m.extend(profile.headers.mutations(headers, self.is_https(req)));
        if let Some(c) = &self.cookies {
            m.extend(c.mutations(headers));
        }
        if let Some(cors) = &profile.cors {
            m.extend(cors.response_mutations(req, headers));
        }
        m
    }

    /// Give edgeguard's own replies the same security headers (and CORS headers for an allowed
    /// origin, so a browser script can read why it was refused).
    /// The matched rule's overrides apply, as on upstream responses.
    pub fn decorate_local_reply(
        &self,
        req: &RequestView,
        rule: Option<usize>,
        reply: &mut LocalReply,
    ) {
        if !self.enabled {
            return;
        }
        let profile = self.profile(rule);
        let mut m = profile
            .headers
            .mutations(&reply.headers, self.is_https(req));
        if !is_cors_preflight(req) {
            if let Some(cors) = &profile.cors {
                m.extend(cors.response_mutations(req, &reply.headers));
            }
        }
        m.apply_to(&mut reply.headers);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Identity;
    use crate::host::memory::MemoryHost;
    use crate::request::ConnectionInfo;

    fn policy(json: &str) -> HeadersPolicy {
        HeadersPolicy::compile(&Config::from_json(json.as_bytes()).unwrap()).unwrap()
    }

    fn req(method: &str, scheme: &str, authority: &str, headers: &[(&str, &str)]) -> RequestView {
        RequestView::new(
            method,
            scheme,
            authority,
            "/p?q=1",
            headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ConnectionInfo {
                source_ip: "10.0.0.1".parse().ok(),
                ..ConnectionInfo::default()
            },
        )
        .unwrap()
    }

    fn run(p: &HeadersPolicy, r: &RequestView, rule: Option<usize>) -> Step {
        let host = MemoryHost::at(1_700_000_000);
        let mut identity = Identity::default();
        let mut upstream = HeaderMutations::default();
        let mut ctx = RequestContext {
            req: r,
            rule,
            rule_name: "-",
            host: &host,
            client_ip: None,
            identity: &mut identity,
            upstream: &mut upstream,
            body: None,
        };
        p.on_request(&mut ctx)
    }

    #[test]
    fn no_section_changes_nothing() {
        let p = policy("{}");
        let r = req("GET", "http", "x", &[]);
        assert_eq!(run(&p, &r, None), Step::Next);
        assert!(p
            .on_response_headers(&r, None, &[("server".into(), "x".into())])
            .is_empty());
    }

    #[test]
    fn empty_section_strips_fingerprints_and_sets_defaults() {
        let p = policy(r#"{"headers":{}}"#);
        let r = req("GET", "https", "x", &[]);
        let mut resp = vec![
            ("Server".to_string(), "uvicorn".to_string()),
            ("X-Powered-By".to_string(), "FastAPI".to_string()),
            ("content-type".to_string(), "application/json".to_string()),
            ("set-cookie".to_string(), "sid=1".to_string()),
        ];
        let m = p.on_response_headers(&r, None, &resp);
        m.apply_to(&mut resp);
        let get = |n: &str| {
            resp.iter()
                .filter(|(k, _)| k.eq_ignore_ascii_case(n))
                .map(|(_, v)| v.as_str())
                .collect::<Vec<_>>()
        };
        assert!(get("server").is_empty());
        assert!(get("x-powered-by").is_empty());
        assert_eq!(get("content-type"), vec!["application/json"]);
        assert_eq!(get("x-frame-options"), vec!["DENY"]);
        assert_eq!(
            get("strict-transport-security"),
            vec!["max-age=31536000; includeSubDomains"]
        );
        assert_eq!(
            get("set-cookie"),
            vec!["sid=1; Secure; HttpOnly; SameSite=Lax"]
        );
    }

    #[test]
    fn strip_list_is_configurable() {
        let p = policy(r#"{"headers":{"strip_response_headers":["X-Internal"]}}"#);
        let m = p.on_response_headers(&req("GET", "https", "x", &[]), None, &[]);
        assert!(m.remove.contains(&"x-internal".to_string()));
        assert!(!m.remove.contains(&"server".to_string()));
    }

    #[test]
    fn host_allowlist_runs_first_with_421() {
        let p =
            policy(r#"{"headers":{"allowed_hosts":["api.example.com"],"https_redirect":true}}"#);
        let Step::Respond(r) = run(&p, &req("GET", "http", "evil.com", &[]), None) else {
            panic!()
        };
        assert_eq!((r.status, r.reason), (421, "host_not_allowed"));
        let Step::Respond(r) = run(&p, &req("GET", "http", "api.example.com", &[]), None) else {
            panic!()
        };
        assert_eq!(r.status, 301);
        assert!(r
            .headers
            .contains(&("location".into(), "https://api.example.com/p?q=1".into())));
        assert_eq!(
            run(&p, &req("GET", "https", "api.example.com", &[]), None),
            Step::Next
        );
    }

    #[test]
    fn forwarded_proto_counts_only_from_trusted_proxies() {
        let untrusted = policy(r#"{"headers":{"https_redirect":true}}"#);
        let r = req("POST", "http", "a.com", &[("x-forwarded-proto", "https")]);
        let Step::Respond(reply) = run(&untrusted, &r, None) else {
            panic!()
        };
        assert_eq!(reply.status, 308);
        let trusted =
            policy(r#"{"headers":{"https_redirect":true,"trusted_proxies":["10.0.0.0/8"]}}"#);
        assert_eq!(run(&trusted, &r, None), Step::Next);
        // HSTS follows the same decision.
        let m = trusted.on_response_headers(&r, None, &[]);
        assert!(m.set.iter().any(|(k, _)| k == "strict-transport-security"));
        let m = untrusted.on_response_headers(&r, None, &[]);
        assert!(!m.set.iter().any(|(k, _)| k == "strict-transport-security"));
    }

    #[test]
    fn preflight_answered_per_rule_cors() {
        let p = policy(
            r#"{"headers":{"cors":{"allowed_origins":["https://app.example.com"]}},
               "rules":[{"match":{"prefix":"/p"},"headers":{"cors_disabled":true}},
                        {"match":{"prefix":"/"}}]}"#,
        );
        let pre = req(
            "OPTIONS",
            "https",
            "a.com",
            &[
                ("origin", "https://app.example.com"),
                ("access-control-request-method", "GET"),
            ],
        );
        assert_eq!(run(&p, &pre, Some(0)), Step::Next);
        let Step::Respond(r) = run(&p, &pre, Some(1)) else {
            panic!()
        };
        assert_eq!(r.status, 204);
    }

    #[test]
    fn local_replies_use_the_rules_overrides() {
        let p = policy(
            r#"{"headers":{},"rules":[{"match":{"prefix":"/embed"},
                "headers":{"security":{"x_frame_options":{"action":"set","value":"SAMEORIGIN"}}}}]}"#,
        );
        let r = req("GET", "https", "a.com", &[]);
        let frame = |rule: Option<usize>| {
            let mut reply = LocalReply::error(401, "jwt_missing", "no token");
            p.decorate_local_reply(&r, rule, &mut reply);
            reply
                .headers
                .iter()
                .find(|(k, _)| k == "x-frame-options")
                .map(|(_, v)| v.clone())
        };
        assert_eq!(frame(Some(0)).as_deref(), Some("SAMEORIGIN"));
        assert_eq!(frame(None).as_deref(), Some("DENY"));
    }

    #[test]
    fn local_replies_are_decorated() {
        let p = policy(r#"{"headers":{"cors":{"allowed_origins":["https://app.example.com"]}}}"#);
        let mut reply = LocalReply::error(401, "jwt_missing", "no token");
        p.decorate_local_reply(
            &req(
                "GET",
                "https",
                "a.com",
                &[("origin", "https://app.example.com")],
            ),
            None,
            &mut reply,
        );
        let has = |k: &str| reply.headers.iter().any(|(n, _)| n == k);
        assert!(has("x-content-type-options"));
        assert!(has("content-security-policy"));
        assert!(has("strict-transport-security"));
        assert!(has("access-control-allow-origin"));
        assert!(has("content-type"));
    }

    #[test]
    fn rule_override_errors_name_the_rule() {
        let e = Config::from_json(
            br#"{"headers":{},"rules":[{"match":{"prefix":"/"},"headers":{"security":{"strict_transport_security":{"preload":true,"max_age":5}}}}]}"#,
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "config error at rules[0].headers.security.strict_transport_security.max_age: preload requires max_age of at least 31536000 (one year)"
        );
        let e =
            Config::from_json(br#"{"rules":[{"match":{"prefix":"/"},"headers":{}}]}"#).unwrap_err();
        assert_eq!(e.path, "rules[0].headers");
    }

    #[test]
    fn section_load_errors_name_their_path() {
        for (json, path) in [
            (r#"{"https_port":0}"#, "headers.https_port"),
            (
                r#"{"trusted_proxies":["10.0.0.0/40"]}"#,
                "headers.trusted_proxies[0]",
            ),
            (r#"{"xff_trusted_hops":17}"#, "headers.xff_trusted_hops"),
            (r#"{"allowed_hosts":["a b"]}"#, "headers.allowed_hosts[0]"),
            (
                r#"{"strip_response_headers":["bad name"]}"#,
                "headers.strip_response_headers[0]",
            ),
            (
                r#"{"cors":{"allowed_origins":[]}}"#,
                "headers.cors.allowed_origins",
            ),
            (
                r#"{"cookies":{"rules":[{"name":""}]}}"#,
                "headers.cookies.rules[0].name",
            ),
            (
                r#"{"security":{"x_frame_options":{"action":"sometimes"}}}"#,
                "headers.security.x_frame_options.action",
            ),
            (r#"{"unknown":1}"#, "headers"),
        ] {
            let full = format!(r#"{{"headers":{json}}}"#);
            let e = Config::from_json(full.as_bytes()).unwrap_err();
            assert!(e.path.starts_with(path), "{json}: {e}");
        }
    }
}
