//! JWT authentication compatible with Envoy's `jwt_authn`, plus claim/permission authorization.
//! (Placeholder stage: filled in by the JWT work.)

pub mod config;

use crate::config::{Config, ConfigError};
use crate::engine::{RequestContext, Step};
use crate::host::Host;

/// Compiled `jwt_authn` section and per-rule requirements.
#[derive(Debug, Default)]
pub struct JwtAuthn {}

/// Per-request JWT state (e.g. which requirement is pending on a JWKS fetch).
#[derive(Debug, Default)]
pub struct JwtStream {}

impl JwtAuthn {
    /// Compile from the whole config (the section plus the rules' `requires`).
    pub fn compile(_config: &Config) -> Result<JwtAuthn, ConfigError> {
        Ok(JwtAuthn {})
    }

    /// Authenticate and authorize the request for its rule.
    pub fn on_request(&self, _ctx: &mut RequestContext<'_>, _stream: &mut JwtStream) -> Step {
        Step::Next
    }

    /// A JWKS fetch answered; true if the token was ours.
    pub fn on_http_call_response(
        &self,
        _token: u32,
        _status: u16,
        _headers: &[(String, String)],
        _body: &[u8],
        _host: &dyn Host,
    ) -> bool {
        false
    }

    /// Timer: refresh JWKS before they expire.
    pub fn on_tick(&self, _host: &dyn Host) {}
}
