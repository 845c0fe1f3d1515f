//! An in-memory [`Host`]: a settable clock, a CAS map, recorded logs, metrics and callouts.
//! Used by core tests, and by single-process hosts (the JS build) where "shared" data is
//! per isolate.

use super::{Host, HttpCallout, LogLevel, SharedDataError};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;

/// A single-threaded in-memory host.
#[derive(Debug, Default)]
pub struct MemoryHost {
    now: Cell<u64>,
    shared: RefCell<HashMap<String, (Vec<u8>, u32)>>,
    /// Recorded log lines.
    pub logs: RefCell<Vec<(LogLevel, String)>>,
    /// Counter values by name.
    pub metrics: RefCell<HashMap<String, i64>>,
    /// Outbound calls started, in order.
    pub callouts: RefCell<Vec<HttpCallout>>,
}

impl MemoryHost {
    /// A host whose clock reads `unix_secs`.
    pub fn at(unix_secs: u64) -> MemoryHost {
        let h = MemoryHost::default();
        h.set_time_secs(unix_secs);
        h
    }

    /// Set the clock.
    pub fn set_time_secs(&self, unix_secs: u64) {
        self.now.set(unix_secs * 1_000_000_000);
    }

    /// Move the clock forward.
    pub fn advance_secs(&self, secs: u64) {
        self.now.set(self.now.get() + secs * 1_000_000_000);
    }

    /// Value of a counter (0 if never counted).
    pub fn metric(&self, name: &str) -> i64 {
        self.metrics.borrow().get(name).copied().unwrap_or(0)
    }

    /// All log messages joined by newlines.
    pub fn log_text(&self) -> String {
        self.logs
            .borrow()
            .iter()
            .map(|(_, m)| m.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Host for MemoryHost {
    fn now_nanos(&self) -> u64 {
        self.now.get()
    }

    fn shared_get(&self, key: &str) -> Option<(Vec<u8>, u32)> {
        self.shared.borrow().get(key).cloned()
    }

    fn shared_set(&self, key: &str, value: &[u8], cas: u32) -> Result<(), SharedDataError> {
        let mut map = self.shared.borrow_mut();
        let current = map.get(key).map(|(_, c)| *c).unwrap_or(0);
        if cas != 0 && cas != current {
            return Err(SharedDataError::CasMismatch);
        }
        map.insert(
            key.to_string(),
            (value.to_vec(), current.wrapping_add(1).max(1)),
        );
        Ok(())
    }

    fn http_call(&self, call: &HttpCallout) -> Result<u32, String> {
        let mut calls = self.callouts.borrow_mut();
        calls.push(call.clone());
        Ok(calls.len() as u32)
    }

    fn count(&self, name: &str, delta: i64) {
        *self
            .metrics
            .borrow_mut()
            .entry(name.to_string())
            .or_insert(0) += delta;
    }

    fn log(&self, level: LogLevel, message: &str) {
        self.logs.borrow_mut().push((level, message.to_string()));
    }
}
