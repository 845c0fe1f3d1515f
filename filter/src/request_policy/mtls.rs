//! mTLS peer identity: a rule can require that the downstream connection is mutual TLS and that
//! the peer certificate's URI or DNS SAN matches an allowlist (exact, or prefix such as a SPIFFE
//! ID prefix). The matched identity goes upstream in `x-peer-identity`.

use crate::config::ConfigError;
use crate::decision::LocalReply;
use crate::request::ConnectionInfo;
use schemars::JsonSchema;
use serde::Deserialize;

/// The header upstream services read the verified peer identity from.
pub const PEER_IDENTITY_HEADER: &str = "x-peer-identity";

/// Per-rule mTLS requirement. Its presence means the connection must be mTLS.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleMtls {
    /// Peer identities allowed; empty = any peer with a verified client certificate.
    #[serde(default)]
    pub allowed_sans: Vec<SanMatch>,
}

/// Which certificate SAN a [`SanMatch`] looks at.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SanKind {
    /// URI SAN (`spiffe://...`), the default.
    #[default]
    Uri,
    /// DNS SAN.
    Dns,
}

/// One allowed identity: exactly one of `exact` or `prefix`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SanMatch {
    /// `uri` (default) or `dns`.
    #[serde(default)]
    pub san: SanKind,
    /// The SAN must equal this.
    #[serde(default)]
    pub exact: Option<String>,
    /// The SAN must start with this (e.g. `spiffe://cluster.local/ns/prod/`).
    #[serde(default)]
    pub prefix: Option<String>,
}

impl RuleMtls {
    /// Validate at `path` (`rules[N].mtls`).
    pub fn validate(&self, path: &str) -> Result<(), ConfigError> {
        for (i, m) in self.allowed_sans.iter().enumerate() {
            let p = format!("{path}.allowed_sans[{i}]");
            let v = match (&m.exact, &m.prefix) {
                (Some(v), None) | (None, Some(v)) => v,
                _ => {
                    return Err(ConfigError::new(
                        p,
                        "exactly one of exact or prefix is required",
                    ))
                }
            };
            if v.is_empty() || !v.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(ConfigError::new(
                    p,
                    "must be non-empty visible ASCII (a SAN value)",
                ));
            }
        }
        Ok(())
    }
}

/// Why a request failed the mTLS requirement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MtlsFailure {
    /// The connection is not mutual TLS.
    NotMtls,
    /// The peer certificate's SANs match no allowed identity.
    PeerNotAllowed,
}

impl MtlsFailure {
    /// Machine reason for logs and metrics.
    pub fn reason(self) -> &'static str {
        match self {
            MtlsFailure::NotMtls => "mtls_required",
            MtlsFailure::PeerNotAllowed => "mtls_peer_not_allowed",
        }
    }

    /// The 403 reply.
    pub fn reply(self) -> LocalReply {
        match self {
            MtlsFailure::NotMtls => {
                LocalReply::error(403, self.reason(), "a client certificate is required")
            }
            MtlsFailure::PeerNotAllowed => LocalReply::error(
                403,
                self.reason(),
                "the client certificate identity is not allowed",
            ),
        }
    }
}

/// A compiled mTLS requirement.
#[derive(Debug, Clone)]
pub struct Mtls {
    allowed: Vec<SanMatch>,
}

/// A SAN we are willing to forward in a header.
fn usable(san: &str) -> bool {
    !san.is_empty() && san.bytes().all(|b| b.is_ascii_graphic())
}

impl Mtls {
    /// Compile validated settings.
    pub fn compile(c: &RuleMtls) -> Mtls {
        Mtls {
            allowed: c.allowed_sans.clone(),
        }
    }

    /// The peer identity to forward, or why the connection does not qualify.
    pub fn check(&self, conn: &ConnectionInfo) -> Result<String, MtlsFailure> {
        if !conn.mtls {
            return Err(MtlsFailure::NotMtls);
        }
        let uris = conn.uri_sans.iter().filter(|s| usable(s));
        let dns = conn.dns_sans.iter().filter(|s| usable(s));
        if self.allowed.is_empty() {
            return uris
                .chain(dns)
                .next()
                .cloned()
                .ok_or(MtlsFailure::PeerNotAllowed);
        }
        for m in &self.allowed {
            let sans: Vec<&String> = match m.san {
                SanKind::Uri => conn.uri_sans.iter().filter(|s| usable(s)).collect(),
                SanKind::Dns => conn.dns_sans.iter().filter(|s| usable(s)).collect(),
            };
            let hit = sans.into_iter().find(|s| match (&m.exact, &m.prefix) {
                (Some(e), _) => *s == e,
                (None, Some(p)) => s.starts_with(p.as_str()),
                (None, None) => false,
            });
            if let Some(s) = hit {
                return Ok(s.clone());
            }
        }
        Err(MtlsFailure::PeerNotAllowed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn(mtls: bool, uris: &[&str], dns: &[&str]) -> ConnectionInfo {
        ConnectionInfo {
            mtls,
            uri_sans: uris.iter().map(|s| s.to_string()).collect(),
            dns_sans: dns.iter().map(|s| s.to_string()).collect(),
            ..ConnectionInfo::default()
        }
    }

    fn m(json: &str) -> Mtls {
        let c: RuleMtls = serde_json::from_str(json).unwrap();
        c.validate("x").unwrap();
        Mtls::compile(&c)
    }

    #[test]
    fn prefix_exact_and_kinds() {
        let p = m(r#"{"allowed_sans":[
            {"prefix":"spiffe://cluster.local/ns/prod/"},
            {"san":"dns","exact":"billing.internal"}]}"#);
        assert_eq!(
            p.check(&conn(true, &["spiffe://cluster.local/ns/prod/sa/web"], &[])),
            Ok("spiffe://cluster.local/ns/prod/sa/web".to_string())
        );
        assert_eq!(
            p.check(&conn(true, &["spiffe://cluster.local/ns/dev/sa/web"], &[])),
            Err(MtlsFailure::PeerNotAllowed)
        );
        // A DNS SAN does not satisfy a URI rule and vice versa.
        assert_eq!(
            p.check(&conn(true, &[], &["spiffe://cluster.local/ns/prod/x"])),
            Err(MtlsFailure::PeerNotAllowed)
        );
        assert_eq!(
            p.check(&conn(true, &["billing.internal"], &["billing.internal"])),
            Ok("billing.internal".to_string())
        );
        assert_eq!(
            p.check(&conn(
                false,
                &["spiffe://cluster.local/ns/prod/sa/web"],
                &[]
            )),
            Err(MtlsFailure::NotMtls)
        );
        // Control characters never go upstream in a header.
        assert_eq!(
            p.check(&conn(
                true,
                &["spiffe://cluster.local/ns/prod/a\r\nx: y"],
                &[]
            )),
            Err(MtlsFailure::PeerNotAllowed)
        );
    }

    #[test]
    fn empty_allowlist_takes_any_verified_peer() {
        let p = m("{}");
        assert_eq!(
            p.check(&conn(true, &[], &["client.example.com"])),
            Ok("client.example.com".to_string())
        );
        assert_eq!(
            p.check(&conn(true, &[], &[])),
            Err(MtlsFailure::PeerNotAllowed)
        );
    }

    #[test]
    fn config_needs_one_of_exact_prefix() {
        for bad in [
            r#"{"allowed_sans":[{}]}"#,
            r#"{"allowed_sans":[{"exact":"a","prefix":"b"}]}"#,
            r#"{"allowed_sans":[{"prefix":""}]}"#,
        ] {
            let c: RuleMtls = serde_json::from_str(bad).unwrap();
            assert_eq!(
                c.validate("rules[1].mtls").unwrap_err().path,
                "rules[1].mtls.allowed_sans[0]"
            );
        }
    }
}
