//! An echo upstream with a real Envoy (running the built filter) in front of it: the usual
//! e2e setup in one value. Envoy is stopped before the upstream when it is dropped.

use super::{EnvoyInstance, EnvoyOptions};
use crate::echo::EchoUpstream;

/// Envoy (with edgeguard) forwarding to an echo upstream.
pub struct FilterStack {
    /// The running Envoy (declared first: dropped first).
    pub envoy: EnvoyInstance,
    /// The upstream it forwards to.
    pub echo: EchoUpstream,
}

impl FilterStack {
    /// Build the filter if needed, start an echo upstream and Envoy (`--concurrency 2`) with
    /// `plugin_config`.
    pub fn start(plugin_config: &str) -> anyhow::Result<FilterStack> {
        FilterStack::start_with(EnvoyOptions {
            plugin_config: plugin_config.to_string(),
            ..EnvoyOptions::default()
        })
    }

    /// Like [`FilterStack::start`] with more options; `wasm_path` defaults to the built filter
    /// and `upstream` is always the new echo server.
    pub fn start_with(mut opts: EnvoyOptions) -> anyhow::Result<FilterStack> {
        if opts.wasm_path.is_none() {
            opts.wasm_path = Some(crate::paths::build_filter_wasm()?);
        }
        let echo = EchoUpstream::start()?;
        opts.upstream = Some(echo.addr());
        let envoy = EnvoyInstance::start(opts)?;
        Ok(FilterStack { envoy, echo })
    }
}
