//! Local rate limits shared across workers, rate-limit hint headers and brute-force lockout.
//! (Placeholder stage: filled in by the rate-limit work.)

pub mod config;

use crate::config::{Config, ConfigError};
use crate::decision::HeaderMutations;
use crate::engine::{RequestContext, Step};

/// Compiled `rate_limit` section.
#[derive(Debug, Default)]
pub struct RateLimiter {}

/// Per-request rate-limit state (the hint to send back).
#[derive(Debug, Default)]
pub struct RateLimitStream {}

impl RateLimiter {
    /// Compile from the whole config.
    pub fn compile(_config: &Config) -> Result<RateLimiter, ConfigError> {
        Ok(RateLimiter {})
    }

    /// Count the request against its rule's policies.
    pub fn on_request(&self, _ctx: &mut RequestContext<'_>, _stream: &mut RateLimitStream) -> Step {
        Step::Next
    }

    /// `RateLimit` / `X-RateLimit-*` hint headers for the response.
    pub fn response_headers(&self, _stream: &RateLimitStream) -> HeaderMutations {
        HeaderMutations::default()
    }
}
