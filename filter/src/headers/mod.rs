//! Security response headers, cookie hardening, host allowlist, HTTPS redirect, CORS and the
//! client-IP decision. (Placeholder stage: filled in by the headers work.)

pub mod config;

use crate::config::{Config, ConfigError};
use crate::decision::{HeaderMutations, LocalReply};
use crate::engine::{RequestContext, Step};
use crate::request::RequestView;
use std::net::IpAddr;

/// Compiled `headers` section and per-rule overrides.
#[derive(Debug, Default)]
pub struct HeadersPolicy {}

impl HeadersPolicy {
    /// Compile from the whole config.
    pub fn compile(_config: &Config) -> Result<HeadersPolicy, ConfigError> {
        Ok(HeadersPolicy {})
    }

    /// The client IP: the connection's source address unless trusted proxies say otherwise.
    pub fn client_ip(&self, req: &RequestView) -> Option<IpAddr> {
        req.connection.source_ip
    }

    /// Host allowlist, HTTPS redirect, CORS preflight.
    pub fn on_request(&self, _ctx: &mut RequestContext<'_>) -> Step {
        Step::Next
    }

    /// Security headers, cookie hardening and CORS headers for an upstream response.
    pub fn on_response_headers(
        &self,
        _req: &RequestView,
        _rule: Option<usize>,
        _headers: &[(String, String)],
    ) -> HeaderMutations {
        HeaderMutations::default()
    }

    /// Give edgeguard's own replies the same security headers.
    pub fn decorate_local_reply(&self, _req: &RequestView, _reply: &mut LocalReply) {}
}
