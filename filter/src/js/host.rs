//! The [`Host`] of one JavaScript isolate. Workers have no timers or host calls the engine can
//! use directly, so: the clock is set by the adapter from the `now` the JS side passes in on
//! every call (`Date.now()` works only inside request handlers in workerd); shared data and
//! metrics are in memory (per isolate); outbound calls are queued for the JS side to `fetch`;
//! log lines go to a sink (the console in the wasm build).

use crate::host::memory::MemoryHost;
use crate::host::{Host, HttpCallout, LogLevel, SharedDataError};
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;

/// Where log lines go (`console.log`/`warn`/`error` in the wasm build, a buffer in tests).
pub type LogSink = fn(LogLevel, &str);

/// Upper bound on queued, not yet collected outbound calls; beyond it `http_call` fails (the
/// engine then fails closed or open per `failure_mode`) instead of growing without bound.
pub const MAX_PENDING_CALLS: usize = 64;

/// An isolate-local host: shared data and metrics in memory, callouts queued for JS.
#[derive(Debug)]
pub struct JsHost {
    now_nanos: Cell<u64>,
    state: MemoryHost,
    pending: RefCell<Vec<(u32, HttpCallout)>>,
    last_token: Cell<u32>,
    sink: LogSink,
}

impl JsHost {
    /// A host writing its log lines to `sink`; the clock reads 0 until [`JsHost::set_now_ms`].
    pub fn new(sink: LogSink) -> JsHost {
        JsHost {
            now_nanos: Cell::new(0),
            state: MemoryHost::default(),
            pending: RefCell::new(Vec::new()),
            last_token: Cell::new(0),
            sink,
        }
    }

    /// Set the clock from a JS timestamp (milliseconds since the Unix epoch, `Date.now()`).
    /// Non-finite or negative values leave the clock unchanged; it never goes backwards.
    pub fn set_now_ms(&self, ms: f64) {
        if !ms.is_finite() || ms < 0.0 {
            return;
        }
        // Whole milliseconds exactly (a product in f64 would round), then the sub-ms part.
        // f64 → u64 casts saturate, so absurd values cannot wrap.
        let whole = ms.trunc();
        let nanos = (whole as u64)
            .saturating_mul(1_000_000)
            .saturating_add(((ms - whole) * 1_000_000.0) as u64);
        if nanos > self.now_nanos.get() {
            self.now_nanos.set(nanos);
        }
    }

    /// Take the outbound calls started since the last call, with their tokens.
    pub fn take_pending_calls(&self) -> Vec<(u32, HttpCallout)> {
        std::mem::take(&mut *self.pending.borrow_mut())
    }

    /// All counters, by name (sorted, for stable output).
    pub fn metrics(&self) -> BTreeMap<String, i64> {
        self.state
            .metrics
            .borrow()
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect()
    }
}

impl Host for JsHost {
    fn now_nanos(&self) -> u64 {
        self.now_nanos.get()
    }

    fn shared_get(&self, key: &str) -> Option<(Vec<u8>, u32)> {
        self.state.shared_get(key)
    }

    fn shared_set(&self, key: &str, value: &[u8], cas: u32) -> Result<(), SharedDataError> {
        self.state.shared_set(key, value, cas)
    }

    fn http_call(&self, call: &HttpCallout) -> Result<u32, String> {
        let mut pending = self.pending.borrow_mut();
        if pending.len() >= MAX_PENDING_CALLS {
            return Err(format!(
                "too many outbound calls waiting for fetch (limit {MAX_PENDING_CALLS})"
            ));
        }
        let token = self.last_token.get().wrapping_add(1).max(1);
        self.last_token.set(token);
        pending.push((token, call.clone()));
        Ok(token)
    }

    fn count(&self, name: &str, delta: i64) {
        self.state.count(name, delta);
    }

    fn log(&self, level: LogLevel, message: &str) {
        (self.sink)(level, message);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quiet(_: LogLevel, _: &str) {}

    #[test]
    fn clock_comes_from_js_milliseconds_and_never_goes_back() {
        let h = JsHost::new(quiet);
        h.set_now_ms(1_700_000_000_123.0);
        assert_eq!(h.now_nanos(), 1_700_000_000_123_000_000);
        assert_eq!(h.now_secs(), 1_700_000_000);
        h.set_now_ms(1_000.0);
        h.set_now_ms(f64::NAN);
        h.set_now_ms(-5.0);
        assert_eq!(h.now_nanos(), 1_700_000_000_123_000_000);
    }

    #[test]
    fn calls_are_queued_with_distinct_tokens_and_bounded() {
        let h = JsHost::new(quiet);
        let call = HttpCallout {
            cluster: "idp".into(),
            headers: vec![],
            body: vec![],
            timeout_ms: 1000,
        };
        let a = h.http_call(&call).unwrap();
        let b = h.http_call(&call).unwrap();
        assert_ne!(a, b);
        let taken = h.take_pending_calls();
        assert_eq!(taken.iter().map(|(t, _)| *t).collect::<Vec<_>>(), [a, b]);
        assert!(h.take_pending_calls().is_empty());
        for _ in 0..MAX_PENDING_CALLS {
            h.http_call(&call).unwrap();
        }
        assert!(h.http_call(&call).is_err());
    }

    #[test]
    fn shared_data_and_metrics_live_in_the_isolate() {
        let h = JsHost::new(quiet);
        h.shared_set("k", b"v1", 0).unwrap();
        let (v, cas) = h.shared_get("k").unwrap();
        assert_eq!(v, b"v1");
        assert_eq!(
            h.shared_set("k", b"v2", cas.wrapping_add(7)),
            Err(SharedDataError::CasMismatch)
        );
        h.shared_set("k", b"v2", cas).unwrap();
        h.count("edgeguard_requests_total", 2);
        assert_eq!(h.metrics().get("edgeguard_requests_total"), Some(&2));
    }
}
