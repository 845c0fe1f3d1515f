//! Service-to-service credentials: RFC 9421 HTTP Message Signatures and simple service tokens.
//! (Placeholder stage: filled in by the service-auth work.)

pub mod config;

use crate::config::{Config, ConfigError};
use crate::engine::{RequestContext, Step};

/// Compiled `service_auth` section.
#[derive(Debug, Default)]
pub struct ServiceAuth {}

/// Per-request service-auth state.
#[derive(Debug, Default)]
pub struct ServiceAuthStream {}

impl ServiceAuth {
    /// Compile from the whole config.
    pub fn compile(_config: &Config) -> Result<ServiceAuth, ConfigError> {
        Ok(ServiceAuth {})
    }

    /// Verify the request's service credential when its rule asks for one.
    pub fn on_request(
        &self,
        _ctx: &mut RequestContext<'_>,
        _stream: &mut ServiceAuthStream,
    ) -> Step {
        Step::Next
    }
}
