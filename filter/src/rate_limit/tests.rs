//! Rate limiter behaviour through the engine and directly against shared data.

use super::*;
use crate::decision::RequestAction;
use crate::engine::{Engine, Identity, Stream};
use crate::host::memory::MemoryHost;
use crate::host::{HttpCallout, LogLevel, SharedDataError};
use crate::request::ConnectionInfo;
use std::cell::{Cell, RefCell};
use std::collections::HashSet;

fn req_from(ip: &str, headers: &[(&str, &str)]) -> RequestView {
    RequestView::new(
        "GET",
        "https",
        "api.example.com",
        "/api/x",
        headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ConnectionInfo {
            source_ip: ip.parse().ok(),
            ..ConnectionInfo::default()
        },
    )
    .unwrap()
}

fn send(engine: &Engine, host: &dyn Host, req: RequestView) -> RequestAction {
    let mut s = Stream::default();
    engine.on_request_headers(&mut s, req, host)
}

fn send_full(
    engine: &Engine,
    host: &dyn Host,
    req: RequestView,
) -> (RequestAction, Vec<(String, String)>) {
    let mut s = Stream::default();
    let a = engine.on_request_headers(&mut s, req, host);
    let mut resp = vec![("content-type".to_string(), "application/json".to_string())];
    let m = engine.on_response_headers(&mut s, &resp.clone(), host);
    m.mutations.apply_to(&mut resp);
    (a, resp)
}

fn header<'a>(h: &'a [(String, String)], name: &str) -> Option<&'a str> {
    h.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

const BASIC: &str = r#"{
  "headers": {},
  "rate_limit": {"policies":[{"name":"burst","quota":3,"window_secs":60,"key":"ip","slots":64}]},
  "rules": [{"match":{"prefix":"/api"},"rate_limits":["burst"]}]
}"#;

#[test]
fn quota_then_429_problem_with_retry_after_and_hints() {
    let engine = Engine::from_json(BASIC.as_bytes()).unwrap();
    let host = MemoryHost::at(1_700_000_000);
    for remaining in ["2", "1", "0"] {
        let (a, resp) = send_full(&engine, &host, req_from("198.51.100.1", &[]));
        assert!(matches!(a, RequestAction::Continue(_)));
        assert_eq!(header(&resp, "x-ratelimit-remaining"), Some(remaining));
        assert_eq!(header(&resp, "x-ratelimit-limit"), Some("3"));
        assert_eq!(
            header(&resp, "ratelimit-policy"),
            Some("\"burst\";q=3;w=60")
        );
        assert!(header(&resp, "ratelimit")
            .unwrap()
            .starts_with(&format!("\"burst\";r={remaining};t=")));
    }
    let RequestAction::Respond(reply) = send(&engine, &host, req_from("198.51.100.1", &[])) else {
        panic!("expected 429");
    };
    assert_eq!((reply.status, reply.reason), (429, "rate_limited"));
    assert_eq!(header(&reply.headers, "retry-after"), Some("20"));
    assert_eq!(
        header(&reply.headers, "content-type"),
        Some("application/problem+json")
    );
    assert_eq!(
        header(&reply.headers, "ratelimit"),
        Some("\"burst\";r=0;t=60")
    );
    // Local replies carry the security headers too.
    assert_eq!(
        header(&reply.headers, "x-content-type-options"),
        Some("nosniff")
    );
    let body: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
    assert_eq!(body["type"], QUOTA_EXCEEDED_TYPE);
    assert_eq!(body["status"], 429);
    assert_eq!(body["violated-policies"], serde_json::json!(["burst"]));
    // Another client is unaffected; the first recovers after one interval.
    assert!(matches!(
        send(&engine, &host, req_from("198.51.100.2", &[])),
        RequestAction::Continue(_)
    ));
    host.advance_secs(20);
    assert!(matches!(
        send(&engine, &host, req_from("198.51.100.1", &[])),
        RequestAction::Continue(_)
    ));
    assert_eq!(host.metric("edgeguard_ratelimit_exceeded_total"), 1);
}

#[test]
fn hint_only_never_blocks_and_closest_policy_is_reported() {
    let engine = Engine::from_json(
        br#"{"rate_limit":{"hints":"ietf","policies":[
            {"name":"soft","quota":1,"window_secs":60,"hint_only":true,"slots":16},
            {"name":"wide","quota":100,"window_secs":60,"slots":16}]},
          "rules":[{"match":{"prefix":"/"},"rate_limits":["wide","soft"]}]}"#,
    )
    .unwrap();
    let host = MemoryHost::at(1_700_000_000);
    for _ in 0..5 {
        let (a, resp) = send_full(&engine, &host, req_from("198.51.100.1", &[]));
        assert!(matches!(a, RequestAction::Continue(_)));
        assert!(header(&resp, "ratelimit")
            .unwrap()
            .starts_with("\"soft\";r=0"));
        assert_eq!(
            header(&resp, "ratelimit-policy"),
            Some("\"wide\";q=100;w=60, \"soft\";q=1;w=60")
        );
        assert_eq!(header(&resp, "x-ratelimit-limit"), None);
    }
}

#[test]
fn all_routes_policies_apply_without_a_rule_and_keys_by_header_claim_service() {
    let engine = Engine::from_json(
        br#"{"rate_limit":{"hints":"none","policies":[
            {"name":"global","quota":2,"window_secs":3600,"key":"global","all_routes":true,"slots":4}]}}"#,
    )
    .unwrap();
    let host = MemoryHost::at(1_700_000_000);
    assert!(
        matches!(send(&engine, &host, req_from("1.1.1.1", &[])), RequestAction::Continue(m) if m.is_empty())
    );
    assert!(matches!(
        send(&engine, &host, req_from("2.2.2.2", &[])),
        RequestAction::Continue(_)
    ));
    assert!(
        matches!(send(&engine, &host, req_from("3.3.3.3", &[])), RequestAction::Respond(r) if r.status == 429)
    );

    let limiter = RateLimiter::compile(
        &Config::from_json(
            br#"{"rate_limit":{"policies":[
                {"name":"user","quota":1,"window_secs":60,"key":"claim:sub","slots":64},
                {"name":"svc","quota":1,"window_secs":60,"key":"service","slots":64},
                {"name":"apikey","quota":1,"window_secs":60,"key":"header:x-api-key","slots":64}]},
              "rules":[{"match":{"prefix":"/"},"rate_limits":["user"]},
                       {"match":{"prefix":"/"},"rate_limits":["svc"]},
                       {"match":{"prefix":"/"},"rate_limits":["apikey"]}]}"#,
        )
        .unwrap(),
    )
    .unwrap();
    let run = |rule: usize, ip: &str, headers: &[(&str, &str)], identity: Identity| {
        let r = req_from(ip, headers);
        let mut identity = identity;
        let mut upstream = HeaderMutations::default();
        let mut ctx = RequestContext {
            req: &r,
            rule: Some(rule),
            rule_name: "r",
            host: &host,
            client_ip: r.connection.source_ip,
            identity: &mut identity,
            upstream: &mut upstream,
            body: None,
        };
        let mut s = RateLimitStream::default();
        limiter.on_request(&mut ctx, &mut s)
    };
    let alice = || Identity {
        jwt_claims: vec![(
            "p".into(),
            std::rc::Rc::new(serde_json::json!({"sub": "alice"})),
        )],
        ..Identity::default()
    };
    // Same user from two IPs: one quota.
    assert_eq!(run(0, "1.1.1.1", &[], alice()), Step::Next);
    assert!(matches!(run(0, "2.2.2.2", &[], alice()), Step::Respond(_)));
    let svc = || Identity {
        service_id: Some("mailer".into()),
        ..Identity::default()
    };
    assert_eq!(run(1, "1.1.1.1", &[], svc()), Step::Next);
    assert!(matches!(run(1, "9.9.9.9", &[], svc()), Step::Respond(_)));
    assert_eq!(
        run(2, "1.1.1.1", &[("x-api-key", "k1")], Identity::default()),
        Step::Next
    );
    assert!(matches!(
        run(2, "5.5.5.5", &[("x-api-key", "k1")], Identity::default()),
        Step::Respond(_)
    ));
    // Without the header the client IP is the key: leaving it out does not escape the limit.
    assert_eq!(run(2, "7.7.7.7", &[], Identity::default()), Step::Next);
    assert!(matches!(
        run(2, "7.7.7.7", &[], Identity::default()),
        Step::Respond(_)
    ));
}

#[test]
fn unknown_policy_names_are_load_errors_with_the_rule_path() {
    let e = Config::from_json(
        br#"{"rate_limit":{"policies":[{"name":"a","quota":1,"window_secs":1}]},
             "rules":[{"match":{"prefix":"/"},"rate_limits":["a","b"]}]}"#,
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "config error at rules[0].rate_limits[1]: unknown rate limit policy \"b\""
    );
    for (json, path) in [
        (
            r#"{"policies":[{"name":"a b","quota":1,"window_secs":1}]}"#,
            "rate_limit.policies[0].name",
        ),
        (
            r#"{"policies":[{"name":"a","quota":0,"window_secs":1}]}"#,
            "rate_limit.policies[0].quota",
        ),
        (
            r#"{"policies":[{"name":"a","quota":1,"window_secs":0}]}"#,
            "rate_limit.policies[0].window_secs",
        ),
        (
            r#"{"policies":[{"name":"a","quota":1,"window_secs":1,"key":"cookie:x"}]}"#,
            "rate_limit.policies[0].key",
        ),
        (
            r#"{"policies":[{"name":"a","quota":1,"window_secs":1,"slots":0}]}"#,
            "rate_limit.policies[0].slots",
        ),
        (
            r#"{"policies":[{"name":"a","quota":1,"window_secs":1},{"name":"a","quota":1,"window_secs":1}]}"#,
            "rate_limit.policies[1].name",
        ),
    ] {
        let full = format!(r#"{{"rate_limit":{json}}}"#);
        let e = Config::from_json(full.as_bytes()).unwrap_err();
        assert_eq!(e.path, path, "{json}");
    }
}

/// A host that records every shared-data key ever written.
struct KeyCountingHost {
    inner: MemoryHost,
    keys: RefCell<HashSet<String>>,
}

impl Host for KeyCountingHost {
    fn now_nanos(&self) -> u64 {
        self.inner.now_nanos()
    }
    fn shared_get(&self, key: &str) -> Option<(Vec<u8>, u32)> {
        self.inner.shared_get(key)
    }
    fn shared_set(&self, key: &str, value: &[u8], cas: u32) -> Result<(), SharedDataError> {
        self.keys.borrow_mut().insert(key.to_string());
        self.inner.shared_set(key, value, cas)
    }
    fn http_call(&self, call: &HttpCallout) -> Result<u32, String> {
        self.inner.http_call(call)
    }
    fn count(&self, name: &str, delta: i64) {
        self.inner.count(name, delta)
    }
    fn log(&self, level: LogLevel, message: &str) {
        self.inner.log(level, message)
    }
}

#[test]
fn a_flood_of_distinct_clients_uses_a_bounded_number_of_keys() {
    let engine = Engine::from_json(
        br#"{"rate_limit":{"policies":[{"name":"ip","quota":5,"window_secs":60,"slots":256}],
             "lockout":{"slots":128}},
             "rules":[{"match":{"prefix":"/"},"rate_limits":["ip"]}]}"#,
    )
    .unwrap();
    let host = KeyCountingHost {
        inner: MemoryHost::at(1_700_000_000),
        keys: RefCell::new(HashSet::new()),
    };
    let mut allowed = 0;
    for i in 0..20_000u32 {
        let ip = format!("10.{}.{}.{}", i >> 16, (i >> 8) & 255, i & 255);
        if matches!(
            send(&engine, &host, req_from(&ip, &[])),
            RequestAction::Continue(_)
        ) {
            allowed += 1;
        }
        if i % 1000 == 999 {
            host.inner.advance_secs(1);
        }
    }
    let keys = host.keys.borrow().clone();
    assert!(keys.len() <= 256 + 128, "{} keys", keys.len());
    assert!(keys
        .iter()
        .all(|k| k.starts_with("eg:rl1:ip:") || k.starts_with("eg:lo1:")));
    // Sharing only ever over-counts: more clients than slots may be limited, none gets extra.
    assert!(allowed <= 20_000);
    assert!(host.inner.metric("edgeguard_ratelimit_slot_shared_total") > 0);
    // Once the window has passed, slots are reused exactly like fresh keys.
    host.inner.advance_secs(120);
    for _ in 0..5 {
        assert!(matches!(
            send(&engine, &host, req_from("192.0.2.1", &[])),
            RequestAction::Continue(_)
        ));
    }
    assert!(matches!(
        send(&engine, &host, req_from("192.0.2.1", &[])),
        RequestAction::Respond(_)
    ));
    assert!(host.keys.borrow().len() <= 256 + 128);
}

/// Another worker's whole decision, run in the middle of ours.
type Competitor<'a> = Box<dyn FnMut(&MemoryHost) + 'a>;

/// A host where, before a CAS write lands, another "worker" runs a whole decision on the same
/// shared data, so the write meets a changed value and must retry.
struct RacingHost<'a> {
    inner: &'a MemoryHost,
    competitor: RefCell<Option<Competitor<'a>>>,
    armed: Cell<bool>,
}

impl Host for RacingHost<'_> {
    fn now_nanos(&self) -> u64 {
        self.inner.now_nanos()
    }
    fn shared_get(&self, key: &str) -> Option<(Vec<u8>, u32)> {
        self.inner.shared_get(key)
    }
    fn shared_set(&self, key: &str, value: &[u8], cas: u32) -> Result<(), SharedDataError> {
        if cas != 0 && self.armed.replace(false) {
            let taken = self.competitor.borrow_mut().take();
            if let Some(mut c) = taken {
                c(self.inner);
                *self.competitor.borrow_mut() = Some(c);
            }
        }
        self.inner.shared_set(key, value, cas)
    }
    fn http_call(&self, call: &HttpCallout) -> Result<u32, String> {
        self.inner.http_call(call)
    }
    fn count(&self, name: &str, delta: i64) {
        self.inner.count(name, delta)
    }
    fn log(&self, level: LogLevel, message: &str) {
        self.inner.log(level, message)
    }
}

#[test]
fn concurrent_updates_are_never_lost() {
    let config = Config::from_json(
        br#"{"rate_limit":{"policies":[{"name":"p","quota":10,"window_secs":60,"slots":8}]}}"#,
    )
    .unwrap();
    let worker_a = RateLimiter::compile(&config).unwrap();
    let worker_b = RateLimiter::compile(&config).unwrap();
    let memory = MemoryHost::at(1_700_000_000);
    let b_allowed = Cell::new(0);
    let policy_b = &worker_b.policies[0];
    let host = RacingHost {
        inner: &memory,
        competitor: RefCell::new(Some(Box::new(|inner: &MemoryHost| {
            if policy_b.check(inner, "ip:1.2.3.4").unwrap().allowed {
                b_allowed.set(b_allowed.get() + 1);
            }
        }))),
        armed: Cell::new(false),
    };
    let mut a_allowed = 0;
    for _ in 0..30 {
        host.armed.set(true);
        if worker_a.policies[0]
            .check(&host, "ip:1.2.3.4")
            .unwrap()
            .allowed
        {
            a_allowed += 1;
        }
    }
    assert_eq!(
        a_allowed + b_allowed.get(),
        10,
        "a={a_allowed} b={}",
        b_allowed.get()
    );
    assert!(b_allowed.get() > 0 && a_allowed > 0);
    assert!(memory.metric("edgeguard_ratelimit_cas_retries_total") > 0);
}

#[test]
fn lockout_through_the_engine_blocks_before_authentication() {
    let engine = Engine::from_json(
        br#"{"headers":{},"rate_limit":{"lockout":{"max_failures":3,"slots":64}},
             "rules":[{"match":{"prefix":"/"}}]}"#,
    )
    .unwrap();
    let host = MemoryHost::at(1_700_000_000);
    let attacker = req_from("203.0.113.66", &[]);
    let fail = LocalReply::error(401, "jwt_invalid_signature", "bad token");
    let ip = attacker.connection.source_ip;
    for _ in 0..2 {
        engine
            .rate_limit
            .record_denial("login", &attacker, ip, &fail, &host);
    }
    // Denials that are not authentication failures do not count.
    engine.rate_limit.record_denial(
        "login",
        &attacker,
        ip,
        &LocalReply::error(429, "rate_limited", "x"),
        &host,
    );
    assert!(matches!(
        send(&engine, &host, attacker.clone()),
        RequestAction::Continue(_)
    ));
    engine
        .rate_limit
        .record_denial("login", &attacker, ip, &fail, &host);
    let RequestAction::Respond(reply) = send(&engine, &host, attacker.clone()) else {
        panic!("expected lockout");
    };
    assert_eq!((reply.status, reply.reason), (429, "locked_out"));
    assert_eq!(header(&reply.headers, "retry-after"), Some("900"));
    assert_eq!(header(&reply.headers, "x-frame-options"), Some("DENY"));
    assert_eq!(host.metric("edgeguard_lockouts_total"), 1);
    assert_eq!(host.metric("edgeguard_lockout_blocked_total"), 1);
    // The locked-out reply itself is not an authentication failure: no extension.
    host.advance_secs(900);
    assert!(matches!(
        send(&engine, &host, attacker),
        RequestAction::Continue(_)
    ));
    // A legitimate user from another IP was never affected.
    assert!(matches!(
        send(&engine, &host, req_from("198.51.100.5", &[])),
        RequestAction::Continue(_)
    ));
}
