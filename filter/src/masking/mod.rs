//! Masking of sensitive fields in JSON response bodies. (Placeholder stage: filled in by the
//! masking work.)

pub mod config;

use crate::config::{Config, ConfigError};
use crate::decision::{HeaderMutations, ResponseBodyAction};
use crate::engine::RequestContext;
use crate::host::Host;
use crate::request::RequestView;

/// Compiled `masking` section and per-rule settings.
#[derive(Debug, Default)]
pub struct Masker {}

/// Per-response masking state (the buffered body).
#[derive(Debug, Default)]
pub struct MaskingStream {}

impl Masker {
    /// Compile from the whole config.
    pub fn compile(_config: &Config) -> Result<Masker, ConfigError> {
        Ok(Masker {})
    }

    /// Request-side preparation (e.g. drop `accept-encoding` on masked routes).
    pub fn on_request(&self, _ctx: &mut RequestContext<'_>, _stream: &mut MaskingStream) {}

    /// Decide whether this response's body must be buffered and masked.
    pub fn on_response_headers(
        &self,
        _req: &RequestView,
        _rule: Option<usize>,
        _headers: &[(String, String)],
        _stream: &mut MaskingStream,
        _mutations: &mut HeaderMutations,
        _host: &dyn Host,
    ) -> bool {
        false
    }

    /// Buffer/mask the body.
    pub fn on_response_body(
        &self,
        _stream: &mut MaskingStream,
        _chunk: &[u8],
        _end_of_stream: bool,
        _host: &dyn Host,
    ) -> ResponseBodyAction {
        ResponseBodyAction::Continue
    }
}
