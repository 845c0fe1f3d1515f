//! The in-process backend: the wasmtime host in this crate. Modules are compiled once per
//! path and reused by every file.

use super::backend::{Backend, Observed, PluginSetup, Session};
use crate::http::{HttpRequest, HttpResponse, ScriptedResponse};
use crate::proxy::{Proxy, ProxyOptions, ScriptedUpstream};
use crate::state::{ConnectionProps, PluginSettings, SharedHost};
use crate::vm::{CompiledModule, VmLimits};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

/// Runs test files in this process.
#[derive(Default)]
pub struct InProcessBackend {
    modules: HashMap<(PathBuf, bool), Arc<CompiledModule>>,
    /// Limits applied to every VM.
    pub limits: VmLimits,
}

impl InProcessBackend {
    /// A backend with no limits.
    pub fn new() -> InProcessBackend {
        InProcessBackend::default()
    }

    /// Compile (or reuse) a module.
    pub fn module(
        &mut self,
        path: &std::path::Path,
        strict: bool,
    ) -> Result<Arc<CompiledModule>, String> {
        let key = (path.to_path_buf(), strict);
        if let Some(m) = self.modules.get(&key) {
            return Ok(m.clone());
        }
        let m = Arc::new(CompiledModule::from_file(path, strict).map_err(|e| e.to_string())?);
        self.modules.insert(key, m.clone());
        Ok(m)
    }
}

/// Proxy options for a setup.
pub fn options_for(setup: &PluginSetup, limits: VmLimits) -> ProxyOptions {
    ProxyOptions {
        workers: setup.workers,
        settings: PluginSettings {
            plugin_config: setup.config.clone(),
            plugin_name: setup.plugin_name.clone(),
            root_id: setup.root_id.clone(),
            log_level: setup.log_level,
            env: setup.env.clone(),
            strict: setup.strict,
            ..PluginSettings::default()
        },
        limits,
        failure_policy: setup.failure_policy,
        start_time_nanos: setup.start_time_nanos,
        callouts: setup.callouts.clone(),
        known_clusters: None,
        forbidden: Vec::new(),
    }
}

impl Backend for InProcessBackend {
    fn name(&self) -> &str {
        "inprocess"
    }

    fn start(&mut self, setup: &PluginSetup) -> Result<Box<dyn Session>, String> {
        let module = self.module(&setup.wasm, setup.strict)?;
        let shared = Arc::new(SharedHost::default());
        match Proxy::with_shared(module, options_for(setup, self.limits), shared.clone()) {
            Ok(proxy) => Ok(Box::new(InProcessSession { proxy })),
            Err(e) => {
                let logs: Vec<String> = shared
                    .logs_snapshot()
                    .into_iter()
                    .map(|l| l.message)
                    .collect();
                Err(format!("{e}\n{}", logs.join("\n")))
            }
        }
    }
}

/// A started in-process plugin.
pub struct InProcessSession {
    /// The proxy.
    pub proxy: Proxy,
}

impl Session for InProcessSession {
    fn send(
        &mut self,
        request: &HttpRequest,
        connection: Option<&ConnectionProps>,
        upstream: &HttpResponse,
    ) -> Result<Observed, String> {
        self.send_scripted(
            request,
            connection,
            &ScriptedResponse::from(upstream.clone()),
        )
    }

    fn send_scripted(
        &mut self,
        request: &HttpRequest,
        connection: Option<&ConnectionProps>,
        upstream: &ScriptedResponse,
    ) -> Result<Observed, String> {
        let mut up = ScriptedUpstream(upstream.clone());
        let out = self
            .proxy
            .send_with(request, connection.cloned().unwrap_or_default(), &mut up)
            .map_err(|e| e.to_string())?;
        Ok(Observed {
            response: out.response,
            trailers: out.response_trailers,
            upstream: out.upstream,
            reset: out.reset,
            http_calls: Some(out.http_calls.len()),
            errors: out.errors.iter().map(|e| e.to_string()).collect(),
        })
    }

    fn advance(&mut self, millis: u64) -> Result<(), String> {
        let errors = self.proxy.advance(millis);
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors
                .iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("; "))
        }
    }

    fn logs(&mut self) -> Vec<String> {
        self.proxy
            .shared()
            .logs_snapshot()
            .into_iter()
            .map(|l| l.message)
            .collect()
    }

    fn metric(&mut self, name: &str) -> Option<i64> {
        self.proxy.metric(name)
    }
}
