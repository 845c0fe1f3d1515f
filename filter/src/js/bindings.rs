//! The `#[wasm_bindgen]` surface: `new Engine(configJson, env)`, `engine.newStream()`,
//! `engine.onRequest(stream, {method, url, headers, clientIp, now})`, `onRequestBody`,
//! `onFetchResponse` (engine-wide), `resume`, `onResponse`, `onResponseBody`, `metrics()`. Values cross the
//! boundary as JSON (via the JS engine's own `JSON`), bodies as `Uint8Array`s; this keeps the
//! module small (no serde-wasm-bindgen, no web-sys).

use super::adapter::{
    BodyOutcome, JsEngine, JsStream, RequestInput, RequestOutcome, ResponseInput,
};
use crate::host::LogLevel;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Once;
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = console, js_name = log)]
    fn console_log(s: &str);
    #[wasm_bindgen(js_namespace = console, js_name = warn)]
    fn console_warn(s: &str);
    #[wasm_bindgen(js_namespace = console, js_name = error)]
    fn console_error(s: &str);
}

fn console_sink(level: LogLevel, message: &str) {
    match level {
        LogLevel::Trace | LogLevel::Debug | LogLevel::Info => console_log(message),
        LogLevel::Warn => console_warn(message),
        LogLevel::Error | LogLevel::Critical => console_error(message),
    }
}

static PANIC_HOOK: Once = Once::new();

/// Panics abort (trap) in this build; log the message first so a failure is never silent.
fn install_panic_hook() {
    PANIC_HOOK.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            console_error(&format!("edgeguard panic: {info}"));
        }));
    });
}

fn from_js<T: DeserializeOwned>(value: &JsValue, what: &str) -> Result<T, JsError> {
    let text: String = js_sys::JSON::stringify(value)
        .map_err(|_| JsError::new(&format!("{what}: not serializable to JSON")))?
        .into();
    serde_json::from_str(&text).map_err(|e| JsError::new(&format!("{what}: {e}")))
}

fn to_js<T: Serialize>(value: &T, body: Option<&[u8]>) -> Result<JsValue, JsError> {
    let text = serde_json::to_string(value).map_err(|e| JsError::new(&e.to_string()))?;
    let object = js_sys::JSON::parse(&text).map_err(|_| JsError::new("result is not JSON"))?;
    if let Some(body) = body {
        js_sys::Reflect::set(
            &object,
            &JsValue::from_str("body"),
            &js_sys::Uint8Array::from(body),
        )
        .map_err(|_| JsError::new("cannot attach body"))?;
    }
    Ok(object)
}

fn request_to_js(outcome: &RequestOutcome) -> Result<JsValue, JsError> {
    match outcome {
        RequestOutcome::Respond { body, .. } => to_js(outcome, Some(body)),
        RequestOutcome::Fetch { requests } => {
            let object = to_js(outcome, None)?;
            let list = js_sys::Reflect::get(&object, &JsValue::from_str("requests"))
                .map_err(|_| JsError::new("result has no requests"))?;
            for (i, request) in requests.iter().enumerate() {
                if request.body.is_empty() {
                    continue;
                }
                let item = js_sys::Reflect::get_u32(&list, i as u32)
                    .map_err(|_| JsError::new("result request missing"))?;
                js_sys::Reflect::set(
                    &item,
                    &JsValue::from_str("body"),
                    &js_sys::Uint8Array::from(request.body.as_slice()),
                )
                .map_err(|_| JsError::new("cannot attach body"))?;
            }
            Ok(object)
        }
        _ => to_js(outcome, None),
    }
}

/// The string-valued own properties of the worker's `env` (text bindings, secrets).
fn string_bindings(env: Option<js_sys::Object>) -> BTreeMap<String, String> {
    let Some(env) = env else {
        return BTreeMap::new();
    };
    js_sys::Object::entries(&env)
        .iter()
        .filter_map(|pair| {
            let name = js_sys::Reflect::get_u32(&pair, 0).ok()?.as_string()?;
            let value = js_sys::Reflect::get_u32(&pair, 1).ok()?.as_string()?;
            Some((name, value))
        })
        .collect()
}

/// The policy engine for one isolate, compiled once from the same JSON config Envoy uses.
#[wasm_bindgen(js_name = Engine)]
pub struct WasmEngine {
    inner: JsEngine,
}

/// Per-request state; create one per request with `engine.newStream()` and `free()` it after.
#[wasm_bindgen(js_name = RequestStream)]
pub struct WasmStream {
    inner: JsStream,
}

#[wasm_bindgen(js_class = Engine)]
impl WasmEngine {
    /// Compile the config (a JSON string); `env` (the worker's `env`; optional) supplies the
    /// secrets the config references as `{"env": "NAME"}` (its string values; other bindings
    /// are ignored). Throws an Error with the `config error at ...` text.
    #[wasm_bindgen(constructor)]
    pub fn new(config_json: &str, env: Option<js_sys::Object>) -> Result<WasmEngine, JsError> {
        install_panic_hook();
        JsEngine::from_json(config_json.as_bytes(), string_bindings(env), console_sink)
            .map(|inner| WasmEngine { inner })
            .map_err(|e| JsError::new(&e.to_string()))
    }

    /// A fresh per-request state handle.
    #[wasm_bindgen(js_name = newStream)]
    pub fn new_stream(&self) -> WasmStream {
        WasmStream {
            inner: JsStream::default(),
        }
    }

    /// Decide on request headers: `{action: "continue" | "respond" | "needBody" | "fetch", ...}`.
    #[wasm_bindgen(js_name = onRequest)]
    pub fn on_request(
        &self,
        stream: &mut WasmStream,
        request: JsValue,
    ) -> Result<JsValue, JsError> {
        let input: RequestInput = from_js(&request, "onRequest")?;
        request_to_js(&self.inner.on_request(&mut stream.inner, input))
    }

    /// The whole request body after `needBody`; same answers as `onRequest`.
    #[wasm_bindgen(js_name = onRequestBody)]
    pub fn on_request_body(
        &self,
        stream: &mut WasmStream,
        body: &[u8],
        now: f64,
    ) -> Result<JsValue, JsError> {
        request_to_js(&self.inner.on_request_body(&mut stream.inner, body, now))
    }

    /// The answer to a `fetch` request: `{status, headers, now}` (status 0 when the fetch
    /// failed or timed out) and its body. Engine-wide; afterwards `resume` each waiting stream.
    /// Returns whether the engine was waiting for this token.
    #[wasm_bindgen(js_name = onFetchResponse)]
    pub fn on_fetch_response(
        &self,
        token: u32,
        response: JsValue,
        body: &[u8],
    ) -> Result<bool, JsError> {
        let input: ResponseInput = from_js(&response, "onFetchResponse")?;
        Ok(self.inner.on_fetch_response(token, input, body))
    }

    /// Ask again after a fetch finished; same answers as `onRequest`.
    pub fn resume(&self, stream: &mut WasmStream, now: f64) -> Result<JsValue, JsError> {
        request_to_js(&self.inner.resume(&mut stream.inner, now))
    }

    /// Response status and headers (`{status, headers, now}`) →
    /// `{setHeaders, removeHeaders, addHeaders, needBody}`.
    #[wasm_bindgen(js_name = onResponse)]
    pub fn on_response(
        &self,
        stream: &mut WasmStream,
        response: JsValue,
    ) -> Result<JsValue, JsError> {
        let input: ResponseInput = from_js(&response, "onResponse")?;
        to_js(&self.inner.on_response(&mut stream.inner, input), None)
    }

    /// The whole response body after `needBody: true` →
    /// `{action: "continue"} | {action: "replace", body} | {action: "respond", status, headers, body}`.
    #[wasm_bindgen(js_name = onResponseBody)]
    pub fn on_response_body(
        &self,
        stream: &mut WasmStream,
        body: &[u8],
        now: f64,
    ) -> Result<JsValue, JsError> {
        let outcome = self.inner.on_response_body(&mut stream.inner, body, now);
        match &outcome {
            BodyOutcome::Continue => to_js(&outcome, None),
            BodyOutcome::Replace { body } | BodyOutcome::Respond { body, .. } => {
                to_js(&outcome, Some(body))
            }
        }
    }

    /// Counters so far in this isolate, as `{name: value}`.
    pub fn metrics(&self) -> Result<JsValue, JsError> {
        to_js(&self.inner.metrics(), None)
    }
}
