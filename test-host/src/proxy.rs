//! Several VMs ("workers", like Envoy's per-thread VMs) running one plugin: they share shared
//! data, queues, metrics and logs but not memory. The proxy owns the controllable clock (which
//! drives `proxy_on_tick`), answers http_calls from scripted responses, and drives each HTTP
//! stream through the callbacks the way Envoy does:
//!
//! * request headers (with `:method`, `:path`, `:authority`, `:scheme`, plus the `x-request-id`
//!   and `x-forwarded-proto` Envoy's connection manager adds), body chunks with
//!   `end_of_stream`, trailers; `Pause` on a non-final chunk buffers (StopIterationAndBuffer),
//!   so the next `proxy_on_request_body` sees everything buffered so far; the response side the
//!   same way, with the upstream body in the chunks a [`ScriptedUpstream`] names and its
//!   trailers (`proxy_on_response_trailers`, no body chunk then has `end_of_stream`);
//! * http_call answers are delivered right after the callback that dispatched them returns;
//!   `proxy_continue_stream` resumes a paused side; a pause nothing resumes is reported as
//!   [`HostError::Stalled`];
//! * `proxy_send_local_response` ends the request side (the upstream is never contacted) and
//!   the reply runs through this filter's own response callbacks, as Envoy's local replies go
//!   through the encoder filter chain; a local reply during response headers replaces the
//!   response (without re-running the callbacks); after response headers went out it resets
//!   the stream;
//! * a trap or out-of-fuel in any callback fails the stream with 503 and an empty body
//!   (Envoy's `failStream`) and then follows the [`FailurePolicy`].

use crate::error::HostError;
use crate::http::{split_chunks, HttpRequest, HttpResponse, ScriptedResponse};
use crate::state::{
    lock, CalloutResponse, ConnectionProps, DispatchedCall, LocalReplyRecord, PluginSettings,
    SharedHost, StreamState,
};
use crate::vm::{CompiledModule, Vm, VmLimits, CONTINUE};
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// What happens after a VM traps (Envoy's `failure_policy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailurePolicy {
    /// Envoy's default: that worker answers 503 to every later stream.
    #[default]
    FailClosed,
    /// Later streams on that worker skip the filter (an auth bypass in a security filter).
    FailOpen,
    /// The VM is recreated (and reconfigured) before the next stream.
    FailReload,
}

/// How a scripted http_call ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CalloutOutcome {
    /// The cluster answers.
    Response(HttpResponse),
    /// The call times out: Envoy's async client answers 504 `upstream request timeout`.
    Timeout,
    /// The connection fails: Envoy's async client answers 503 `upstream connect error ...
    /// reset reason: remote connection failure`.
    ConnectFailure,
    /// The peer resets the connection: 503 `... reset reason: connection termination`.
    Reset,
}

/// A scripted answer for http_calls matching a cluster and path prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalloutScript {
    /// Cluster to match (`None` = any).
    pub cluster: Option<String>,
    /// `:path` prefix to match (`None` = any).
    pub path_prefix: Option<String>,
    /// The answer.
    pub outcome: CalloutOutcome,
    /// How many calls it answers (`None` = any number).
    pub times: Option<u32>,
}

/// Everything that sets up a proxy.
#[derive(Debug, Clone)]
pub struct ProxyOptions {
    /// Number of worker VMs.
    pub workers: usize,
    /// Plugin settings (config, names, log level, env, strict).
    pub settings: PluginSettings,
    /// Per-VM limits.
    pub limits: VmLimits,
    /// After-trap behaviour.
    pub failure_policy: FailurePolicy,
    /// Clock start, ns since the epoch.
    pub start_time_nanos: u64,
    /// Scripted http_call answers.
    pub callouts: Vec<CalloutScript>,
    /// Clusters http_call accepts (`None` = any; others get BadArgument like Envoy).
    pub known_clusters: Option<Vec<String>>,
    /// Host features refused (`http_call`, `timers`, `metrics`, `shared_data`).
    pub forbidden: Vec<&'static str>,
}

impl Default for ProxyOptions {
    fn default() -> Self {
        ProxyOptions {
            workers: 1,
            settings: PluginSettings::default(),
            limits: VmLimits::default(),
            failure_policy: FailurePolicy::default(),
            // 2026-01-01T00:00:00Z
            start_time_nanos: 1_767_225_600_000_000_000,
            callouts: Vec::new(),
            known_clusters: None,
            forbidden: Vec::new(),
        }
    }
}

/// The request as it leaves the proxy for the upstream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpstreamRequest {
    /// Headers including pseudo-headers, after the filter's changes.
    pub headers: Vec<(String, String)>,
    /// Body after the filter.
    pub body: Vec<u8>,
    /// Trailers.
    pub trailers: Vec<(String, String)>,
}

impl UpstreamRequest {
    /// First value of a header (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Answers requests that pass the filter.
pub trait Upstream {
    /// The response for one upstream request.
    fn respond(&mut self, request: &UpstreamRequest) -> HttpResponse;

    /// The response with its delivery (body chunks, trailers); default: one piece, no trailers.
    fn respond_scripted(&mut self, request: &UpstreamRequest) -> ScriptedResponse {
        ScriptedResponse::from(self.respond(request))
    }
}

/// An upstream that always answers the same response, delivered as scripted: the body in
/// separate `proxy_on_response_body` calls of the given sizes, then the trailers.
#[derive(Debug, Clone)]
pub struct ScriptedUpstream(pub ScriptedResponse);

impl Upstream for ScriptedUpstream {
    fn respond(&mut self, _request: &UpstreamRequest) -> HttpResponse {
        self.0.response.clone()
    }

    fn respond_scripted(&mut self, _request: &UpstreamRequest) -> ScriptedResponse {
        self.0.clone()
    }
}

/// An upstream that always answers the same response.
#[derive(Debug, Clone)]
pub struct FixedUpstream(pub HttpResponse);

impl Upstream for FixedUpstream {
    fn respond(&mut self, _request: &UpstreamRequest) -> HttpResponse {
        self.0.clone()
    }
}

/// What happened to one stream.
#[derive(Debug, Clone, Default)]
pub struct StreamOutcome {
    /// What the client received.
    pub response: HttpResponse,
    /// Response trailers the client received (after the filter's changes).
    pub response_trailers: Vec<(String, String)>,
    /// What the upstream received (`None` when it was never contacted).
    pub upstream: Option<UpstreamRequest>,
    /// The local reply the module sent, if any.
    pub local_reply: Option<LocalReplyRecord>,
    /// The stream was reset instead of answered.
    pub reset: bool,
    /// Worker that ran it.
    pub worker: usize,
    /// Problems: ABI violations, unexpected http_calls, stalls, traps.
    pub errors: Vec<HostError>,
    /// The trap that failed this stream's VM, if one did.
    pub vm_failure: Option<HostError>,
    /// http_calls dispatched during the stream.
    pub http_calls: Vec<DispatchedCall>,
    /// Fuel all callbacks of this stream used (including http_call answers it caused).
    pub fuel: u64,
}

struct Worker {
    vm: Option<Vm>,
    failed: Option<HostError>,
    next_context: u32,
    next_tick_at: Option<u64>,
}

/// A running plugin: N worker VMs plus the shared host.
pub struct Proxy {
    module: Arc<CompiledModule>,
    opts: ProxyOptions,
    shared: Arc<SharedHost>,
    settings: Arc<PluginSettings>,
    workers: Vec<Worker>,
    next_worker: usize,
    request_counter: u64,
    callout_uses: Vec<u32>,
}

/// A stream whose request side ran (see [`Proxy::begin`]); finish it with [`Proxy::complete`].
pub struct OpenStream {
    context: u32,
    outcome: StreamOutcome,
    done: bool,
    fuel_start: u64,
}

impl OpenStream {
    /// What the upstream will receive (`None` when the stream already ended).
    pub fn upstream(&self) -> Option<&UpstreamRequest> {
        self.outcome.upstream.as_ref()
    }
}

enum Flow {
    Continue,
    Paused,
    LocalReply,
    Reset,
    Failed,
}

const MS: u64 = 1_000_000;

impl Proxy {
    /// Start `opts.workers` VMs: instantiate, `proxy_on_vm_start`, `proxy_on_configure`.
    pub fn new(module: Arc<CompiledModule>, opts: ProxyOptions) -> Result<Proxy, HostError> {
        Proxy::with_shared(module, opts, Arc::new(SharedHost::default()))
    }

    /// [`Proxy::new`] over a caller-made shared host, so its logs stay readable when the
    /// plugin refuses to start.
    pub fn with_shared(
        module: Arc<CompiledModule>,
        opts: ProxyOptions,
        shared: Arc<SharedHost>,
    ) -> Result<Proxy, HostError> {
        shared
            .clock_nanos
            .store(opts.start_time_nanos, Ordering::SeqCst);
        let settings = Arc::new(opts.settings.clone());
        let mut proxy = Proxy {
            module,
            shared,
            settings,
            workers: Vec::new(),
            next_worker: 0,
            request_counter: 0,
            callout_uses: vec![0; opts.callouts.len()],
            opts,
        };
        for w in 0..proxy.opts.workers.max(1) {
            let vm = proxy.new_vm(w)?;
            proxy.workers.push(Worker {
                vm: Some(vm),
                failed: None,
                next_context: 2,
                next_tick_at: None,
            });
        }
        let mut errors = Vec::new();
        for w in 0..proxy.workers.len() {
            proxy.pump(&mut errors);
            proxy.sync_tick(w);
        }
        if let Some(e) = errors.into_iter().next() {
            return Err(e);
        }
        Ok(proxy)
    }

    fn new_vm(&self, worker: usize) -> Result<Vm, HostError> {
        let mut vm = Vm::new(
            &self.module,
            worker,
            self.shared.clone(),
            self.settings.clone(),
            self.opts.limits,
        )?;
        vm.state_mut().known_clusters = self.opts.known_clusters.clone();
        vm.state_mut().forbidden = self.opts.forbidden.clone();
        vm.start(1)?;
        let errs = std::mem::take(&mut vm.state_mut().abi_errors);
        if self.settings.strict && !errs.is_empty() {
            return Err(HostError::AbiViolation { messages: errs });
        }
        Ok(vm)
    }

    /// The shared host (metrics, logs, shared data, clock).
    pub fn shared(&self) -> &Arc<SharedHost> {
        &self.shared
    }

    /// Number of workers.
    pub fn workers(&self) -> usize {
        self.workers.len()
    }

    /// A worker's VM (`None` after it failed).
    pub fn vm(&self, worker: usize) -> Option<&Vm> {
        self.workers.get(worker).and_then(|w| w.vm.as_ref())
    }

    /// Mutable access to a worker's VM.
    pub fn vm_mut(&mut self, worker: usize) -> Option<&mut Vm> {
        self.workers.get_mut(worker).and_then(|w| w.vm.as_mut())
    }

    /// Metric value by name (summed across VMs).
    pub fn metric(&self, name: &str) -> Option<i64> {
        self.shared.metric(name)
    }

    /// Current clock.
    pub fn now_nanos(&self) -> u64 {
        self.shared.now_nanos()
    }

    /// Move the clock forward, running every `proxy_on_tick` that falls due on the way (and the
    /// http_calls and queue notifications they cause). Returns problems seen.
    pub fn advance(&mut self, millis: u64) -> Vec<HostError> {
        let target = self.now_nanos().saturating_add(millis.saturating_mul(MS));
        let mut errors = Vec::new();
        loop {
            let due = self
                .workers
                .iter()
                .enumerate()
                .filter_map(|(i, w)| w.next_tick_at.filter(|t| *t <= target).map(|t| (t, i)))
                .min();
            let Some((at, w)) = due else { break };
            self.shared.clock_nanos.store(at, Ordering::SeqCst);
            let result = match self.workers.get_mut(w).and_then(|wk| wk.vm.as_mut()) {
                Some(vm) => vm.on_tick(),
                None => Ok(()),
            };
            if let Err(e) = result {
                self.fail_worker(w, e.clone());
                errors.push(e);
            }
            self.collect_abi_errors(w, &mut errors);
            self.pump(&mut errors);
            if let Some(wk) = self.workers.get_mut(w) {
                wk.next_tick_at = None;
            }
            self.sync_tick_from(w, at);
        }
        self.shared.clock_nanos.store(target, Ordering::SeqCst);
        errors
    }

    /// Set the clock (only forward moves run ticks).
    pub fn set_time(&mut self, nanos: u64) -> Vec<HostError> {
        let now = self.now_nanos();
        if nanos > now {
            self.advance((nanos - now) / MS)
        } else {
            self.shared.clock_nanos.store(nanos, Ordering::SeqCst);
            Vec::new()
        }
    }

    fn sync_tick(&mut self, w: usize) {
        let now = self.now_nanos();
        self.sync_tick_from(w, now);
    }

    fn sync_tick_from(&mut self, w: usize, from: u64) {
        let Some(wk) = self.workers.get_mut(w) else {
            return;
        };
        let period = wk
            .vm
            .as_ref()
            .map(|v| v.state().tick_period_ms)
            .unwrap_or(0);
        if period == 0 {
            wk.next_tick_at = None;
        } else if wk.next_tick_at.is_none() {
            wk.next_tick_at = Some(from + u64::from(period) * MS);
        }
    }

    fn fail_worker(&mut self, w: usize, e: HostError) {
        if let Some(wk) = self.workers.get_mut(w) {
            wk.vm = None;
            wk.failed = Some(e);
            wk.next_tick_at = None;
        }
    }

    fn collect_abi_errors(&mut self, w: usize, errors: &mut Vec<HostError>) {
        let strict = self.settings.strict;
        if let Some(vm) = self.workers.get_mut(w).and_then(|wk| wk.vm.as_mut()) {
            let errs = std::mem::take(&mut vm.state_mut().abi_errors);
            if strict && !errs.is_empty() {
                errors.push(HostError::AbiViolation { messages: errs });
            }
        }
    }

    fn resolve_callout(
        &mut self,
        call: &DispatchedCall,
        errors: &mut Vec<HostError>,
    ) -> CalloutResponse {
        let path = call
            .headers
            .iter()
            .find(|(k, _)| k == ":path")
            .map(|(_, v)| v.as_str())
            .unwrap_or("");
        let mut chosen = None;
        for (i, s) in self.opts.callouts.iter().enumerate() {
            let cluster_ok = s.cluster.as_ref().is_none_or(|c| *c == call.cluster);
            let path_ok = s
                .path_prefix
                .as_ref()
                .is_none_or(|p| path.starts_with(p.as_str()));
            let left = s
                .times
                .is_none_or(|t| self.callout_uses.get(i).copied().unwrap_or(0) < t);
            if cluster_ok && path_ok && left {
                chosen = Some((i, s.outcome.clone()));
                break;
            }
        }
        let outcome = match chosen {
            Some((i, o)) => {
                if let Some(n) = self.callout_uses.get_mut(i) {
                    *n += 1;
                }
                o
            }
            None => {
                if self.settings.strict {
                    let method = call
                        .headers
                        .iter()
                        .find(|(k, _)| k == ":method")
                        .map(|(_, v)| v.as_str())
                        .unwrap_or("");
                    errors.push(HostError::UnexpectedHttpCall {
                        cluster: call.cluster.clone(),
                        request: format!("{method} {path}"),
                    });
                }
                CalloutOutcome::Reset
            }
        };
        let plain = |status: u16, body: &str| CalloutResponse {
            headers: vec![
                (":status".into(), status.to_string()),
                ("content-length".into(), body.len().to_string()),
                ("content-type".into(), "text/plain".into()),
            ],
            body: body.as_bytes().to_vec(),
            trailers: Vec::new(),
        };
        match outcome {
            CalloutOutcome::Response(r) => {
                let mut headers = vec![(":status".to_string(), r.status.to_string())];
                headers.extend(r.headers.iter().map(|(k, v)| (k.to_ascii_lowercase(), v.clone())));
                if !headers.iter().any(|(k, _)| k == "content-length") {
                    headers.push(("content-length".into(), r.body.len().to_string()));
                }
                CalloutResponse { headers, body: r.body, trailers: Vec::new() }
            }
            CalloutOutcome::Timeout => plain(504, "upstream request timeout"),
            CalloutOutcome::ConnectFailure => plain(
                503,
                "upstream connect error or disconnect/reset before headers. reset reason: remote connection failure",
            ),
            CalloutOutcome::Reset => plain(
                503,
                "upstream connect error or disconnect/reset before headers. reset reason: connection termination",
            ),
        }
    }

    /// Deliver queue notifications and http_call answers until nothing is pending.
    fn pump(&mut self, errors: &mut Vec<HostError>) {
        for _round in 0..1000 {
            let mut progressed = false;
            let notes = std::mem::take(&mut *lock(&self.shared.queue_ready));
            for (w, root, q) in notes {
                progressed = true;
                let r = match self.workers.get_mut(w).and_then(|wk| wk.vm.as_mut()) {
                    Some(vm) => vm.on_queue_ready(root, q),
                    None => Ok(()),
                };
                if let Err(e) = r {
                    self.fail_worker(w, e.clone());
                    errors.push(e);
                }
                self.collect_abi_errors(w, errors);
            }
            for w in 0..self.workers.len() {
                let calls = match self.workers.get_mut(w).and_then(|wk| wk.vm.as_mut()) {
                    Some(vm) => std::mem::take(&mut vm.state_mut().dispatched),
                    None => continue,
                };
                for call in calls {
                    progressed = true;
                    let resp = self.resolve_callout(&call, errors);
                    let Some(vm) = self.workers.get_mut(w).and_then(|wk| wk.vm.as_mut()) else {
                        break;
                    };
                    let alive = call.context_id == vm.state().root_context_id
                        || vm.state().streams.contains_key(&call.context_id);
                    if !alive {
                        continue;
                    }
                    let (nh, nb, nt) = (resp.headers.len(), resp.body.len(), resp.trailers.len());
                    vm.state_mut().callout_response = Some(resp);
                    let r = vm.on_http_call_response(call.context_id, call.token, nh, nb, nt);
                    vm.state_mut().callout_response = None;
                    if let Err(e) = r {
                        self.fail_worker(w, e.clone());
                        errors.push(e);
                    }
                    self.collect_abi_errors(w, errors);
                }
                self.sync_tick(w);
            }
            if !progressed {
                return;
            }
        }
    }

    fn pick_worker(&mut self, req: &HttpRequest) -> usize {
        let n = self.workers.len().max(1);
        let _ = req;
        let w = self.next_worker % n;
        self.next_worker = self.next_worker.wrapping_add(1);
        w
    }

    fn request_headers(&mut self, req: &HttpRequest) -> Vec<(String, String)> {
        self.request_counter += 1;
        let mut authority = req.authority.clone();
        let mut rest = Vec::new();
        for (k, v) in &req.headers {
            let k = k.to_ascii_lowercase();
            if k == "host" {
                if authority.is_empty() {
                    authority = v.clone();
                }
                continue;
            }
            rest.push((k, v.clone()));
        }
        let scheme = if req.scheme.is_empty() {
            "http".to_string()
        } else {
            req.scheme.clone()
        };
        let mut h = vec![
            (
                ":authority".to_string(),
                if authority.is_empty() {
                    "localhost".to_string()
                } else {
                    authority
                },
            ),
            (":path".to_string(), req.path.clone()),
            (":method".to_string(), req.method.clone()),
            (":scheme".to_string(), scheme.clone()),
        ];
        h.extend(rest);
        if !h.iter().any(|(k, _)| k == "x-forwarded-proto") {
            h.push(("x-forwarded-proto".into(), scheme));
        }
        if !h.iter().any(|(k, _)| k == "x-request-id") {
            let n = self.request_counter;
            h.push((
                "x-request-id".into(),
                format!("00000000-0000-4000-8000-{n:012x}"),
            ));
        }
        h
    }

    /// Run one request through the filter and the upstream: the whole stream.
    pub fn send(
        &mut self,
        req: &HttpRequest,
        upstream: &mut dyn Upstream,
    ) -> Result<StreamOutcome, HostError> {
        self.send_with(req, ConnectionProps::default(), upstream)
    }

    /// [`Proxy::send`] with explicit connection facts (`source.address`, mTLS...).
    pub fn send_with(
        &mut self,
        req: &HttpRequest,
        conn: ConnectionProps,
        upstream: &mut dyn Upstream,
    ) -> Result<StreamOutcome, HostError> {
        let open = self.begin(req, conn)?;
        Ok(self.complete(open, upstream))
    }

    fn stream_mut(&mut self, w: usize, ctx: u32) -> Option<&mut StreamState> {
        self.workers
            .get_mut(w)?
            .vm
            .as_mut()?
            .state_mut()
            .streams
            .get_mut(&ctx)
    }

    /// After a callback on the stream: pump, then see what the stream should do.
    fn settle(
        &mut self,
        out: &mut StreamOutcome,
        ctx: u32,
        result: Result<i32, HostError>,
        response: bool,
    ) -> Flow {
        let w = out.worker;
        let action = match result {
            Ok(a) => a,
            Err(e) => {
                out.errors.push(e.clone());
                out.vm_failure = Some(e.clone());
                self.fail_worker(w, e);
                return Flow::Failed;
            }
        };
        self.collect_abi_errors(w, &mut out.errors);
        let mut errs = Vec::new();
        self.pump(&mut errs);
        for e in errs {
            if matches!(e, HostError::Trap { .. } | HostError::OutOfFuel { .. })
                && self.workers.get(w).is_some_and(|wk| wk.vm.is_none())
            {
                out.vm_failure = Some(e.clone());
            }
            out.errors.push(e);
        }
        if out.vm_failure.is_some() {
            return Flow::Failed;
        }
        let Some(s) = self.stream_mut(w, ctx) else {
            return Flow::Failed;
        };
        if s.local_reply.is_some() {
            return Flow::LocalReply;
        }
        if s.closed {
            return Flow::Reset;
        }
        let resumed = if response {
            std::mem::take(&mut s.resume_response)
        } else {
            std::mem::take(&mut s.resume_request)
        };
        if action == CONTINUE || resumed {
            Flow::Continue
        } else {
            Flow::Paused
        }
    }

    fn fuel_of(&self, w: usize) -> u64 {
        self.workers
            .get(w)
            .and_then(|wk| wk.vm.as_ref())
            .map(|v| v.fuel_used)
            .unwrap_or(0)
    }

    /// Run the request side of a stream (headers, body chunks, trailers) up to the point where
    /// it would go upstream, and keep the stream open. Used directly to hold many streams open.
    pub fn begin(
        &mut self,
        req: &HttpRequest,
        conn: ConnectionProps,
    ) -> Result<OpenStream, HostError> {
        let w = self.pick_worker(req);
        let headers = self.request_headers(req);
        let mut out = StreamOutcome {
            worker: w,
            ..Default::default()
        };
        // A failed worker: policy decides.
        let failed = self.workers.get(w).and_then(|wk| wk.failed.clone());
        if let Some(e) = failed {
            match self.opts.failure_policy {
                FailurePolicy::FailClosed => {
                    out.vm_failure = Some(e);
                    out.response = HttpResponse {
                        status: 503,
                        headers: vec![("content-length".into(), "0".into())],
                        body: Vec::new(),
                    };
                    return Ok(OpenStream {
                        context: 0,
                        outcome: out,
                        done: true,
                        fuel_start: 0,
                    });
                }
                FailurePolicy::FailOpen => {
                    out.upstream = Some(UpstreamRequest {
                        headers,
                        body: req.body.clone(),
                        trailers: Vec::new(),
                    });
                    return Ok(OpenStream {
                        context: 0,
                        outcome: out,
                        done: false,
                        fuel_start: 0,
                    });
                }
                FailurePolicy::FailReload => {
                    let vm = self.new_vm(w)?;
                    if let Some(wk) = self.workers.get_mut(w) {
                        wk.vm = Some(vm);
                        wk.failed = None;
                        wk.next_context = 2;
                    }
                    self.sync_tick(w);
                }
            }
        }
        let fuel_start = self.fuel_of(w);
        let Some(wk) = self.workers.get_mut(w) else {
            return Err(HostError::Instantiate {
                reason: "no worker".into(),
            });
        };
        let ctx = wk.next_context;
        wk.next_context += 1;
        let Some(vm) = wk.vm.as_mut() else {
            return Err(HostError::Instantiate {
                reason: "worker has no VM".into(),
            });
        };
        let n_headers = headers.len();
        vm.state_mut().streams.insert(
            ctx,
            StreamState {
                request_headers: headers,
                connection: conn,
                ..Default::default()
            },
        );
        let root = vm.state().root_context_id;
        let mut open = OpenStream {
            context: ctx,
            outcome: out,
            done: false,
            fuel_start,
        };
        let r = vm.on_context_create(ctx, root).map(|_| CONTINUE);
        if let Flow::Failed = self.settle(&mut open.outcome, ctx, r, false) {
            self.fail_stream(&mut open);
            return Ok(open);
        }
        let chunks: Vec<Vec<u8>> = if req.body.is_empty() {
            Vec::new()
        } else {
            split_chunks(&req.body, &req.chunk_sizes)
                .into_iter()
                .map(|c| c.to_vec())
                .collect()
        };
        let r = self.with_vm(w, |vm| {
            vm.on_headers(ctx, false, n_headers, chunks.is_empty())
        });
        let mut forwarded = Vec::new();
        let mut flow = self.settle(&mut open.outcome, ctx, r, false);
        if let Flow::Continue = flow {
            if let Some(s) = self.stream_mut(w, ctx) {
                s.request_headers_released = true;
            }
        }
        if let Flow::Paused = flow {
            open.outcome.errors.push(HostError::Stalled {
                at: "proxy_on_request_headers".into(),
            });
            flow = Flow::Reset;
        }
        let count = chunks.len();
        if let Flow::Continue = flow {
            for (i, chunk) in chunks.into_iter().enumerate() {
                let eos = i + 1 == count;
                let size = match self.stream_mut(w, ctx) {
                    Some(s) => {
                        s.request_body.extend_from_slice(&chunk);
                        s.request_body.len()
                    }
                    None => 0,
                };
                let r = self.with_vm(w, |vm| vm.on_body(ctx, false, size, eos));
                flow = self.settle(&mut open.outcome, ctx, r, false);
                match flow {
                    Flow::Continue => {
                        if let Some(s) = self.stream_mut(w, ctx) {
                            forwarded.append(&mut s.request_body);
                        }
                    }
                    Flow::Paused if !eos => {}
                    Flow::Paused => {
                        open.outcome.errors.push(HostError::Stalled {
                            at: "proxy_on_request_body (end_of_stream)".into(),
                        });
                        flow = Flow::Reset;
                        break;
                    }
                    _ => break,
                }
            }
        }
        match flow {
            Flow::Continue => {
                let headers = self
                    .stream_mut(w, ctx)
                    .map(|s| s.request_headers.clone())
                    .unwrap_or_default();
                open.outcome.upstream = Some(UpstreamRequest {
                    headers,
                    body: forwarded,
                    trailers: Vec::new(),
                });
            }
            Flow::LocalReply => self.local_reply_path(&mut open),
            Flow::Reset | Flow::Paused => {
                open.outcome.reset = true;
                self.finish(&mut open);
            }
            Flow::Failed => self.fail_stream(&mut open),
        }
        Ok(open)
    }

    fn with_vm(
        &mut self,
        w: usize,
        f: impl FnOnce(&mut Vm) -> Result<i32, HostError>,
    ) -> Result<i32, HostError> {
        match self.workers.get_mut(w).and_then(|wk| wk.vm.as_mut()) {
            Some(vm) => f(vm),
            None => Err(HostError::Instantiate {
                reason: "worker VM is gone".into(),
            }),
        }
    }

    /// Envoy's `failStream`: 503, empty body, no more callbacks; the VM is marked failed.
    fn fail_stream(&mut self, open: &mut OpenStream) {
        open.outcome.response = HttpResponse {
            status: 503,
            headers: vec![("content-length".into(), "0".into())],
            body: Vec::new(),
        };
        open.outcome.upstream = None;
        open.done = true;
        let w = open.outcome.worker;
        open.outcome.fuel = self.fuel_of(w).saturating_sub(open.fuel_start);
    }

    /// End the stream: on_done/on_log/on_delete, drop its state, collect calls and fuel.
    fn finish(&mut self, open: &mut OpenStream) {
        open.done = true;
        let w = open.outcome.worker;
        let ctx = open.context;
        if ctx == 0 {
            return;
        }
        let r = self.with_vm(w, |vm| vm.finish_context(ctx).map(|_| CONTINUE));
        if let Err(e) = r {
            if self.workers.get(w).is_some_and(|wk| wk.vm.is_some()) {
                out_fail(&mut open.outcome, e.clone());
                self.fail_worker(w, e);
            }
        }
        self.collect_abi_errors(w, &mut open.outcome.errors);
        if let Some(vm) = self.workers.get_mut(w).and_then(|wk| wk.vm.as_mut()) {
            vm.state_mut().streams.remove(&ctx);
            let calls: Vec<DispatchedCall> = vm
                .state()
                .call_log
                .iter()
                .filter(|c| c.context_id == ctx)
                .cloned()
                .collect();
            vm.state_mut().call_log.retain(|c| c.context_id != ctx);
            open.outcome.http_calls = calls;
        }
        open.outcome.fuel = self.fuel_of(w).saturating_sub(open.fuel_start);
    }

    fn local_reply_path(&mut self, open: &mut OpenStream) {
        let w = open.outcome.worker;
        let ctx = open.context;
        let Some(reply) = self.stream_mut(w, ctx).and_then(|s| s.local_reply.take()) else {
            return;
        };
        let mut headers = vec![(":status".to_string(), reply.status.to_string())];
        headers.extend(reply.headers.iter().cloned());
        if !reply.body.is_empty() {
            headers.push(("content-length".into(), reply.body.len().to_string()));
            if !headers.iter().any(|(k, _)| k == "content-type") {
                headers.push(("content-type".into(), "text/plain".into()));
            }
        }
        open.outcome.local_reply = Some(reply.clone());
        open.outcome.upstream = None;
        // The reply goes through this filter's response callbacks (Envoy's encoder chain).
        let resp = HttpResponse {
            status: reply.status,
            headers: strip_pseudo(&headers),
            body: reply.body.clone(),
        };
        self.response_path(open, headers, resp.body, Delivery::default(), true);
    }

    /// Finish a stream begun with [`Proxy::begin`]: send it upstream (if it got that far), run
    /// the response callbacks, end the stream.
    pub fn complete(&mut self, mut open: OpenStream, upstream: &mut dyn Upstream) -> StreamOutcome {
        if open.done {
            return open.outcome;
        }
        let Some(up) = open.outcome.upstream.clone() else {
            self.finish(&mut open);
            return open.outcome;
        };
        let ScriptedResponse {
            response: resp,
            chunk_sizes,
            trailers,
        } = upstream.respond_scripted(&up);
        if open.context == 0 {
            // Fail-open bypass: no filter.
            open.outcome.response = resp;
            return open.outcome;
        }
        let mut headers = vec![(":status".to_string(), resp.status.to_string())];
        headers.extend(
            resp.headers
                .iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v.clone())),
        );
        let delivery = Delivery {
            chunk_sizes: &chunk_sizes,
            trailers,
        };
        self.response_path(&mut open, headers, resp.body, delivery, false);
        open.outcome
    }

    fn response_path(
        &mut self,
        open: &mut OpenStream,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
        delivery: Delivery<'_>,
        is_local_reply: bool,
    ) {
        let w = open.outcome.worker;
        let ctx = open.context;
        let status: u16 = headers
            .iter()
            .find(|(k, _)| k == ":status")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(200);
        let n = headers.len();
        if let Some(s) = self.stream_mut(w, ctx) {
            s.response_headers = headers;
            s.response_code = Some(status);
        }
        let chunks: Vec<Vec<u8>> = if body.is_empty() {
            Vec::new()
        } else {
            split_chunks(&body, delivery.chunk_sizes)
                .into_iter()
                .map(|c| c.to_vec())
                .collect()
        };
        let has_trailers = !delivery.trailers.is_empty();
        let r = self.with_vm(w, |vm| {
            vm.on_headers(ctx, true, n, chunks.is_empty() && !has_trailers)
        });
        let mut flow = self.settle(&mut open.outcome, ctx, r, true);
        if let Flow::LocalReply = flow {
            let reply = self.stream_mut(w, ctx).and_then(|s| s.local_reply.take());
            if is_local_reply {
                // Envoy ignores a second local reply while sending one.
                flow = Flow::Continue;
            } else if let Some(reply) = reply {
                // Replaces the upstream response; the callbacks do not run again.
                let mut h = reply.headers.clone();
                if !reply.body.is_empty() {
                    h.push(("content-length".into(), reply.body.len().to_string()));
                    if !h.iter().any(|(k, _)| k == "content-type") {
                        h.push(("content-type".into(), "text/plain".into()));
                    }
                }
                open.outcome.response = HttpResponse {
                    status: reply.status,
                    headers: h,
                    body: reply.body.clone(),
                };
                open.outcome.local_reply = Some(reply);
                self.finish(open);
                return;
            }
        }
        if let Flow::Continue = flow {
            if let Some(s) = self.stream_mut(w, ctx) {
                s.response_headers_released = true;
            }
        }
        if let Flow::Paused = flow {
            if chunks.is_empty() {
                open.outcome.errors.push(HostError::Stalled {
                    at: "proxy_on_response_headers".into(),
                });
                flow = Flow::Reset;
            } else {
                // 0.2.x: StopAllIteration; the body arrives once resumed, which never happens here.
                open.outcome.errors.push(HostError::Stalled {
                    at: "proxy_on_response_headers".into(),
                });
                flow = Flow::Reset;
            }
        }
        let mut sent_body = Vec::new();
        if let Flow::Continue = flow {
            let count = chunks.len();
            for (i, chunk) in chunks.into_iter().enumerate() {
                let eos = i + 1 == count && !has_trailers;
                let size = match self.stream_mut(w, ctx) {
                    Some(s) => {
                        s.response_body.extend_from_slice(&chunk);
                        s.response_body.len()
                    }
                    None => 0,
                };
                let r = self.with_vm(w, |vm| vm.on_body(ctx, true, size, eos));
                flow = self.settle(&mut open.outcome, ctx, r, true);
                match flow {
                    Flow::Continue => {
                        if let Some(s) = self.stream_mut(w, ctx) {
                            sent_body.append(&mut s.response_body);
                        }
                    }
                    Flow::Paused if !eos => {}
                    Flow::Paused => {
                        open.outcome.errors.push(HostError::Stalled {
                            at: "proxy_on_response_body (end_of_stream)".into(),
                        });
                        flow = Flow::Reset;
                        break;
                    }
                    Flow::LocalReply if is_local_reply => {
                        if let Some(s) = self.stream_mut(w, ctx) {
                            s.local_reply = None;
                            sent_body.append(&mut s.response_body);
                        }
                        flow = Flow::Continue;
                    }
                    Flow::LocalReply => {
                        // Headers already went to the client: Envoy resets the stream.
                        flow = Flow::Reset;
                        break;
                    }
                    _ => break,
                }
            }
        }
        if has_trailers && matches!(flow, Flow::Continue | Flow::Paused) {
            flow = self.response_trailers(open, delivery.trailers, &mut sent_body, is_local_reply);
        }
        match flow {
            Flow::Continue => {
                let headers = self
                    .stream_mut(w, ctx)
                    .map(|s| s.response_headers.clone())
                    .unwrap_or_default();
                let status = headers
                    .iter()
                    .find(|(k, _)| k == ":status")
                    .and_then(|(_, v)| v.parse().ok())
                    .unwrap_or(status);
                let mut client_headers = strip_pseudo(&headers);
                // Envoy recomputes content-length when a filter changed the body.
                if let Some(cl) = client_headers
                    .iter_mut()
                    .find(|(k, _)| k == "content-length")
                {
                    cl.1 = sent_body.len().to_string();
                }
                open.outcome.response = HttpResponse {
                    status,
                    headers: client_headers,
                    body: sent_body,
                };
                self.finish(open);
            }
            Flow::Failed => self.fail_stream(open),
            _ => {
                open.outcome.reset = true;
                open.outcome.response = HttpResponse::default();
                self.finish(open);
            }
        }
    }
}

impl Proxy {
    /// `proxy_on_response_trailers` after the body (whose last chunk had no end flag): what is
    /// still buffered goes out when the callback continues.
    fn response_trailers(
        &mut self,
        open: &mut OpenStream,
        trailers: Vec<(String, String)>,
        sent_body: &mut Vec<u8>,
        is_local_reply: bool,
    ) -> Flow {
        let w = open.outcome.worker;
        let ctx = open.context;
        let n = trailers.len();
        if let Some(s) = self.stream_mut(w, ctx) {
            s.response_trailers = trailers;
        }
        let r = self.with_vm(w, |vm| vm.on_trailers(ctx, true, n));
        match self.settle(&mut open.outcome, ctx, r, true) {
            Flow::Continue => {
                if let Some(s) = self.stream_mut(w, ctx) {
                    sent_body.append(&mut s.response_body);
                    open.outcome.response_trailers = s.response_trailers.clone();
                }
                Flow::Continue
            }
            Flow::LocalReply if is_local_reply => {
                if let Some(s) = self.stream_mut(w, ctx) {
                    s.local_reply = None;
                    sent_body.append(&mut s.response_body);
                    open.outcome.response_trailers = s.response_trailers.clone();
                }
                Flow::Continue
            }
            // Headers already went to the client: Envoy resets the stream.
            Flow::LocalReply => Flow::Reset,
            Flow::Paused => {
                open.outcome.errors.push(HostError::Stalled {
                    at: "proxy_on_response_trailers".into(),
                });
                Flow::Reset
            }
            other => other,
        }
    }
}

/// How an upstream response reaches the filter: body chunk sizes and trailers.
#[derive(Debug, Default)]
struct Delivery<'a> {
    chunk_sizes: &'a [usize],
    trailers: Vec<(String, String)>,
}

fn out_fail(out: &mut StreamOutcome, e: HostError) {
    out.errors.push(e.clone());
    out.vm_failure = Some(e);
}

/// Headers without `:`-pseudo-headers, as a client sees them.
pub fn strip_pseudo(headers: &[(String, String)]) -> Vec<(String, String)> {
    headers
        .iter()
        .filter(|(k, _)| !k.starts_with(':'))
        .cloned()
        .collect()
}
