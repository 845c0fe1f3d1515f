//! Who the client is, and whether the request arrived over HTTPS, when proxies sit in front.
//!
//! `X-Forwarded-For` and `X-Forwarded-Proto` are request headers any client can send, so they
//! are believed only when the connection comes from a configured trusted proxy
//! (`trusted_proxies`) or when the operator declared how many proxies append to
//! `X-Forwarded-For` (`xff_trusted_hops`). Otherwise the client is the connection's peer
//! address and the scheme is `:scheme`.
//!
//! With `trusted_proxies`, the peer must be inside one of the CIDRs; the client is then the
//! right-most `X-Forwarded-For` entry that is *not* a trusted proxy (walking from the right
//! skips our own proxy chain and stops at the first address someone else wrote). With
//! `xff_trusted_hops: N` (and the peer trusted, when `trusted_proxies` is also set), the client
//! is the N-th entry from the right; a header with fewer entries, or an unparsable entry,
//! falls back to the peer address: the request did not come through the declared chain.

use super::config::HeadersConfig;
use crate::config::ConfigError;
use crate::request::RequestView;
use std::net::IpAddr;

/// One CIDR block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parse `10.0.0.0/8`, `2001:db8::/32` or a single address.
    pub fn parse(s: &str) -> Option<Cidr> {
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = a.trim().parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            Some(p) => p.trim().parse::<u8>().ok().filter(|p| *p <= max)?,
            None => max,
        };
        Some(Cidr { addr, prefix })
    }

    /// Does the block contain `ip`? (IPv4-mapped IPv6 addresses count as IPv4.)
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

/// Compiled `trusted_proxies` + `xff_trusted_hops`.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies {
    cidrs: Vec<Cidr>,
    hops: u32,
}

impl TrustedProxies {
    /// Compile from the section at `path`.
    pub fn compile(c: &HeadersConfig, path: &str) -> Result<TrustedProxies, ConfigError> {
        let mut cidrs = Vec::with_capacity(c.trusted_proxies.len());
        for (i, s) in c.trusted_proxies.iter().enumerate() {
            cidrs.push(Cidr::parse(s).ok_or_else(|| {
                ConfigError::new(
                    format!("{path}.trusted_proxies[{i}]"),
                    "must be an IP address or CIDR such as 10.0.0.0/8",
                )
            })?);
        }
        if c.xff_trusted_hops > 16 {
            return Err(ConfigError::new(
                format!("{path}.xff_trusted_hops"),
                "must be at most 16",
            ));
        }
        Ok(TrustedProxies {
            cidrs,
            hops: c.xff_trusted_hops,
        })
    }

    fn is_trusted(&self, ip: IpAddr) -> bool {
        self.cidrs.iter().any(|c| c.contains(ip))
    }

    /// Did the request reach us through the trusted chain (so its `X-Forwarded-*` count)?
    pub fn peer_is_trusted(&self, req: &RequestView) -> bool {
        if !self.cidrs.is_empty() {
            return req.source_ip().is_some_and(|ip| self.is_trusted(ip));
        }
        self.hops > 0
    }

    /// The client IP (see the module docs).
    pub fn client_ip(&self, req: &RequestView) -> Option<IpAddr> {
        let peer = req.source_ip();
        if !self.peer_is_trusted(req) {
            return peer;
        }
        let entries: Vec<&str> = req
            .header_values("x-forwarded-for")
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        if self.hops > 0 {
            let n = self.hops as usize;
            return entries
                .len()
                .checked_sub(n)
                .and_then(|i| entries.get(i))
                .and_then(|s| parse_ip(s))
                .or(peer);
        }
        let mut last = None;
        for s in entries.iter().rev() {
            let Some(ip) = parse_ip(s) else {
                // Garbage in the chain: stop believing anything left of it.
                return last.or(peer);
            };
            if !self.is_trusted(ip) {
                return Some(ip);
            }
            last = Some(ip);
        }
        last.or(peer)
    }

    /// Whether the request arrived over HTTPS: the right-most `X-Forwarded-Proto` value (the one
    /// our nearest proxy wrote) when the peer is trusted, else `:scheme`.
    pub fn is_https(&self, req: &RequestView) -> bool {
        if self.peer_is_trusted(req) {
            if let Some(proto) = req
                .header_values("x-forwarded-proto")
                .flat_map(|v| v.split(','))
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .last()
            {
                return proto.eq_ignore_ascii_case("https");
            }
        }
        req.scheme.eq_ignore_ascii_case("https")
    }
}

/// An `X-Forwarded-For` entry: an IP, maybe `[v6]`, maybe with a port.
fn parse_ip(s: &str) -> Option<IpAddr> {
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    if let Some(rest) = s.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok().map(canonical);
    }
    let (host, port) = s.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    host.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::ConnectionInfo;

    fn proxies(json: &str) -> TrustedProxies {
        TrustedProxies::compile(&serde_json::from_str(json).unwrap(), "headers").unwrap()
    }

    fn req(peer: &str, xff: Option<&str>, xfp: Option<&str>, scheme: &str) -> RequestView {
        let mut h = vec![];
        if let Some(x) = xff {
            h.push(("X-Forwarded-For".to_string(), x.to_string()));
        }
        if let Some(x) = xfp {
            h.push(("X-Forwarded-Proto".to_string(), x.to_string()));
        }
        RequestView::new(
            "GET",
            scheme,
            "a.com",
            "/",
            h,
            ConnectionInfo {
                source_ip: peer.parse().ok(),
                ..ConnectionInfo::default()
            },
        )
        .unwrap()
    }

    fn ip(s: &str) -> Option<IpAddr> {
        s.parse().ok()
    }

    #[test]
    fn without_trust_the_peer_is_the_client_and_xff_is_ignored() {
        let p = proxies("{}");
        let r = req("203.0.113.9", Some("1.2.3.4"), Some("https"), "http");
        assert_eq!(p.client_ip(&r), ip("203.0.113.9"));
        assert!(!p.is_https(&r));
    }

    #[test]
    fn trusted_proxies_walk_from_the_right() {
        let p = proxies(r#"{"trusted_proxies":["10.0.0.0/8","192.168.1.1"]}"#);
        let r = req(
            "10.1.2.3",
            Some("6.6.6.6, 198.51.100.7, 192.168.1.1"),
            Some("https"),
            "http",
        );
        assert_eq!(p.client_ip(&r), ip("198.51.100.7"));
        assert!(p.is_https(&r));
        // Peer not trusted: the headers are someone else's words.
        let r = req("203.0.113.9", Some("1.2.3.4"), Some("https"), "http");
        assert_eq!(p.client_ip(&r), ip("203.0.113.9"));
        assert!(!p.is_https(&r));
        // Garbage stops the walk.
        let r = req(
            "10.1.2.3",
            Some("1.2.3.4, nonsense, 10.0.0.5"),
            None,
            "https",
        );
        assert_eq!(p.client_ip(&r), ip("10.0.0.5"));
        // Spoofed proto prepended by the client: the right-most value wins.
        let r = req("10.1.2.3", None, Some("https, http"), "https");
        assert!(!p.is_https(&r));
    }

    #[test]
    fn hop_count_takes_the_nth_from_the_right() {
        let p = proxies(r#"{"xff_trusted_hops":2}"#);
        let r = req(
            "10.0.0.1",
            Some("6.6.6.6, 198.51.100.7, 10.0.0.9"),
            None,
            "http",
        );
        assert_eq!(p.client_ip(&r), ip("198.51.100.7"));
        let r = req("10.0.0.1", Some("10.0.0.9"), None, "http");
        assert_eq!(p.client_ip(&r), ip("10.0.0.1"));
        let r = req(
            "10.0.0.1",
            Some("[2001:db8::1]:443, 1.2.3.4:80"),
            None,
            "http",
        );
        assert_eq!(p.client_ip(&r), ip("2001:db8::1"));
    }

    #[test]
    fn cidr_math() {
        let c = Cidr::parse("10.0.0.0/8").unwrap();
        assert!(c.contains(ip("10.255.0.1").unwrap()));
        assert!(!c.contains(ip("11.0.0.1").unwrap()));
        assert!(c.contains(ip("::ffff:10.0.0.1").unwrap()));
        let c = Cidr::parse("2001:db8::/32").unwrap();
        assert!(c.contains(ip("2001:db8:1::1").unwrap()));
        assert!(!c.contains(ip("2001:db9::1").unwrap()));
        assert!(Cidr::parse("0.0.0.0/0")
            .unwrap()
            .contains(ip("8.8.8.8").unwrap()));
        assert!(Cidr::parse("10.0.0.0/33").is_none());
        assert!(Cidr::parse("nope").is_none());
        let e = TrustedProxies::compile(
            &serde_json::from_str(r#"{"trusted_proxies":["x"]}"#).unwrap(),
            "headers",
        )
        .unwrap_err();
        assert_eq!(e.path, "headers.trusted_proxies[0]");
    }
}
