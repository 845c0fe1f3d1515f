//! Checking one observed request against its expectations; every failure is one readable line.

use super::backend::Observed;
use super::model::{BodyExpect, ExpectSpec, HeaderExpect, LogExpect};

fn yaml_to_json(v: &serde_yaml::Value) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
}

fn header_values<'a>(headers: &'a [(String, String)], name: &str) -> Vec<&'a str> {
    headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
        .collect()
}

/// Check header expectations; `what` names the header set ("response", "upstream").
pub fn check_headers(
    what: &str,
    headers: &[(String, String)],
    expects: &std::collections::BTreeMap<String, HeaderExpect>,
    fails: &mut Vec<String>,
) {
    for (name, exp) in expects {
        let values = header_values(headers, name);
        let first = values.first().copied();
        let check = match exp {
            HeaderExpect::Equals(v) => super::model::HeaderCheck {
                equals: Some(v.clone()),
                ..Default::default()
            },
            HeaderExpect::Detailed(c) => c.clone(),
        };
        let must_be_absent = check.absent == Some(true) || check.present == Some(false);
        if must_be_absent {
            if let Some(v) = first {
                fails.push(format!("{what} header {name}: expected absent, got {v:?}"));
            }
            continue;
        }
        let Some(v) = first else {
            fails.push(format!("{what} header {name}: expected present, missing"));
            continue;
        };
        if let Some(e) = &check.equals {
            if !values.iter().any(|x| x == e) {
                fails.push(format!(
                    "{what} header {name}: expected {e:?}, got {values:?}"
                ));
            }
        }
        if let Some(e) = &check.contains {
            if !v.contains(e.as_str()) {
                fails.push(format!(
                    "{what} header {name}: expected to contain {e:?}, got {v:?}"
                ));
            }
        }
        if let Some(r) = &check.regex {
            match regex::Regex::new(r) {
                Ok(re) if re.is_match(v) => {}
                Ok(_) => fails.push(format!("{what} header {name}: {v:?} does not match /{r}/")),
                Err(e) => fails.push(format!("{what} header {name}: bad regex /{r}/: {e}")),
            }
        }
    }
}

/// Check a body.
pub fn check_body(what: &str, body: &[u8], exp: &BodyExpect, fails: &mut Vec<String>) {
    let text = String::from_utf8_lossy(body);
    if let Some(e) = &exp.equals {
        if text != e.as_str() {
            fails.push(format!("{what} body: expected {e:?}, got {text:?}"));
        }
    }
    for c in &exp.contains {
        if !text.contains(c.as_str()) {
            fails.push(format!(
                "{what} body: expected to contain {c:?}, got {text:?}"
            ));
        }
    }
    for c in &exp.not_contains {
        if text.contains(c.as_str()) {
            fails.push(format!("{what} body: must not contain {c:?}"));
        }
    }
    if let Some(r) = &exp.regex {
        match regex::Regex::new(r) {
            Ok(re) if re.is_match(&text) => {}
            Ok(_) => fails.push(format!("{what} body: {text:?} does not match /{r}/")),
            Err(e) => fails.push(format!("{what} body: bad regex /{r}/: {e}")),
        }
    }
    if exp.json.is_some() || exp.json_includes.is_some() {
        let got: serde_json::Value = match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(e) => {
                fails.push(format!("{what} body: not JSON ({e}): {text:?}"));
                return;
            }
        };
        if let Some(j) = &exp.json {
            let want = yaml_to_json(j);
            if want != got {
                fails.push(format!("{what} body: expected JSON {want}, got {got}"));
            }
        }
        if let Some(j) = &exp.json_includes {
            let want = yaml_to_json(j);
            if !json_includes(&got, &want) {
                fails.push(format!(
                    "{what} body: expected JSON including {want}, got {got}"
                ));
            }
        }
    }
}

/// True when every field of `want` is in `got` with the same value (recursively for objects).
pub fn json_includes(got: &serde_json::Value, want: &serde_json::Value) -> bool {
    match (got, want) {
        (serde_json::Value::Object(g), serde_json::Value::Object(w)) => w
            .iter()
            .all(|(k, wv)| g.get(k).is_some_and(|gv| json_includes(gv, wv))),
        _ => got == want,
    }
}

/// Check log lines written during the request.
pub fn check_logs(lines: &[String], exp: &LogExpect, fails: &mut Vec<String>) {
    for c in &exp.contains {
        if !lines.iter().any(|l| l.contains(c.as_str())) {
            fails.push(format!("logs: no line contains {c:?} (lines: {lines:?})"));
        }
    }
    for r in &exp.regex {
        match regex::Regex::new(r) {
            Ok(re) => {
                if !lines.iter().any(|l| re.is_match(l)) {
                    fails.push(format!("logs: no line matches /{r}/ (lines: {lines:?})"));
                }
            }
            Err(e) => fails.push(format!("logs: bad regex /{r}/: {e}")),
        }
    }
    for a in &exp.absent {
        if let Some(l) = lines.iter().find(|l| l.contains(a.as_str())) {
            fails.push(format!("logs: {a:?} must not appear, found in {l:?}"));
        }
    }
}

/// Check everything except logs and metrics (the runner reads those from the session).
pub fn check_observed(obs: &Observed, exp: &ExpectSpec, fails: &mut Vec<String>) {
    if exp.reset == Some(true) {
        if !obs.reset {
            fails.push(format!(
                "expected the stream to be reset, got status {}",
                obs.response.status
            ));
        }
        return;
    }
    if obs.reset && exp.reset != Some(true) {
        fails.push("stream was reset".to_string());
        return;
    }
    if let Some(s) = exp.status {
        if obs.response.status != s {
            fails.push(format!(
                "status: expected {s}, got {} (body {:?})",
                obs.response.status,
                String::from_utf8_lossy(&obs.response.body)
            ));
        }
    }
    if let Some(lr) = exp.local_reply {
        let was_local = obs.upstream.is_none();
        if lr != was_local {
            fails.push(if lr {
                "expected a local reply, but the request reached the upstream".to_string()
            } else {
                format!(
                    "expected the upstream to answer, but the filter replied {}",
                    obs.response.status
                )
            });
        }
    }
    check_headers("response", &obs.response.headers, &exp.headers, fails);
    check_headers("trailers", &obs.trailers, &exp.trailers, fails);
    if let Some(b) = &exp.body {
        check_body("response", &obs.response.body, b, fails);
    }
    if let Some(u) = &exp.upstream {
        match (&obs.upstream, u.reached) {
            (None, Some(false)) => {}
            (Some(_), Some(false)) => {
                fails.push("upstream: expected not reached, but it was".into())
            }
            (None, _) if u.reached == Some(true) || !u.headers.is_empty() || u.body.is_some() => {
                fails.push("upstream: expected reached, but it was not".into())
            }
            (None, _) => {}
            (Some(up), _) => {
                check_headers("upstream", &up.headers, &u.headers, fails);
                if let Some(b) = &u.body {
                    check_body("upstream", &up.body, b, fails);
                }
            }
        }
    }
    if let (Some(want), Some(got)) = (exp.http_calls, obs.http_calls) {
        if want != got {
            fails.push(format!("http_calls: expected {want}, got {got}"));
        }
    }
}
