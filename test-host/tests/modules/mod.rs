//! Purpose-built proxy-wasm modules for the module-level tests, written in WAT and compiled
//! by wasmtime's `wat` support. [`Wat`] assembles one: every host import (so bodies can call
//! `$proxy_*` by name), a bump allocator exported as `proxy_on_memory_allocate`, the ABI
//! version export, default lifecycle callbacks, logging helpers and a string table.
//!
//! Scratch memory: `[0]` returned pointer, `[4]` returned size, `[8]` CAS, `[12]` token,
//! `[16]` queue id, `[20..32]` metric ids, `[36..40]` `c=NN` code text, `[40]` u64 out.
#![allow(dead_code, clippy::unwrap_used)]

use edgeguard_test_host::http::{HttpRequest, HttpResponse};
use edgeguard_test_host::proxy::{FixedUpstream, Proxy, ProxyOptions, StreamOutcome};
use edgeguard_test_host::CompiledModule;
use std::sync::Arc;

const IMPORTS: &str = r#"
  (import "env" "proxy_log" (func $proxy_log (param i32 i32 i32) (result i32)))
  (import "env" "proxy_get_log_level" (func $proxy_get_log_level (param i32) (result i32)))
  (import "env" "proxy_get_current_time_nanoseconds" (func $proxy_get_current_time_nanoseconds (param i32) (result i32)))
  (import "env" "proxy_set_tick_period_milliseconds" (func $proxy_set_tick_period_milliseconds (param i32) (result i32)))
  (import "env" "proxy_get_buffer_bytes" (func $proxy_get_buffer_bytes (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_set_buffer_bytes" (func $proxy_set_buffer_bytes (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_get_buffer_status" (func $proxy_get_buffer_status (param i32 i32 i32) (result i32)))
  (import "env" "proxy_get_header_map_pairs" (func $proxy_get_header_map_pairs (param i32 i32 i32) (result i32)))
  (import "env" "proxy_set_header_map_pairs" (func $proxy_set_header_map_pairs (param i32 i32 i32) (result i32)))
  (import "env" "proxy_get_header_map_value" (func $proxy_get_header_map_value (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_add_header_map_value" (func $proxy_add_header_map_value (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_replace_header_map_value" (func $proxy_replace_header_map_value (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_remove_header_map_value" (func $proxy_remove_header_map_value (param i32 i32 i32) (result i32)))
  (import "env" "proxy_get_header_map_size" (func $proxy_get_header_map_size (param i32 i32) (result i32)))
  (import "env" "proxy_continue_stream" (func $proxy_continue_stream (param i32) (result i32)))
  (import "env" "proxy_close_stream" (func $proxy_close_stream (param i32) (result i32)))
  (import "env" "proxy_send_local_response" (func $proxy_send_local_response (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_http_call" (func $proxy_http_call (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_grpc_call" (func $proxy_grpc_call (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_get_shared_data" (func $proxy_get_shared_data (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_set_shared_data" (func $proxy_set_shared_data (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_register_shared_queue" (func $proxy_register_shared_queue (param i32 i32 i32) (result i32)))
  (import "env" "proxy_resolve_shared_queue" (func $proxy_resolve_shared_queue (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_enqueue_shared_queue" (func $proxy_enqueue_shared_queue (param i32 i32 i32) (result i32)))
  (import "env" "proxy_dequeue_shared_queue" (func $proxy_dequeue_shared_queue (param i32 i32 i32) (result i32)))
  (import "env" "proxy_define_metric" (func $proxy_define_metric (param i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_increment_metric" (func $proxy_increment_metric (param i32 i64) (result i32)))
  (import "env" "proxy_record_metric" (func $proxy_record_metric (param i32 i64) (result i32)))
  (import "env" "proxy_get_metric" (func $proxy_get_metric (param i32 i32) (result i32)))
  (import "env" "proxy_get_property" (func $proxy_get_property (param i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_set_property" (func $proxy_set_property (param i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_call_foreign_function" (func $proxy_call_foreign_function (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_set_effective_context" (func $proxy_set_effective_context (param i32) (result i32)))
  (import "env" "proxy_done" (func $proxy_done (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "random_get" (func $random_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_sizes_get" (func $environ_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
"#;

const PRELUDE: &str = r#"
  (memory (export "memory") 16)
  (global $heap (mut i32) (i32.const 65536))
  (func (export "proxy_on_memory_allocate") (param $n i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (i32.and (i32.add (local.get $n) (i32.const 7)) (i32.const -8))))
    (local.get $p))
  (func $logs (param $p i32) (param $l i32)
    (drop (call $proxy_log (i32.const 2) (local.get $p) (local.get $l))))
  (func $log_ret
    (call $logs (i32.load (i32.const 0)) (i32.load (i32.const 4))))
  (func $log_code (param $c i32)
    (i32.store8 (i32.const 36) (i32.const 99))
    (i32.store8 (i32.const 37) (i32.const 61))
    (i32.store8 (i32.const 38) (i32.add (i32.const 48) (i32.div_u (local.get $c) (i32.const 10))))
    (i32.store8 (i32.const 39) (i32.add (i32.const 48) (i32.rem_u (local.get $c) (i32.const 10))))
    (call $logs (i32.const 36) (i32.const 4)))
"#;

/// Assembles a WAT proxy-wasm module.
pub struct Wat {
    data: Vec<(u32, Vec<u8>)>,
    next: u32,
    funcs: String,
    abi_export: bool,
}

impl Wat {
    /// An empty module with the standard prelude.
    pub fn new() -> Wat {
        Wat {
            data: Vec::new(),
            next: 1024,
            funcs: String::new(),
            abi_export: true,
        }
    }

    /// Leave out the `proxy_abi_version_0_2_1` export (to test the refusal).
    pub fn without_abi_export(mut self) -> Wat {
        self.abi_export = false;
        self
    }

    /// Put bytes in the string table; returns `(i32.const ptr) (i32.const len)`.
    pub fn bytes(&mut self, b: &[u8]) -> String {
        let p = self.next;
        self.data.push((p, b.to_vec()));
        self.next += (b.len() as u32 + 8) & !7;
        format!("(i32.const {p}) (i32.const {})", b.len())
    }

    /// Put text in the string table; returns (ptr, len).
    pub fn raw(&mut self, text: &str) -> (u32, u32) {
        let p = self.next;
        self.bytes(text.as_bytes());
        (p, text.len() as u32)
    }

    /// Put text in the string table; returns `(i32.const ptr) (i32.const len)`.
    pub fn s(&mut self, text: &str) -> String {
        self.bytes(text.as_bytes())
    }

    /// Serialized header pairs in the string table.
    pub fn pairs(&mut self, pairs: &[(&str, &str)]) -> String {
        let owned: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.bytes(&edgeguard_test_host::abi::serialize_pairs(&owned))
    }

    /// Add function definitions (exports included).
    pub fn func(&mut self, text: &str) -> &mut Wat {
        self.funcs.push_str(text);
        self.funcs.push('\n');
        self
    }

    /// The module text.
    pub fn build(&self) -> String {
        let mut out = String::from("(module\n");
        out.push_str(IMPORTS);
        out.push_str(PRELUDE);
        let defaults = [
            (
                "proxy_on_context_create",
                "(func (export \"proxy_on_context_create\") (param i32 i32))",
            ),
            (
                "proxy_on_vm_start",
                "(func (export \"proxy_on_vm_start\") (param i32 i32) (result i32) (i32.const 1))",
            ),
            (
                "proxy_on_configure",
                "(func (export \"proxy_on_configure\") (param i32 i32) (result i32) (i32.const 1))",
            ),
        ];
        for (name, def) in defaults {
            if !self.funcs.contains(&format!("\"{name}\"")) {
                out.push_str(def);
                out.push('\n');
            }
        }
        if self.abi_export {
            out.push_str("(func (export \"proxy_abi_version_0_2_1\"))\n");
        }
        out.push_str(&self.funcs);
        for (p, b) in &self.data {
            let esc: String = b.iter().map(|c| format!("\\{c:02x}")).collect();
            out.push_str(&format!("(data (i32.const {p}) \"{esc}\")\n"));
        }
        out.push(')');
        out
    }

    /// Compile it (strict).
    pub fn compile(&self) -> Arc<CompiledModule> {
        Arc::new(CompiledModule::from_bytes(self.build().as_bytes(), "test module", true).unwrap())
    }
}

/// A GET request.
pub fn get(path: &str, headers: &[(&str, &str)]) -> HttpRequest {
    HttpRequest {
        method: "GET".into(),
        path: path.into(),
        authority: "example.com".into(),
        scheme: "http".into(),
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        body: Vec::new(),
        chunk_sizes: Vec::new(),
    }
}

/// The default upstream answer in module tests.
pub fn ok_upstream() -> FixedUpstream {
    FixedUpstream(HttpResponse {
        status: 200,
        headers: vec![("content-type".into(), "text/plain".into())],
        body: b"upstream body".to_vec(),
    })
}

/// Start a proxy over a module with options.
pub fn proxy(module: Arc<CompiledModule>, opts: ProxyOptions) -> Proxy {
    Proxy::new(module, opts).unwrap()
}

/// Send and return the outcome.
pub fn send(p: &mut Proxy, req: &HttpRequest) -> StreamOutcome {
    p.send(req, &mut ok_upstream()).unwrap()
}

/// Every log message so far.
pub fn logs(p: &Proxy) -> Vec<String> {
    p.shared()
        .logs_snapshot()
        .into_iter()
        .map(|l| l.message)
        .collect()
}
