//! The Envoy backend: each test file starts a real Envoy (from `envoy/`) with the module and
//! the repo's echo upstream; each request carries a case id header so the echo answers what
//! the file scripted and records what reached it.
//!
//! Not available here (such files/cases need `skip: { envoy: "..." }`): a controllable clock
//! (`advance_ms`), connection facts (`source_address`, `mtls`), http_call outcomes other than a
//! response served from the echo upstream (the `jwks` cluster), and the in-process-only
//! `http_calls` count (ignored).

use super::backend::{Backend, Observed, PluginSetup, Session};
use crate::echo::{EchoUpstream, CASE_HEADER};
use crate::envoy::{EnvoyInstance, EnvoyOptions, FailurePolicy as EnvoyFailurePolicy};
use crate::http::{HttpRequest, HttpResponse};
use crate::proxy::{CalloutOutcome, FailurePolicy, UpstreamRequest};
use crate::state::{ConnectionProps, LogLevel};

/// Runs test files against real Envoy.
#[derive(Default)]
pub struct EnvoyBackend;

impl EnvoyBackend {
    /// A new backend (Envoy is started per file).
    pub fn new() -> EnvoyBackend {
        EnvoyBackend
    }
}

struct EnvoySession {
    envoy: EnvoyInstance,
    echo: EchoUpstream,
    next_case: u64,
}

impl Backend for EnvoyBackend {
    fn name(&self) -> &str {
        "envoy"
    }

    fn start(&mut self, setup: &PluginSetup) -> Result<Box<dyn Session>, String> {
        let echo = EchoUpstream::start().map_err(|e| format!("echo upstream: {e:#}"))?;
        for c in &setup.callouts {
            match (&c.outcome, c.cluster.as_deref()) {
                (CalloutOutcome::Response(r), None | Some("jwks")) => {
                    echo.serve_path(c.path_prefix.as_deref().unwrap_or("/"), r.clone())
                }
                _ => {
                    return Err(format!(
                        "the Envoy backend can only serve http_call responses on the jwks cluster (got {:?} {:?}); skip this file on envoy",
                        c.cluster, c.outcome
                    ))
                }
            }
        }
        let opts = EnvoyOptions {
            wasm_path: Some(setup.wasm.clone()),
            plugin_config: String::from_utf8_lossy(&setup.config).into_owned(),
            concurrency: setup.workers.max(1) as u32,
            env_vars: setup.env.clone(),
            upstream: Some(echo.addr()),
            failure_policy: match setup.failure_policy {
                FailurePolicy::FailClosed => EnvoyFailurePolicy::FailClosed,
                FailurePolicy::FailOpen => EnvoyFailurePolicy::FailOpen,
                FailurePolicy::FailReload => EnvoyFailurePolicy::FailReload,
            },
            log_level: if setup.log_level <= LogLevel::Debug {
                "debug".into()
            } else {
                "info".into()
            },
            root_id: if setup.root_id.is_empty() {
                "edgeguard".into()
            } else {
                setup.root_id.clone()
            },
            ..EnvoyOptions::default()
        };
        let envoy = EnvoyInstance::start(opts).map_err(|e| format!("{e:#}"))?;
        Ok(Box::new(EnvoySession {
            envoy,
            echo,
            next_case: 0,
        }))
    }
}

impl Session for EnvoySession {
    fn send(
        &mut self,
        request: &HttpRequest,
        connection: Option<&ConnectionProps>,
        upstream: &HttpResponse,
    ) -> Result<Observed, String> {
        if connection.is_some() {
            return Err(
                "the Envoy backend cannot set source_address/mtls; skip this case on envoy".into(),
            );
        }
        self.next_case += 1;
        let case = format!("case-{}", self.next_case);
        self.echo.script(&case, upstream.clone());
        let mut req = request.clone();
        req.headers.push((CASE_HEADER.to_string(), case.clone()));
        let response = self.envoy.send(&req).map_err(|e| format!("{e:#}"))?;
        let upstream = self.echo.requests(&case).into_iter().next().map(|w| {
            let mut headers = vec![
                (":path".to_string(), w.path.clone()),
                (":method".to_string(), w.method.clone()),
            ];
            headers.extend(w.headers.into_iter().filter(|(k, _)| k != CASE_HEADER));
            UpstreamRequest {
                headers,
                body: w.body,
                trailers: Vec::new(),
            }
        });
        Ok(Observed {
            response,
            upstream,
            reset: false,
            http_calls: None,
            errors: Vec::new(),
        })
    }

    fn advance(&mut self, _millis: u64) -> Result<(), String> {
        Err("the Envoy backend has no controllable clock; skip this case on envoy".into())
    }

    fn logs(&mut self) -> Vec<String> {
        self.envoy.wasm_logs().into_iter().map(|(_, m)| m).collect()
    }

    fn metric(&mut self, name: &str) -> Option<i64> {
        self.envoy.metric(name).ok().map(|v| v as i64)
    }
}
