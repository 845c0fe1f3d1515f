//! The Envoy backend: each test file starts a real Envoy (from `envoy/`) with the module and
//! the repo's echo upstream; each request carries a case id header so the echo answers what
//! the file scripted and records what reached it.
//!
//! Not available here (such files/cases need `skip: { envoy: "..." }`): a controllable clock
//! (`advance_ms`), connection facts (`source_address`, `mtls`), and the in-process-only
//! `http_calls` count (ignored). Scripted http_calls become real clusters (see
//! [`callout_clusters`]); `times` limits are not enforced here.

use super::backend::{Backend, Observed, PluginSetup, Session};
use crate::echo::{EchoUpstream, CASE_HEADER};
use crate::envoy::bootstrap::{static_cluster, JWKS_CLUSTER, UPSTREAM_CLUSTER};
use crate::envoy::callout_targets::{closed_port, CalloutTarget, TargetBehaviour};
use crate::envoy::{EnvoyInstance, EnvoyOptions, FailurePolicy as EnvoyFailurePolicy};
use crate::http::{HttpRequest, HttpResponse, ScriptedResponse};
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
    /// Peers behind the clusters of scripted timeouts and resets (kept alive with Envoy).
    _targets: Vec<CalloutTarget>,
    next_case: u64,
}

/// One Envoy cluster per cluster named in the file's `http_calls`, so the module's calls end
/// as scripted: a response (served by the echo upstream for that path prefix), a timeout (a
/// peer that never answers), a connect failure (a port nobody listens on) or a reset (a peer
/// that resets the connection). Scripts without a cluster are served on the `jwks` cluster.
fn callout_clusters(
    setup: &PluginSetup,
    echo: &EchoUpstream,
) -> Result<(Vec<serde_json::Value>, Vec<CalloutTarget>), String> {
    let mut outcome_of: Vec<(String, &'static str)> = Vec::new();
    let mut clusters = Vec::new();
    let mut targets = Vec::new();
    for c in &setup.callouts {
        let kind = match &c.outcome {
            CalloutOutcome::Response(r) => {
                echo.serve_path(c.path_prefix.as_deref().unwrap_or("/"), r.clone());
                "response"
            }
            CalloutOutcome::Timeout => "timeout",
            CalloutOutcome::ConnectFailure => "connect_failure",
            CalloutOutcome::Reset => "reset",
        };
        let name = match c.cluster.as_deref() {
            None | Some(JWKS_CLUSTER) if kind == "response" => continue,
            None => {
                return Err(format!(
                    "http_calls: an outcome ({kind}) needs a cluster name on the Envoy backend"
                ))
            }
            Some(UPSTREAM_CLUSTER) | Some(JWKS_CLUSTER) => {
                return Err(format!(
                    "http_calls: cluster {:?} is the echo upstream on the Envoy backend; script {kind} on another cluster name",
                    c.cluster
                ))
            }
            Some(n) => n.to_string(),
        };
        if let Some((_, k)) = outcome_of.iter().find(|(n, _)| *n == name) {
            if *k != kind {
                return Err(format!(
                    "http_calls: cluster {name:?} is scripted both as {k} and {kind}; on the Envoy backend one cluster has one outcome"
                ));
            }
            continue;
        }
        outcome_of.push((name.clone(), kind));
        let addr = match &c.outcome {
            CalloutOutcome::Response(_) => echo.addr(),
            CalloutOutcome::ConnectFailure => {
                closed_port().map_err(|e| format!("closed port: {e}"))?
            }
            CalloutOutcome::Timeout | CalloutOutcome::Reset => {
                let behaviour = if c.outcome == CalloutOutcome::Timeout {
                    TargetBehaviour::Silent
                } else {
                    TargetBehaviour::Reset
                };
                let t = CalloutTarget::start(behaviour).map_err(|e| format!("{kind} peer: {e}"))?;
                let a = t.addr();
                targets.push(t);
                a
            }
        };
        clusters.push(static_cluster(&name, addr));
    }
    Ok((clusters, targets))
}

impl Backend for EnvoyBackend {
    fn name(&self) -> &str {
        "envoy"
    }

    fn start(&mut self, setup: &PluginSetup) -> Result<Box<dyn Session>, String> {
        let echo = EchoUpstream::start().map_err(|e| format!("echo upstream: {e:#}"))?;
        let (extra_clusters, targets) = callout_clusters(setup, &echo)?;
        let opts = EnvoyOptions {
            wasm_path: Some(setup.wasm.clone()),
            plugin_config: String::from_utf8_lossy(&setup.config).into_owned(),
            concurrency: setup.workers.max(1) as u32,
            env_vars: setup.env.clone(),
            upstream: Some(echo.addr()),
            extra_clusters,
            failure_policy: match setup.failure_policy {
                FailurePolicy::FailClosed => EnvoyFailurePolicy::FailClosed,
                FailurePolicy::FailOpen => EnvoyFailurePolicy::FailOpen,
                FailurePolicy::FailReload => EnvoyFailurePolicy::FailReload,
            },
            log_level: if setup.log_level <= LogLevel::Trace {
                "trace".into()
            } else if setup.log_level <= LogLevel::Debug {
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
            _targets: targets,
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
        if connection.is_some() {
            return Err(
                "the Envoy backend cannot set source_address/mtls/peer SANs; skip this case on envoy (TLS listeners: testdata/misc/run-envoy-mtls.sh)".into(),
            );
        }
        self.next_case += 1;
        let case = format!("case-{}", self.next_case);
        self.echo.script_delivery(&case, upstream.clone());
        let mut req = request.clone();
        req.headers.push((CASE_HEADER.to_string(), case.clone()));
        let (response, trailers) = self
            .envoy
            .send_with_trailers(&req)
            .map_err(|e| format!("{e:#}"))?;
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
            trailers,
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
