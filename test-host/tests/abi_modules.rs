//! Module-level tests: small purpose-built modules (see `modules/mod.rs`) prove each ABI area
//! of the host, and bad modules get clear errors.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers

mod modules;

use edgeguard_test_host::http::HttpRequest;
use edgeguard_test_host::proxy::{CalloutOutcome, CalloutScript, FailurePolicy, ProxyOptions};
use edgeguard_test_host::state::{ConnectionProps, PluginSettings};
use edgeguard_test_host::{CompiledModule, HostError, VmLimits};
use modules::{get, logs, proxy, send, Wat};

fn opts() -> ProxyOptions {
    ProxyOptions::default()
}

#[test]
fn log_and_log_level() {
    let mut w = Wat::new();
    let msg = w.s("configured");
    w.func(&format!(
        r#"(func (export "proxy_on_configure") (param i32 i32) (result i32)
             (call $logs {msg})
             (drop (call $proxy_get_log_level (i32.const 40)))
             (call $log_code (i32.load (i32.const 40)))
             (i32.const 1))"#
    ));
    let p = proxy(w.compile(), opts());
    assert_eq!(logs(&p), vec!["configured".to_string(), "c=02".to_string()]);
}

#[test]
fn log_level_filters_lines() {
    let mut w = Wat::new();
    let dbg = w.s("debug line");
    let warn = w.s("warn line");
    w.func(&format!(
        r#"(func (export "proxy_on_configure") (param i32 i32) (result i32)
             (drop (call $proxy_log (i32.const 1) {dbg}))
             (drop (call $proxy_log (i32.const 3) {warn}))
             (i32.const 1))"#
    ));
    let p = proxy(w.compile(), opts());
    assert_eq!(logs(&p), vec!["warn line".to_string()]);
}

#[test]
fn header_maps_get_add_replace_remove_and_response_headers() {
    let mut w = Wat::new();
    let x_in = w.s("x-in");
    let x_out = w.s("X-Out");
    let path = w.s(":path");
    let new_path = w.s("/rewritten");
    let x_remove = w.s("x-remove");
    let resp = w.s("x-resp");
    let one = w.s("1");
    w.func(&format!(
        r#"(func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
             (if (i32.eqz (call $proxy_get_header_map_value (i32.const 0) {x_in} (i32.const 0) (i32.const 4)))
               (then (drop (call $proxy_add_header_map_value (i32.const 0) {x_out} (i32.load (i32.const 0)) (i32.load (i32.const 4))))))
             (drop (call $proxy_replace_header_map_value (i32.const 0) {path} {new_path}))
             (drop (call $proxy_remove_header_map_value (i32.const 0) {x_remove}))
             (drop (call $proxy_get_header_map_size (i32.const 0) (i32.const 40)))
             (i32.const 0))
           (func (export "proxy_on_response_headers") (param i32 i32 i32) (result i32)
             (drop (call $proxy_add_header_map_value (i32.const 2) {resp} {one}))
             (i32.const 0))"#
    ));
    let mut p = proxy(w.compile(), opts());
    let out = send(
        &mut p,
        &get(
            "/orig",
            &[("x-in", "hello"), ("X-Remove", "a"), ("x-remove", "b")],
        ),
    );
    assert!(out.errors.is_empty(), "{:?}", out.errors);
    let up = out.upstream.unwrap();
    assert_eq!(up.header("x-out"), Some("hello"));
    assert!(
        up.headers.iter().any(|(k, _)| k == "x-out"),
        "names are lowercased"
    );
    assert_eq!(up.header(":path"), Some("/rewritten"));
    assert_eq!(up.header("x-remove"), None);
    assert_eq!(out.response.status, 200);
    assert_eq!(out.response.header("x-resp"), Some("1"));
}

#[test]
fn header_map_pairs_round_trip() {
    let mut w = Wat::new();
    w.func(
        r#"(func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
             (drop (call $proxy_get_header_map_pairs (i32.const 0) (i32.const 0) (i32.const 4)))
             (drop (call $proxy_set_header_map_pairs (i32.const 0) (i32.load (i32.const 0)) (i32.load (i32.const 4))))
             (i32.const 0))"#,
    );
    let mut p = proxy(w.compile(), opts());
    let out = send(&mut p, &get("/a", &[("x-a", "1"), ("x-a", "2")]));
    let up = out.upstream.unwrap();
    let xa: Vec<&str> = up
        .headers
        .iter()
        .filter(|(k, _)| k == "x-a")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(xa, vec!["1", "2"]);
    assert_eq!(up.header(":method"), Some("GET"));
    assert_eq!(up.header(":authority"), Some("example.com"));
}

fn local_reply_module() -> Wat {
    let mut w = Wat::new();
    let details = w.s("denied_by_test");
    let body = w.s("nope");
    let headers = w.pairs(&[("X-Why", "test")]);
    let resp_seen = w.s("response headers seen");
    w.func(&format!(
        r#"(func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
             (drop (call $proxy_send_local_response (i32.const 403) {details} {body} {headers} (i32.const -1)))
             (i32.const 1))
           (func (export "proxy_on_response_headers") (param i32 i32 i32) (result i32)
             (call $logs {resp_seen})
             (i32.const 0))"#
    ));
    w
}

#[test]
fn local_reply_ends_the_request_and_runs_response_callbacks() {
    let mut p = proxy(local_reply_module().compile(), opts());
    let out = send(&mut p, &get("/x", &[]));
    assert!(out.errors.is_empty(), "{:?}", out.errors);
    assert!(out.upstream.is_none());
    assert_eq!(out.response.status, 403);
    assert_eq!(out.response.body, b"nope");
    assert_eq!(out.response.header("x-why"), Some("test"));
    assert_eq!(out.response.header("content-type"), Some("text/plain"));
    assert_eq!(out.local_reply.unwrap().details, "denied_by_test");
    assert_eq!(logs(&p), vec!["response headers seen".to_string()]);
}

fn body_module() -> Wat {
    let mut w = Wat::new();
    let replaced = w.s("REPLACED");
    let resp = w.s("resp:");
    w.func(&format!(
        r#"(func (export "proxy_on_request_body") (param $ctx i32) (param $size i32) (param $eos i32) (result i32)
             (if (i32.eqz (local.get $eos)) (then (return (i32.const 1))))
             (drop (call $proxy_get_buffer_bytes (i32.const 0) (i32.const 0) (local.get $size) (i32.const 0) (i32.const 4)))
             (call $log_ret)
             (drop (call $proxy_set_buffer_bytes (i32.const 0) (i32.const 0) (local.get $size) {replaced}))
             (i32.const 0))
           (func (export "proxy_on_response_body") (param $ctx i32) (param $size i32) (param $eos i32) (result i32)
             (drop (call $proxy_set_buffer_bytes (i32.const 1) (i32.const 0) (i32.const 0) {resp}))
             (i32.const 0))"#
    ));
    w
}

#[test]
fn body_chunks_buffer_on_pause_and_can_be_replaced() {
    let mut p = proxy(body_module().compile(), opts());
    let mut req = get("/b", &[]);
    req.method = "POST".into();
    req.body = b"hello world".to_vec();
    req.chunk_sizes = vec![1, 3, 2];
    let out = send(&mut p, &req);
    assert!(out.errors.is_empty(), "{:?}", out.errors);
    assert_eq!(
        logs(&p),
        vec!["hello world".to_string()],
        "the last callback sees every buffered chunk"
    );
    assert_eq!(out.upstream.unwrap().body, b"REPLACED");
    assert_eq!(
        out.response.body, b"resp:upstream body",
        "start 0, length 0 prepends"
    );
    assert_eq!(out.response.header("content-length"), None);
}

fn callout_module() -> Wat {
    let mut w = Wat::new();
    let cluster = w.s("auth");
    let headers = w.pairs(&[
        (":method", "GET"),
        (":path", "/check"),
        (":authority", "auth"),
    ]);
    let status = w.s(":status");
    let no_status = w.s("no status");
    w.func(&format!(
        r#"(func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
             (call $log_code (call $proxy_http_call {cluster} {headers} (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 500) (i32.const 12)))
             (i32.const 1))
           (func (export "proxy_on_http_call_response") (param $ctx i32) (param $tok i32) (param $nh i32) (param $bs i32) (param $nt i32)
             (if (i32.eqz (call $proxy_get_header_map_value (i32.const 6) {status} (i32.const 0) (i32.const 4)))
               (then (call $log_ret))
               (else (call $logs {no_status})))
             (if (i32.eqz (call $proxy_get_buffer_bytes (i32.const 4) (i32.const 0) (local.get $bs) (i32.const 0) (i32.const 4)))
               (then (call $log_ret)))
             (drop (call $proxy_continue_stream (i32.const 0))))"#
    ));
    w
}

fn with_callouts(scripts: Vec<CalloutScript>) -> ProxyOptions {
    ProxyOptions {
        callouts: scripts,
        ..opts()
    }
}

#[test]
fn http_call_pauses_then_resumes_with_the_scripted_answer() {
    let script = CalloutScript {
        cluster: Some("auth".into()),
        path_prefix: Some("/check".into()),
        outcome: CalloutOutcome::Response(edgeguard_test_host::http::HttpResponse {
            status: 200,
            headers: vec![],
            body: b"allowed".to_vec(),
        }),
        times: None,
    };
    let mut p = proxy(callout_module().compile(), with_callouts(vec![script]));
    let out = send(&mut p, &get("/x", &[]));
    assert!(out.errors.is_empty(), "{:?}", out.errors);
    assert_eq!(logs(&p), vec!["c=00", "200", "allowed"]);
    assert!(out.upstream.is_some(), "resumed after the callout");
    assert_eq!(out.http_calls.len(), 1);
    assert_eq!(out.http_calls[0].cluster, "auth");
    assert_eq!(out.http_calls[0].timeout_ms, 500);
}

#[test]
fn http_call_timeout_and_reset_have_envoys_shapes() {
    let scripts = vec![
        CalloutScript {
            cluster: None,
            path_prefix: None,
            outcome: CalloutOutcome::Timeout,
            times: Some(1),
        },
        CalloutScript {
            cluster: None,
            path_prefix: None,
            outcome: CalloutOutcome::Reset,
            times: Some(1),
        },
    ];
    let mut p = proxy(callout_module().compile(), with_callouts(scripts));
    send(&mut p, &get("/x", &[]));
    send(&mut p, &get("/x", &[]));
    assert_eq!(
        logs(&p),
        vec![
            "c=00",
            "504",
            "upstream request timeout",
            "c=00",
            "503",
            "upstream connect error or disconnect/reset before headers. reset reason: connection termination"
        ]
    );
}

#[test]
fn unexpected_http_call_is_an_error_in_strict_mode() {
    let mut p = proxy(callout_module().compile(), opts());
    let out = send(&mut p, &get("/x", &[]));
    let msg = out
        .errors
        .iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        msg.contains("unexpected http_call to cluster \"auth\" (GET /check)"),
        "{msg}"
    );
}

#[test]
fn pause_without_resume_is_reported_as_stalled() {
    let mut w = Wat::new();
    w.func(r#"(func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32) (i32.const 1))"#);
    let mut p = proxy(w.compile(), opts());
    let out = send(&mut p, &get("/x", &[]));
    assert!(out.reset);
    assert!(
        matches!(&out.errors[..], [HostError::Stalled { at }] if at == "proxy_on_request_headers")
    );
}

#[test]
fn shared_data_compare_and_set_across_workers() {
    let mut w = Wat::new();
    let k = w.s("k");
    let v = w.s("value");
    w.func(&format!(
        r#"(func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
             (i32.store (i32.const 8) (i32.const 0))
             (call $log_code (call $proxy_get_shared_data {k} (i32.const 0) (i32.const 4) (i32.const 8)))
             (call $log_code (call $proxy_set_shared_data {k} {v} (i32.load (i32.const 8))))
             (call $log_code (call $proxy_set_shared_data {k} {v} (i32.const 77777)))
             (i32.const 0))"#
    ));
    let mut p = proxy(
        w.compile(),
        ProxyOptions {
            workers: 2,
            ..opts()
        },
    );
    let a = send(&mut p, &get("/", &[]));
    let b = send(&mut p, &get("/", &[]));
    assert_ne!(a.worker, b.worker);
    // first: not found, set ok, stale CAS mismatch; second worker sees the first one's value.
    assert_eq!(
        logs(&p),
        vec!["c=01", "c=00", "c=08", "c=00", "c=00", "c=08"]
    );
}

#[test]
fn shared_queue_enqueue_notifies_the_registering_root_context() {
    let mut w = Wat::new();
    let q = w.s("q");
    let vm = w.s("");
    let item = w.s("hello queue");
    w.func(&format!(
        r#"(func (export "proxy_on_configure") (param i32 i32) (result i32)
             (drop (call $proxy_register_shared_queue {q} (i32.const 16)))
             (i32.const 1))
           (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
             (call $log_code (call $proxy_resolve_shared_queue {vm} {q} (i32.const 20)))
             (drop (call $proxy_enqueue_shared_queue (i32.load (i32.const 20)) {item}))
             (i32.const 0))
           (func (export "proxy_on_queue_ready") (param i32) (param $q i32)
             (call $log_code (call $proxy_dequeue_shared_queue (local.get $q) (i32.const 0) (i32.const 4)))
             (call $log_ret)
             (call $log_code (call $proxy_dequeue_shared_queue (local.get $q) (i32.const 0) (i32.const 4))))"#
    ));
    let mut p = proxy(w.compile(), opts());
    send(&mut p, &get("/", &[]));
    assert_eq!(logs(&p), vec!["c=00", "c=00", "hello queue", "c=07"]);
}

#[test]
fn tick_period_drives_on_tick_from_the_controllable_clock() {
    let mut w = Wat::new();
    let name = w.s("ticks");
    w.func(&format!(
        r#"(func (export "proxy_on_configure") (param i32 i32) (result i32)
             (drop (call $proxy_set_tick_period_milliseconds (i32.const 1000)))
             (drop (call $proxy_define_metric (i32.const 0) {name} (i32.const 20)))
             (i32.const 1))
           (func (export "proxy_on_tick") (param i32)
             (drop (call $proxy_increment_metric (i32.load (i32.const 20)) (i64.const 1)))
             (drop (call $proxy_get_current_time_nanoseconds (i32.const 40))))"#
    ));
    let mut p = proxy(
        w.compile(),
        ProxyOptions {
            workers: 2,
            ..opts()
        },
    );
    let start = p.now_nanos();
    assert!(p.advance(3500).is_empty());
    assert_eq!(p.metric("ticks"), Some(6), "3 ticks on each of 2 workers");
    assert_eq!(p.now_nanos(), start + 3_500_000_000);
}

#[test]
fn metrics_counter_gauge_histogram() {
    let mut w = Wat::new();
    let c = w.s("c");
    let g = w.s("g");
    let h = w.s("h");
    w.func(&format!(
        r#"(func (export "proxy_on_configure") (param i32 i32) (result i32)
             (drop (call $proxy_define_metric (i32.const 0) {c} (i32.const 20)))
             (drop (call $proxy_define_metric (i32.const 1) {g} (i32.const 24)))
             (drop (call $proxy_define_metric (i32.const 2) {h} (i32.const 28)))
             (i32.const 1))
           (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
             (drop (call $proxy_increment_metric (i32.load (i32.const 20)) (i64.const 1)))
             (drop (call $proxy_record_metric (i32.load (i32.const 24)) (i64.const 42)))
             (drop (call $proxy_record_metric (i32.load (i32.const 28)) (i64.const 5)))
             (call $log_code (call $proxy_increment_metric (i32.load (i32.const 20)) (i64.const -1)))
             (call $log_code (call $proxy_get_metric (i32.load (i32.const 28)) (i32.const 40)))
             (i32.const 0))"#
    ));
    let mut p = proxy(
        w.compile(),
        ProxyOptions {
            workers: 2,
            ..opts()
        },
    );
    send(&mut p, &get("/", &[]));
    send(&mut p, &get("/", &[]));
    assert_eq!(p.metric("c"), Some(2), "same name in two VMs is one stat");
    assert_eq!(p.metric("g"), Some(42));
    assert_eq!(
        logs(&p)[..2],
        ["c=02".to_string(), "c=02".to_string()],
        "negative counter delta and reading a histogram are BadArgument"
    );
}

#[test]
fn properties_have_envoys_names_and_encodings() {
    let mut w = Wat::new();
    let src = w.s("source\0address");
    let path = w.s("request\0path");
    let name = w.s("plugin_name");
    let mtls = w.s("connection\0mtls");
    let hdr = w.s("request\0headers\0x-a");
    let custom = w.s("my\0prop");
    let val = w.s("set-by-module");
    let port = w.s("source\0port");
    w.func(&format!(
        r#"(func $show (param $p i32) (param $l i32)
             (if (i32.eqz (call $proxy_get_property (local.get $p) (local.get $l) (i32.const 0) (i32.const 4)))
               (then (call $log_ret))
               (else (call $log_code (i32.const 1)))))
           (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
             (call $show {src})
             (call $show {path})
             (call $show {name})
             (call $show {hdr})
             (drop (call $proxy_get_property {mtls} (i32.const 0) (i32.const 4)))
             (call $log_code (i32.load8_u (i32.load (i32.const 0))))
             (drop (call $proxy_get_property {port} (i32.const 0) (i32.const 4)))
             (call $log_code (i32.load (i32.const 4)))
             (drop (call $proxy_set_property {custom} {val}))
             (call $show {custom})
             (i32.const 0))"#
    ));
    let mut p = proxy(
        w.compile(),
        ProxyOptions {
            settings: PluginSettings {
                plugin_name: "my-plugin".into(),
                ..Default::default()
            },
            ..opts()
        },
    );
    let conn = ConnectionProps {
        source_address: "10.1.2.3:5555".into(),
        mtls: true,
        ..Default::default()
    };
    let out = p
        .send_with(
            &get("/p?q=1", &[("x-a", "va")]),
            conn,
            &mut modules::ok_upstream(),
        )
        .unwrap();
    assert!(out.errors.is_empty(), "{:?}", out.errors);
    assert_eq!(
        logs(&p),
        vec![
            "10.1.2.3:5555",
            "/p?q=1",
            "my-plugin",
            "va",
            "c=01",
            "c=08",
            "set-by-module"
        ]
    );
}

#[test]
fn foreign_functions_effective_context_done_and_grpc_do_not_trap() {
    let mut w = Wat::new();
    let f = w.s("compress");
    let svc = w.s("svc");
    w.func(&format!(
        r#"(func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
             (call $log_code (call $proxy_call_foreign_function {f} (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 4)))
             (call $log_code (call $proxy_set_effective_context (i32.const 999)))
             (call $log_code (call $proxy_set_effective_context (i32.const 1)))
             (call $log_code (call $proxy_grpc_call {svc} {svc} {svc} (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 100) (i32.const 12)))
             (call $log_code (call $proxy_done))
             (i32.const 0))"#
    ));
    let mut p = proxy(w.compile(), opts());
    let out = send(&mut p, &get("/", &[]));
    assert!(out.errors.is_empty(), "{:?}", out.errors);
    // gRPC to a cluster the host lacks: ParseFailure (4), as Envoy answers.
    assert_eq!(logs(&p), vec!["c=01", "c=02", "c=00", "c=04", "c=00"]);
    assert_eq!(p.vm(0).unwrap().state().done_called, vec![1]);
}

#[test]
fn wasi_stdout_random_and_environ() {
    let mut w = Wat::new();
    let (tp, tl) = w.raw("from stdout\n");
    w.func(&format!(
        r#"(func (export "proxy_on_configure") (param i32 i32) (result i32)
             (i32.store (i32.const 300) (i32.const {tp}))
             (i32.store (i32.const 304) (i32.const {tl}))
             (drop (call $fd_write (i32.const 1) (i32.const 300) (i32.const 1) (i32.const 40)))
             (call $log_code (call $random_get (i32.const 400) (i32.const 16)))
             (drop (call $environ_sizes_get (i32.const 40) (i32.const 44)))
             (call $log_code (i32.load (i32.const 40)))
             (i32.const 1))"#
    ));
    let settings = PluginSettings {
        env: vec![("A".into(), "1".into()), ("B".into(), "2".into())],
        ..Default::default()
    };
    let p = proxy(w.compile(), ProxyOptions { settings, ..opts() });
    assert_eq!(logs(&p), vec!["from stdout", "c=00", "c=02"]);
}

#[test]
fn on_done_on_log_on_delete_run_in_order() {
    let mut w = Wat::new();
    let d = w.s("done");
    let l = w.s("log");
    let x = w.s("delete");
    w.func(&format!(
        r#"(func (export "proxy_on_done") (param i32) (result i32) (call $logs {d}) (i32.const 1))
           (func (export "proxy_on_log") (param i32) (call $logs {l}))
           (func (export "proxy_on_delete") (param i32) (call $logs {x}))"#
    ));
    let mut p = proxy(w.compile(), opts());
    send(&mut p, &get("/", &[]));
    assert_eq!(logs(&p), vec!["done", "log", "delete"]);
    assert!(
        p.vm(0).unwrap().state().streams.is_empty(),
        "stream state is dropped"
    );
}

fn trap_module() -> Wat {
    let mut w = Wat::new();
    let h = w.s("x-trap");
    let l = w.s("x-loop");
    w.func(&format!(
        r#"(func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
             (if (i32.eqz (call $proxy_get_header_map_value (i32.const 0) {h} (i32.const 0) (i32.const 4)))
               (then unreachable))
             (if (i32.eqz (call $proxy_get_header_map_value (i32.const 0) {l} (i32.const 0) (i32.const 4)))
               (then (loop $forever (br $forever))))
             (i32.const 0))"#
    ));
    w
}

#[test]
fn trap_fails_the_stream_with_503_and_fail_closed_keeps_the_worker_failed() {
    let mut p = proxy(trap_module().compile(), opts());
    let out = send(&mut p, &get("/", &[("x-trap", "1")]));
    assert_eq!(out.response.status, 503);
    assert!(out.response.body.is_empty());
    assert!(out.upstream.is_none());
    let msg = out.vm_failure.unwrap().to_string();
    assert!(
        msg.starts_with("trap in proxy_on_request_headers:"),
        "{msg}"
    );
    let next = send(&mut p, &get("/", &[]));
    assert_eq!(
        next.response.status, 503,
        "Envoy's FAIL_CLOSED: the worker answers 503 from now on"
    );
}

#[test]
fn fail_reload_recreates_the_vm_and_fail_open_bypasses_it() {
    let module = trap_module().compile();
    let mut p = proxy(
        module.clone(),
        ProxyOptions {
            failure_policy: FailurePolicy::FailReload,
            ..opts()
        },
    );
    assert_eq!(
        send(&mut p, &get("/", &[("x-trap", "1")])).response.status,
        503
    );
    let next = send(&mut p, &get("/", &[]));
    assert_eq!(next.response.status, 200);
    assert!(next.upstream.is_some());

    let mut p = proxy(
        module,
        ProxyOptions {
            failure_policy: FailurePolicy::FailOpen,
            ..opts()
        },
    );
    assert_eq!(
        send(&mut p, &get("/", &[("x-trap", "1")])).response.status,
        503
    );
    let bypass = send(&mut p, &get("/", &[("x-trap", "1")]));
    assert_eq!(
        bypass.response.status, 200,
        "FAIL_OPEN skips the filter (even a request that would trap)"
    );
}

#[test]
fn out_of_fuel_is_reported_with_the_callback_name() {
    let limits = VmLimits {
        fuel_per_callback: Some(1_000_000),
        max_memory: None,
    };
    let mut p = proxy(trap_module().compile(), ProxyOptions { limits, ..opts() });
    let out = send(&mut p, &get("/", &[("x-loop", "1")]));
    assert_eq!(out.response.status, 503);
    assert_eq!(
        out.vm_failure.unwrap().to_string(),
        "proxy_on_request_headers ran out of fuel (budget 1000000 per callback)"
    );
}

#[test]
fn proc_exit_is_a_trap_naming_the_code() {
    let mut w = Wat::new();
    w.func(r#"(func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32) (call $proc_exit (i32.const 3)) (i32.const 0))"#);
    let mut p = proxy(w.compile(), opts());
    let msg = send(&mut p, &get("/", &[])).vm_failure.unwrap().to_string();
    assert!(
        msg.contains("proxy_on_request_headers") && msg.contains("proc_exit(3)"),
        "{msg}"
    );
}

#[test]
fn abi_misuse_is_an_error_naming_the_function_and_callback() {
    let mut w = Wat::new();
    let m = w.s("x");
    w.func(&format!(
        r#"(func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
             (drop (call $proxy_log (i32.const 9) {m}))
             (drop (call $proxy_log (i32.const 2) (i32.const 2000000000) (i32.const 10)))
             (i32.const 0))"#
    ));
    let mut p = proxy(w.compile(), opts());
    let out = send(&mut p, &get("/", &[]));
    let msg = out
        .errors
        .iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        msg.contains("proxy_log during proxy_on_request_headers: unknown log level 9"),
        "{msg}"
    );
    assert!(msg.contains("out of bounds"), "{msg}");
}

#[test]
fn on_configure_false_refuses_to_start() {
    let mut w = Wat::new();
    w.func(r#"(func (export "proxy_on_configure") (param i32 i32) (result i32) (i32.const 0))"#);
    let err = edgeguard_test_host::Proxy::new(w.compile(), opts())
        .err()
        .unwrap();
    assert_eq!(
        err.to_string(),
        "proxy_on_configure returned false: the plugin refused to start"
    );
}

#[test]
fn bad_modules_get_clear_errors() {
    let e = CompiledModule::from_bytes(b"\x7fELF not wasm", "junk.wasm", true)
        .err()
        .unwrap();
    assert!(
        e.to_string()
            .starts_with("junk.wasm is not a valid WebAssembly module:"),
        "{e}"
    );

    let w = Wat::new().without_abi_export();
    let e = CompiledModule::from_bytes(w.build().as_bytes(), "m", true)
        .err()
        .unwrap();
    assert_eq!(e, HostError::NotProxyWasm { found: vec![] });
    assert!(e.to_string().contains("proxy_abi_version_0_2_1"));

    let text = r#"(module (import "env" "proxy_fancy_new_call" (func (param i32) (result i32)))
                  (memory (export "memory") 1) (func (export "proxy_abi_version_0_2_1")))"#;
    let e = CompiledModule::from_bytes(text.as_bytes(), "m", true)
        .err()
        .unwrap();
    assert_eq!(
        e.to_string(),
        "module imports env.proxy_fancy_new_call, which this host does not provide"
    );
    let lenient = CompiledModule::from_bytes(text.as_bytes(), "m", false).unwrap();
    assert_eq!(
        lenient.unknown_imports,
        vec!["env.proxy_fancy_new_call".to_string()]
    );

    let e = CompiledModule::from_file(std::path::Path::new("/nonexistent/x.wasm"), true)
        .err()
        .unwrap();
    assert!(
        e.to_string().starts_with("cannot read /nonexistent/x.wasm"),
        "{e}"
    );
}

#[test]
fn many_proxies_run_in_parallel_without_shared_state() {
    let module = local_reply_module().compile();
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let m = module.clone();
            std::thread::spawn(move || {
                let mut p = proxy(m, opts());
                for _ in 0..5 {
                    assert_eq!(send(&mut p, &get("/", &[])).response.status, 403);
                }
                logs(&p).len()
            })
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), 5);
    }
}

#[allow(dead_code)]
fn unused(_: HttpRequest) {}
