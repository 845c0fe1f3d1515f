//! The proxy-wasm adapter (ABI 0.2.1, `wasm32-wasip1`): translates host callbacks into
//! [`RequestView`]s and engine calls, and applies the engine's decisions. It owns no policy.
//!
//! Streams live in a map shared with the root context, so a stream paused on an outbound
//! call (a JWKS fetch) can be resumed from whichever context receives the answer.

mod host;

use crate::decision::{HeaderMutations, LocalReply, RequestAction, ResponseBodyAction};
use crate::engine::{Engine, Stream};
use crate::host::{Host, LogLevel};
use crate::request::{ConnectionInfo, RequestView};
use host::ProxyHost;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType, LogLevel as PwLogLevel};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

proxy_wasm::main! {{
    proxy_wasm::set_log_level(PwLogLevel::Trace);
    std::panic::set_hook(Box::new(|info| {
        let _ = proxy_wasm::hostcalls::log(PwLogLevel::Critical, &format!("edgeguard panic: {info}"));
    }));
    proxy_wasm::set_root_context(|context_id| -> Box<dyn RootContext> {
        Box::new(EdgeguardRoot { context_id, shared: Rc::new(Shared::default()) })
    });
}}

/// State shared by the root context and every stream of one VM.
#[derive(Default)]
struct Shared {
    engine: RefCell<Option<Rc<Engine>>>,
    streams: RefCell<HashMap<u32, Stream>>,
    paused: RefCell<Vec<u32>>,
}

impl Shared {
    fn engine(&self) -> Option<Rc<Engine>> {
        self.engine.borrow().clone()
    }

    /// An outbound call answered: let the engine take it, then resume every paused stream.
    fn on_http_call_response(&self, token: u32, body_size: usize) {
        let Some(engine) = self.engine() else { return };
        let host = ProxyHost;
        let (status, headers, body) = host::read_call_response(body_size);
        if !engine.on_http_call_response(token, status, &headers, &body, &host) {
            return;
        }
        self.resume_paused(&engine, &host);
    }

    /// Run every paused stream again (keys arrived, or their wait timed out).
    fn resume_paused(&self, engine: &Engine, host: &ProxyHost) {
        let paused: Vec<u32> = std::mem::take(&mut *self.paused.borrow_mut());
        for id in paused {
            let _ = proxy_wasm::hostcalls::set_effective_context(id);
            let action = {
                let mut streams = self.streams.borrow_mut();
                let Some(stream) = streams.get_mut(&id) else {
                    continue;
                };
                engine.resume(stream, host)
            };
            match action {
                RequestAction::Pause => self.paused.borrow_mut().push(id),
                RequestAction::NeedBody => {
                    // The body will arrive in the body callback; nothing to resume yet.
                }
                RequestAction::Continue(m) => {
                    apply_request_mutations(&m);
                    let _ = proxy_wasm::hostcalls::resume_http_request();
                }
                RequestAction::Respond(reply) => send_local_reply(&reply),
            }
        }
    }
}

struct EdgeguardRoot {
    context_id: u32,
    shared: Rc<Shared>,
}

impl Context for EdgeguardRoot {
    fn on_http_call_response(
        &mut self,
        token_id: u32,
        _num_headers: usize,
        body_size: usize,
        _num_trailers: usize,
    ) {
        self.shared.on_http_call_response(token_id, body_size);
    }
}

impl RootContext for EdgeguardRoot {
    fn on_configure(&mut self, _plugin_configuration_size: usize) -> bool {
        let host = ProxyHost;
        let config = self.get_plugin_configuration().unwrap_or_default();
        match Engine::from_json(&config) {
            Ok(engine) => {
                host::set_metrics_enabled(engine.metrics_enabled());
                host::define_base_metrics();
                crate::log::event(
                    &host,
                    LogLevel::Info,
                    "config_loaded",
                    &[
                        (
                            "mode",
                            serde_json::json!(format!("{:?}", engine.mode()).to_lowercase()),
                        ),
                        ("root_context", serde_json::json!(self.context_id)),
                    ],
                );
                if engine.needs_tick() {
                    let _ =
                        proxy_wasm::hostcalls::set_tick_period(std::time::Duration::from_secs(1));
                }
                *self.shared.engine.borrow_mut() = Some(Rc::new(engine));
                true
            }
            Err(e) => {
                host::define_base_metrics();
                host.count("edgeguard_config_errors_total", 1);
                host.log(LogLevel::Critical, &e.to_string());
                false
            }
        }
    }

    fn on_tick(&mut self) {
        if let Some(engine) = self.shared.engine() {
            if engine.on_tick(&ProxyHost) && !self.shared.paused.borrow().is_empty() {
                self.shared.resume_paused(&engine, &ProxyHost);
            }
        }
    }

    fn create_http_context(&self, context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(EdgeguardStream {
            context_id,
            shared: Rc::clone(&self.shared),
            request_end_of_stream: false,
            awaiting_request_body: false,
            headers_released: false,
            request_body_size: 0,
            response_buffering: false,
            response_discarding: false,
            response_body_size: 0,
        }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

struct EdgeguardStream {
    context_id: u32,
    shared: Rc<Shared>,
    request_end_of_stream: bool,
    /// A stage asked for the request body: headers were let through (see `act`) and the body
    /// callbacks hold the body until the decision.
    awaiting_request_body: bool,
    /// The request headers went on to the next filter; they can no longer be changed.
    headers_released: bool,
    /// Bytes of request body buffered so far (the last body callback's size).
    request_body_size: usize,
    response_buffering: bool,
    /// A late block replaced the body with the error: later body chunks are dropped.
    response_discarding: bool,
    /// Bytes of response body buffered so far.
    response_body_size: usize,
}

impl EdgeguardStream {
    fn act(&mut self, action: RequestAction) -> Action {
        match action {
            RequestAction::Continue(m) => {
                if self.headers_released {
                    // Envoy no longer lets us touch the request headers (the hostcall fails
                    // and the SDK would panic): stages make their header changes at header
                    // time, so anything left here is a bug worth counting, not a crash.
                    if !m.is_empty() {
                        let host = ProxyHost;
                        host.count("edgeguard_late_header_mutations_total", 1);
                        host.log(
                            LogLevel::Error,
                            "edgeguard: request header changes after the body could not be applied",
                        );
                    }
                } else {
                    apply_request_mutations(&m);
                }
                Action::Continue
            }
            RequestAction::Respond(reply) => {
                send_local_reply(&reply);
                Action::Pause
            }
            RequestAction::NeedBody => {
                if self.request_end_of_stream {
                    // No body will come: decide on an empty one now.
                    let action = self.with_stream(|engine, stream, host| {
                        engine.on_request_body(stream, &[], true, host)
                    });
                    return match action {
                        Some(RequestAction::NeedBody) | None => Action::Continue,
                        Some(other) => self.act(other),
                    };
                }
                // Envoy (proxy-wasm-cpp-host) turns a paused headers callback into
                // StopAllIterationAndWatermark, and then never calls the body callback until
                // the stream is resumed. So let the headers go on, and hold the body in the
                // body callback (StopIterationAndBuffer) until it is complete. Deployments
                // that inspect request bodies put `envoy.filters.http.buffer` right after
                // edgeguard so nothing reaches the router before the decision.
                // Header changes decided so far (strips of forgeable identity headers, identity
                // set from a verified signature) must be applied now, while we still may.
                if let Some(m) =
                    self.with_stream(|engine, stream, _| engine.take_request_mutations(stream))
                {
                    apply_request_mutations(&m);
                }
                self.awaiting_request_body = true;
                self.headers_released = true;
                Action::Continue
            }
            RequestAction::Pause => {
                self.shared.paused.borrow_mut().push(self.context_id);
                Action::Pause
            }
        }
    }

    fn with_stream<T>(&self, f: impl FnOnce(&Engine, &mut Stream, &ProxyHost) -> T) -> Option<T> {
        let engine = self.shared.engine()?;
        let mut streams = self.shared.streams.borrow_mut();
        let stream = streams.entry(self.context_id).or_default();
        Some(f(&engine, stream, &ProxyHost))
    }
}

impl Context for EdgeguardStream {
    fn on_http_call_response(
        &mut self,
        token_id: u32,
        _num_headers: usize,
        body_size: usize,
        _num_trailers: usize,
    ) {
        self.shared.on_http_call_response(token_id, body_size);
    }

    fn on_done(&mut self) -> bool {
        self.shared.streams.borrow_mut().remove(&self.context_id);
        self.shared
            .paused
            .borrow_mut()
            .retain(|id| *id != self.context_id);
        true
    }
}

impl HttpContext for EdgeguardStream {
    fn on_http_request_headers(&mut self, _num_headers: usize, end_of_stream: bool) -> Action {
        self.request_end_of_stream = end_of_stream;
        let Some(engine) = self.shared.engine() else {
            return Action::Continue;
        };
        let headers = self.get_http_request_headers();
        // Connection facts cost a host call each: the peer certificate only when a rule checks
        // mTLS, the source address only when something asks for it (client IP).
        let peer_certificate = engine.needs_peer_certificate();
        let connection = if peer_certificate {
            host::connection_info()
        } else {
            ConnectionInfo::default()
        };
        let action = match RequestView::from_header_map(headers, connection) {
            Ok(view) => {
                let view = if peer_certificate {
                    view
                } else {
                    view.with_source_loader(host::source_ip)
                };
                self.with_stream(|engine, stream, host| {
                    engine.on_request_headers(stream, view, host)
                })
            }
            Err((e, method, path)) => self.with_stream(|engine, stream, host| {
                engine.on_malformed_request(stream, &method, &path, e, host)
            }),
        };
        match action {
            Some(a) => self.act(a),
            None => Action::Continue,
        }
    }

    fn on_http_request_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        if !self.awaiting_request_body {
            return Action::Continue;
        }
        self.request_body_size = body_size;
        if !end_of_stream {
            // Let Envoy buffer until the end (StopIterationAndBuffer).
            return Action::Pause;
        }
        self.finish_request_body()
    }

    fn on_http_request_trailers(&mut self, _num_trailers: usize) -> Action {
        if !self.awaiting_request_body {
            return Action::Continue;
        }
        // A request with trailers never sets end_of_stream on its body: decide here.
        self.finish_request_body()
    }

    fn on_http_response_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        if !self
            .shared
            .engine()
            .is_some_and(|e| e.wants_response_headers())
        {
            // No response-side stage in this policy: skip copying the header map.
            return Action::Continue;
        }
        let headers = self.get_http_response_headers();
        let Some(action) = self
            .with_stream(|engine, stream, host| engine.on_response_headers(stream, &headers, host))
        else {
            return Action::Continue;
        };
        if let Some(reply) = &action.reply {
            // The headers have not gone out yet: the client gets the 502 instead.
            send_local_reply(reply);
            return Action::Pause;
        }
        apply_response_mutations(&action.mutations);
        self.response_buffering = action.buffer_body;
        Action::Continue
    }

    fn on_http_response_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        if self.response_discarding {
            if body_size > 0 {
                self.set_http_response_body(0, body_size, &[]);
            }
            return Action::Continue;
        }
        if !self.response_buffering {
            return Action::Continue;
        }
        self.response_body_size = body_size;
        if !end_of_stream {
            // Check the limit on every chunk, so no more than `max_body_bytes` is held.
            let action = self.with_stream(|engine, stream, host| {
                engine.on_response_body_progress(stream, body_size, host)
            });
            return match action {
                Some(ResponseBodyAction::Buffer) => Action::Pause,
                Some(ResponseBodyAction::Respond(reply)) => {
                    self.response_buffering = false;
                    self.replace_with_error(body_size, &reply);
                    Action::Continue
                }
                // Passed unmasked (or nothing left to do): release what is held.
                _ => {
                    self.response_buffering = false;
                    Action::Continue
                }
            };
        }
        let body = self
            .get_http_response_body(0, body_size)
            .unwrap_or_default();
        self.finish_response_body(&body)
    }

    fn on_http_response_trailers(&mut self, _num_trailers: usize) -> Action {
        if self.response_discarding || !self.response_buffering {
            return Action::Continue;
        }
        // HTTP/2 responses with trailers never set end_of_stream on the body: finish here.
        let body = self
            .get_http_response_body(0, self.response_body_size)
            .unwrap_or_default();
        self.finish_response_body(&body);
        Action::Continue
    }
}

impl EdgeguardStream {
    /// The whole request body is buffered (end of stream or trailers): let the engine decide.
    fn finish_request_body(&mut self) -> Action {
        self.awaiting_request_body = false;
        let body = self
            .get_http_request_body(0, self.request_body_size)
            .unwrap_or_default();
        match self
            .with_stream(|engine, stream, host| engine.on_request_body(stream, &body, true, host))
        {
            Some(RequestAction::NeedBody) | None => Action::Continue,
            Some(a) => self.act(a),
        }
    }

    fn finish_response_body(&mut self, body: &[u8]) -> Action {
        self.response_buffering = false;
        let action = self
            .with_stream(|engine, stream, host| engine.on_response_body(stream, body, true, host));
        match action {
            Some(ResponseBodyAction::Replace(new_body)) => {
                self.set_http_response_body(0, body.len(), &new_body);
                Action::Continue
            }
            Some(ResponseBodyAction::Respond(reply)) => {
                self.replace_with_error(body.len(), &reply);
                Action::Continue
            }
            _ => Action::Continue,
        }
    }

    /// A block decided while the body streams: the status and headers went to the client
    /// already (Envoy sends them when the headers callback continues), so the held body is
    /// replaced by the JSON error and anything still to come is dropped; nothing unmasked
    /// leaks.
    fn replace_with_error(&mut self, held: usize, reply: &LocalReply) {
        self.set_http_response_body(0, held, &reply.body);
        self.response_discarding = true;
    }
}

fn apply_request_mutations(m: &HeaderMutations) {
    use proxy_wasm::hostcalls::{add_map_value, set_map_value};
    use proxy_wasm::types::MapType::HttpRequestHeaders;
    for name in &m.remove {
        let _ = set_map_value(HttpRequestHeaders, name, None);
    }
    for (k, v) in &m.set {
        let _ = set_map_value(HttpRequestHeaders, k, Some(v));
    }
    for (k, v) in &m.add {
        let _ = add_map_value(HttpRequestHeaders, k, v);
    }
}

fn apply_response_mutations(m: &HeaderMutations) {
    use proxy_wasm::hostcalls::{add_map_value, set_map_value};
    use proxy_wasm::types::MapType::HttpResponseHeaders;
    for name in &m.remove {
        let _ = set_map_value(HttpResponseHeaders, name, None);
    }
    for (k, v) in &m.set {
        let _ = set_map_value(HttpResponseHeaders, k, Some(v));
    }
    for (k, v) in &m.add {
        let _ = add_map_value(HttpResponseHeaders, k, v);
    }
}

/// The one place a local reply leaves the filter.
fn send_local_reply(reply: &LocalReply) {
    let headers: Vec<(&str, &str)> = reply
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let _ =
        proxy_wasm::hostcalls::send_http_response(reply.status as u32, headers, Some(&reply.body));
}
