//! Host allowlist and the HTTPS redirect.
//!
//! A request whose `:authority` is not on `allowed_hosts` gets **421 Misdirected Request**
//! (RFC 9110 §15.5.20: this server will not produce an authoritative answer for that host)
//! before any other check runs. This closes Host-header attacks: cache poisoning and password
//! reset links built from a forged Host, and DNS-rebinding requests that reach internal
//! services under an attacker's name. 421 rather than 403 because nothing about the client is
//! forbidden — the request simply went to the wrong server.

use crate::config::ConfigError;
use crate::decision::LocalReply;
use crate::request::{host_without_port, RequestView};
use crate::rules::host_matches;

/// One allowed host pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
struct HostPattern {
    /// Lowercase host or `*.domain`.
    host: String,
    /// Required port, if the pattern named one.
    port: Option<u16>,
}

/// Compiled `allowed_hosts`.
#[derive(Debug, Clone, Default)]
pub struct HostAllowlist {
    patterns: Vec<HostPattern>,
}

impl HostAllowlist {
    /// Compile and validate the list at `path`.
    pub fn compile(hosts: &[String], path: &str) -> Result<HostAllowlist, ConfigError> {
        let mut patterns = Vec::with_capacity(hosts.len());
        for (i, h) in hosts.iter().enumerate() {
            let at = format!("{path}[{i}]");
            let lower = h.to_ascii_lowercase();
            let host = host_without_port(&lower);
            let port = match lower.get(host.len()..).and_then(|p| p.strip_prefix(':')) {
                Some(p) => Some(p.parse::<u16>().map_err(|_| {
                    ConfigError::new(&at, "port must be a number between 0 and 65535")
                })?),
                None => None,
            };
            let bare = host.strip_prefix("*.").unwrap_or(host);
            let ok_char = |b: u8| b.is_ascii_alphanumeric() || b"-.[]:".contains(&b);
            if bare.is_empty() || !bare.bytes().all(ok_char) {
                return Err(ConfigError::new(
                    &at,
                    "must be a host name, *.domain or [ipv6], with an optional :port",
                ));
            }
            patterns.push(HostPattern {
                host: host.to_string(),
                port,
            });
        }
        Ok(HostAllowlist { patterns })
    }

    /// True when there is no list.
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Is this `:authority` allowed?
    pub fn allows(&self, authority: &str) -> bool {
        if self.patterns.is_empty() {
            return true;
        }
        let lower = authority.to_ascii_lowercase();
        let host = host_without_port(&lower);
        let port = lower
            .get(host.len()..)
            .and_then(|p| p.strip_prefix(':'))
            .and_then(|p| p.parse::<u16>().ok());
        let host = host.strip_suffix('.').unwrap_or(host);
        self.patterns
            .iter()
            .any(|p| host_matches(&p.host, host) && (p.port.is_none() || p.port == port))
    }
}

/// The reply for a host not on the list.
pub fn host_not_allowed() -> LocalReply {
    LocalReply::error(
        421,
        "host_not_allowed",
        "this server does not serve the requested host",
    )
}

/// The redirect to the same URL over HTTPS: 301 for GET/HEAD, 308 otherwise (308 keeps the
/// method and body). `None` when the authority or path could not go safely into `Location`.
pub fn https_redirect(req: &RequestView, https_port: Option<u16>) -> Option<LocalReply> {
    let host = host_without_port(&req.authority);
    let safe_host = |b: u8| b.is_ascii_alphanumeric() || b"-._[]:".contains(&b);
    if host.is_empty() || !host.bytes().all(safe_host) {
        return None;
    }
    // Visible ASCII only: no header splitting through the path.
    if req.raw_path.is_empty() || !req.raw_path.bytes().all(|b| (0x21..0x7f).contains(&b)) {
        return None;
    }
    if !req.raw_path.starts_with('/') {
        return None;
    }
    let location = match https_port {
        Some(p) if p != 443 => format!("https://{host}:{p}{}", req.raw_path),
        _ => format!("https://{host}{}", req.raw_path),
    };
    let status = if req.method == "GET" || req.method == "HEAD" {
        301
    } else {
        308
    };
    Some(LocalReply::error(status, "https_redirect", "use https").header("location", location))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::ConnectionInfo;

    fn list(hosts: &[&str]) -> HostAllowlist {
        let v: Vec<String> = hosts.iter().map(|s| s.to_string()).collect();
        HostAllowlist::compile(&v, "headers.allowed_hosts").unwrap()
    }

    #[test]
    fn exact_wildcard_and_port_patterns() {
        let l = list(&[
            "api.example.com",
            "*.apps.example.com",
            "admin.example.com:8443",
        ]);
        assert!(l.allows("api.example.com"));
        assert!(l.allows("API.example.com:443"));
        assert!(l.allows("api.example.com."));
        assert!(l.allows("x.apps.example.com"));
        assert!(!l.allows("apps.example.com"));
        assert!(!l.allows("evil.com"));
        assert!(!l.allows("api.example.com.evil.com"));
        assert!(l.allows("admin.example.com:8443"));
        assert!(!l.allows("admin.example.com"));
        assert!(!l.allows("admin.example.com:443"));
        assert!(!l.allows(""));
        assert!(list(&[]).allows("anything"));
    }

    #[test]
    fn bad_patterns_are_load_errors() {
        let bad = vec!["a/b".to_string()];
        let e = HostAllowlist::compile(&bad, "headers.allowed_hosts").unwrap_err();
        assert_eq!(e.path, "headers.allowed_hosts[0]");
        let bad = vec!["ok.com:99999".to_string()];
        assert!(HostAllowlist::compile(&bad, "h").is_err());
    }

    fn req(method: &str, authority: &str, path: &str) -> RequestView {
        RequestView::new(
            method,
            "http",
            authority,
            path,
            vec![],
            ConnectionInfo::default(),
        )
        .unwrap()
    }

    #[test]
    fn redirect_status_and_location() {
        let r = https_redirect(&req("GET", "example.com:80", "/a?b=1"), None).unwrap();
        assert_eq!(r.status, 301);
        assert!(r.headers.contains(&(
            "location".to_string(),
            "https://example.com/a?b=1".to_string()
        )));
        let r = https_redirect(&req("POST", "example.com", "/a"), Some(8443)).unwrap();
        assert_eq!(r.status, 308);
        assert!(r.headers.contains(&(
            "location".to_string(),
            "https://example.com:8443/a".to_string()
        )));
        let r = https_redirect(&req("HEAD", "example.com", "/"), Some(443)).unwrap();
        assert_eq!(r.status, 301);
        assert!(r
            .headers
            .contains(&("location".to_string(), "https://example.com/".to_string())));
        assert!(https_redirect(&req("GET", "exa mple.com", "/"), None).is_none());
        assert!(https_redirect(&req("GET", "", "/"), None).is_none());
    }
}
