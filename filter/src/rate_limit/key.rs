//! What a policy counts by: the client IP, a request header, a verified JWT claim, the verified
//! service, the route, or everything together. A request that lacks the header / claim /
//! service falls back to its client IP, so leaving a header out never escapes a limit; requests
//! whose client IP is unknown share one `ip:unknown` counter.

use crate::config::ConfigError;
use crate::engine::Identity;
use crate::request::RequestView;
use std::hash::{Hash, Hasher};
use std::net::IpAddr;

/// A compiled key kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyKind {
    /// The client IP (as decided by the trusted-proxy settings).
    Ip,
    /// A request header's first value (name lowercase).
    Header(String),
    /// A claim of the first verified JWT (strings and numbers).
    Claim(String),
    /// The verified service id.
    Service,
    /// The matched rule.
    Route,
    /// One counter for all requests.
    Global,
}

impl KeyKind {
    /// Parse `ip`, `header:<name>`, `claim:<name>`, `service`, `route`, `global`.
    pub fn parse(s: &str, path: &str) -> Result<KeyKind, ConfigError> {
        let kind = match s.split_once(':') {
            None => match s {
                "ip" => KeyKind::Ip,
                "service" => KeyKind::Service,
                "route" => KeyKind::Route,
                "global" => KeyKind::Global,
                _ => return Err(bad(path)),
            },
            Some(("header", name)) => {
                crate::headers::config::check_header_name(name, path)?;
                KeyKind::Header(name.to_ascii_lowercase())
            }
            Some(("claim", name)) if !name.is_empty() => KeyKind::Claim(name.to_string()),
            Some(_) => return Err(bad(path)),
        };
        Ok(kind)
    }

    /// The key string for this request (before hashing); falls back to the client IP.
    pub fn extract(
        &self,
        req: &RequestView,
        client_ip: Option<IpAddr>,
        identity: Option<&Identity>,
        rule_name: &str,
    ) -> String {
        let found = match self {
            KeyKind::Ip => None,
            KeyKind::Header(h) => req.header(h).map(|v| format!("h:{v}")),
            KeyKind::Claim(c) => identity
                .and_then(|id| {
                    id.jwt_claims
                        .iter()
                        .find_map(|(_, claims)| claims.get(c.as_str()))
                })
                .and_then(|v| match v {
                    serde_json::Value::String(s) => Some(format!("c:{s}")),
                    serde_json::Value::Number(n) => Some(format!("c:{n}")),
                    _ => None,
                }),
            KeyKind::Service => identity
                .and_then(|id| id.service_id.as_ref())
                .map(|s| format!("s:{s}")),
            KeyKind::Route => Some(format!("r:{rule_name}")),
            KeyKind::Global => Some("g".to_string()),
        };
        found.unwrap_or_else(|| match client_ip {
            Some(ip) => format!("ip:{ip}"),
            None => "ip:unknown".to_string(),
        })
    }
}

fn bad(path: &str) -> ConfigError {
    ConfigError::new(
        path,
        "must be ip, header:<name>, claim:<name>, service, route or global",
    )
}

/// A 64-bit fingerprint of a key (never 0: 0 marks an empty slot). Deterministic, so every
/// worker maps a key to the same slots.
pub fn fingerprint(domain: &str, key: &str) -> u64 {
    #[allow(deprecated)]
    let mut h = std::hash::SipHasher::new_with_keys(0x6564_6765_6775_6172, 0x726c_2d6b_6579_7331);
    domain.hash(&mut h);
    key.hash(&mut h);
    h.finish().max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::ConnectionInfo;

    fn req() -> RequestView {
        RequestView::new(
            "GET",
            "https",
            "a",
            "/",
            vec![("X-Api-Key".into(), "k1".into())],
            ConnectionInfo::default(),
        )
        .unwrap()
    }

    #[test]
    fn kinds_parse_and_extract_with_ip_fallback() {
        let ip: Option<IpAddr> = "1.2.3.4".parse().ok();
        let id = Identity {
            jwt_claims: vec![(
                "p".into(),
                std::rc::Rc::new(serde_json::json!({"sub":"u1","n":7})),
            )],
            service_id: Some("svc".into()),
            ..Identity::default()
        };
        let k = |s: &str| KeyKind::parse(s, "p").unwrap();
        assert_eq!(k("ip").extract(&req(), ip, Some(&id), "r"), "ip:1.2.3.4");
        assert_eq!(k("header:X-API-KEY").extract(&req(), ip, None, "r"), "h:k1");
        assert_eq!(
            k("header:x-other").extract(&req(), ip, None, "r"),
            "ip:1.2.3.4"
        );
        assert_eq!(k("claim:sub").extract(&req(), ip, Some(&id), "r"), "c:u1");
        assert_eq!(k("claim:n").extract(&req(), ip, Some(&id), "r"), "c:7");
        assert_eq!(
            k("claim:sub").extract(&req(), None, None, "r"),
            "ip:unknown"
        );
        assert_eq!(k("service").extract(&req(), ip, Some(&id), "r"), "s:svc");
        assert_eq!(k("route").extract(&req(), ip, None, "api"), "r:api");
        assert_eq!(k("global").extract(&req(), ip, None, "api"), "g");
        for bad in ["", "ipv4", "header:", "claim:", "foo:bar", "header:a b"] {
            assert!(KeyKind::parse(bad, "p").is_err(), "{bad}");
        }
    }

    #[test]
    fn fingerprints_differ_by_domain_and_key() {
        assert_ne!(fingerprint("a", "x"), fingerprint("b", "x"));
        assert_ne!(fingerprint("a", "x"), fingerprint("a", "y"));
        assert_eq!(fingerprint("a", "x"), fingerprint("a", "x"));
    }
}
