//! Property tests of the masking rewriter: random JSON documents with sensitive values planted
//! at random depths (under sensitive keys, and inside harmless strings) are masked into valid
//! JSON that equals the input except at masked values and holds none of the planted values;
//! chunking never changes the output; strictness agrees with serde_json.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use edgeguard::masking::config::MaskingConfig;
use edgeguard::masking::policy::Policy;
use edgeguard::masking::rewriter::{rewrite, Rewritten};
use proptest::prelude::*;
use serde_json::{Map, Value};

/// Keys that the default heuristics mark sensitive (values planted under them).
const SENSITIVE_KEYS: &[&str] = &[
    "email",
    "phone",
    "card_number",
    "ssn",
    "password",
    "api_token",
];
/// Marks a planted secret inside a harmless string: `SEE <secret> HERE`.
const PRE: &str = "SEE ";
const POST: &str = " HERE";

fn card() -> impl Strategy<Value = String> {
    (
        prop::sample::select(vec![13usize, 15, 16, 19]),
        3u8..7,
        prop::collection::vec(0u8..10, 18),
        any::<bool>(),
    )
        .prop_map(|(len, first, rest, grouped)| {
            let mut d: Vec<u8> = std::iter::once(first)
                .chain(rest.into_iter().take(len - 2))
                .collect();
            // Luhn check digit.
            let sum: u32 = d
                .iter()
                .rev()
                .enumerate()
                .map(|(i, &x)| {
                    let x = u32::from(x);
                    if i % 2 == 0 {
                        let y = x * 2;
                        if y > 9 {
                            y - 9
                        } else {
                            y
                        }
                    } else {
                        x
                    }
                })
                .sum();
            d.push(((10 - sum % 10) % 10) as u8);
            let s: String = d.iter().map(|x| char::from(b'0' + x)).collect();
            if grouped && len == 16 {
                format!("{} {} {} {}", &s[0..4], &s[4..8], &s[8..12], &s[12..16])
            } else {
                s
            }
        })
}

fn secret() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z][a-z0-9._]{0,10}@[a-z]{2,8}\\.(com|org|io)",
        card(),
        "[0-9]{3}-[0-9]{2}-[0-9]{4}",
        "eyJ[A-Za-z0-9_-]{10,30}\\.eyJ[A-Za-z0-9_-]{5,30}\\.[A-Za-z0-9_-]{0,40}",
        "sk_live_[A-Za-z0-9]{16,30}",
        "AKIA[A-Z0-9]{16}",
        "ghp_[A-Za-z0-9]{36}",
        "xoxb-[0-9]{10}-[a-zA-Z0-9]{12}",
    ]
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        // Binary fractions, so serde_json's own float parsing round-trips them exactly.
        any::<i32>().prop_map(|x| Value::from(f64::from(x) / 8.0)),
        "[a-z é日\"\\\\\n\t/]{0,16}".prop_map(Value::String),
        secret().prop_map(|s| Value::String(format!("{PRE}{s}{POST}"))),
    ]
}

fn doc() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(6, 96, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec(
                prop_oneof![
                    4 => ("[a-f0-9]{1,6}", inner.clone()),
                    1 => (prop::sample::select(SENSITIVE_KEYS).prop_map(str::to_string), secret().prop_map(Value::String)),
                    1 => (prop::sample::select(SENSITIVE_KEYS).prop_map(str::to_string), inner),
                ],
                0..6
            )
            .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn default_policy() -> Policy {
    Policy::compile(&MaskingConfig::default(), None, "masking").unwrap()
}

fn mask(p: &Policy, input: &[u8]) -> Vec<u8> {
    match rewrite(p, input).unwrap() {
        Rewritten::Unchanged => input.to_vec(),
        Rewritten::Masked { body, .. } => body,
    }
}

/// Collect planted secrets of `v` (marked strings, and every scalar under a sensitive key).
fn secrets(v: &Value, under_key: bool, out: &mut Vec<String>) {
    match v {
        Value::String(s) => {
            if under_key {
                out.push(s.clone());
            } else if let Some(inner) = s.strip_prefix(PRE).and_then(|x| x.strip_suffix(POST)) {
                out.push(inner.to_string());
            }
        }
        Value::Null => {}
        Value::Bool(_) | Value::Number(_) if under_key => out.push(v.to_string()),
        Value::Array(a) => a.iter().for_each(|x| secrets(x, under_key, out)),
        Value::Object(o) => o
            .iter()
            .for_each(|(k, x)| secrets(x, under_key || SENSITIVE_KEYS.contains(&k.as_str()), out)),
        _ => {}
    }
}

/// The output equals the input except at masked values, which became strings.
fn same_except_masked(input: &Value, output: &Value, masked: bool) -> Result<(), String> {
    match (input, output) {
        (Value::Null, Value::Null) => Ok(()),
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => a
            .iter()
            .zip(b)
            .try_for_each(|(x, y)| same_except_masked(x, y, masked)),
        (Value::Object(a), Value::Object(b)) if a.len() == b.len() => {
            a.iter().try_for_each(|(k, x)| {
                let y = b.get(k).ok_or(format!("key {k:?} missing"))?;
                same_except_masked(x, y, masked || SENSITIVE_KEYS.contains(&k.as_str()))
            })
        }
        (_, Value::String(_)) if masked => Ok(()),
        (Value::String(x), Value::String(y)) => {
            if let Some(inner) = x.strip_prefix(PRE).and_then(|s| s.strip_suffix(POST)) {
                let y_inner = y.strip_prefix(PRE).and_then(|s| s.strip_suffix(POST));
                match y_inner {
                    Some(m) if m != inner => Ok(()),
                    _ => Err(format!("planted {inner:?} not masked: {y:?}")),
                }
            } else if x == y {
                Ok(())
            } else {
                Err(format!("{x:?} changed to {y:?}"))
            }
        }
        (x, y) if x == y => Ok(()),
        (x, y) => Err(format!("{x} changed to {y}")),
    }
}

fn all_strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|x| all_strings(x, out)),
        Value::Object(o) => o.iter().for_each(|(k, x)| {
            out.push(k.clone());
            all_strings(x, out)
        }),
        _ => {}
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn planted_values_are_masked_and_nothing_else_changes(v in doc(), pretty in any::<bool>()) {
        let input = if pretty { serde_json::to_vec_pretty(&v).unwrap() } else { serde_json::to_vec(&v).unwrap() };
        let p = default_policy();
        let out = mask(&p, &input);
        let parsed: Value = serde_json::from_slice(&out).expect("output is valid JSON");
        if let Err(e) = same_except_masked(&v, &parsed, false) {
            prop_assert!(false, "{}", e);
        }
        let mut planted = Vec::new();
        secrets(&v, false, &mut planted);
        let out_text = String::from_utf8(out.clone()).unwrap();
        let mut strings = Vec::new();
        all_strings(&parsed, &mut strings);
        for s in planted.iter().filter(|s| s.len() >= 6) {
            prop_assert!(!out_text.contains(s.as_str()), "{s:?} leaked in raw output");
            prop_assert!(!strings.iter().any(|x| x.contains(s.as_str())), "{s:?} leaked in a string");
        }
        if planted.is_empty() {
            prop_assert_eq!(&out, &input, "nothing planted: bytes must be identical");
        }
    }

    #[test]
    fn chunking_never_changes_the_output(v in doc(), cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..8)) {
        use edgeguard::decision::ResponseBodyAction;
        use edgeguard::engine::{Engine, Stream};
        use edgeguard::host::memory::MemoryHost;
        use edgeguard::request::{ConnectionInfo, RequestView};
        let input = serde_json::to_vec(&v).unwrap();
        let whole = mask(&default_policy(), &input);
        let e = Engine::from_json(br#"{"rules":[{"match":{"prefix":"/"},"masking":true}]}"#).unwrap();
        let host = MemoryHost::at(1_700_000_000);
        let mut s = Stream::default();
        let req = RequestView::new("GET", "https", "a.example", "/x", vec![], ConnectionInfo::default()).unwrap();
        e.on_request_headers(&mut s, req, &host);
        let r = e.on_response_headers(&mut s, &[("content-type".into(), "application/json".into())], &host);
        prop_assert!(r.buffer_body);
        let mut offsets: Vec<usize> = cuts.iter().map(|c| c.index(input.len() + 1)).collect();
        offsets.sort_unstable();
        let mut prev = 0;
        for at in offsets {
            prop_assert_eq!(e.on_response_body(&mut s, &input[prev..at], false, &host), ResponseBodyAction::Buffer);
            prev = at;
        }
        let got = match e.on_response_body(&mut s, &input[prev..], true, &host) {
            ResponseBodyAction::Replace(b) => b,
            ResponseBodyAction::Continue => input.clone(),
            other => panic!("{other:?}"),
        };
        prop_assert_eq!(got, whole);
    }

    #[test]
    fn strictness_agrees_with_serde_json(v in doc(), pos in any::<prop::sample::Index>(), byte in prop::sample::select(b"{}[],:\"\\ 0-.eE+atrufn\x01x".to_vec()), truncate in any::<bool>()) {
        let mut input = serde_json::to_vec(&v).unwrap();
        let at = pos.index(input.len());
        if truncate { input.truncate(at) } else { input[at] = byte }
        let ours = rewrite(&default_policy(), &input).is_ok();
        let serde = serde_json::from_slice::<Value>(&input);
        // serde_json refuses grammatical numbers it cannot represent (`1e999999`); RFC 8259
        // allows them, and so do we.
        prop_assume!(!matches!(&serde, Err(e) if e.to_string().contains("number out of range")));
        let serde_ok = serde.is_ok();
        // Whitespace-only bodies are accepted by us (nothing to mask), refused by serde_json.
        let blank = input.iter().all(|c| c.is_ascii_whitespace());
        prop_assert_eq!(ours, serde_ok || blank, "input {:?}", String::from_utf8_lossy(&input));
    }
}
