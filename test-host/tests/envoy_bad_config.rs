//! A bad plugin config makes Envoy refuse to start (whatever the failure policy), and Envoy's
//! log names the JSON path of the problem and the reason.

use edgeguard_test_host::echo::EchoUpstream;
use edgeguard_test_host::envoy::{EnvoyInstance, EnvoyOptions, FailurePolicy};
use edgeguard_test_host::paths::build_filter_wasm;

fn refused(config: &str, policy: FailurePolicy) -> String {
    let echo = EchoUpstream::start().unwrap();
    let exit = EnvoyInstance::start_expect_failure(EnvoyOptions {
        wasm_path: Some(build_filter_wasm().unwrap()),
        plugin_config: config.to_string(),
        concurrency: 2,
        upstream: Some(echo.addr()),
        failure_policy: policy,
        ..EnvoyOptions::default()
    })
    .unwrap();
    assert!(
        !exit.status.success(),
        "Envoy exited successfully: {}",
        exit.log
    );
    exit.log
}

fn assert_logged(log: &str, needle: &str) {
    assert!(
        log.contains(needle),
        "Envoy's log lacks {needle:?}:\n{}",
        edgeguard_test_host::envoy::tail(log, 40)
    );
}

#[test]
fn relative_prefix_is_refused_with_its_path() {
    let log = refused(
        r#"{"rules":[{"match":{"prefix":"/"}},{"match":{"prefix":"api"}}]}"#,
        FailurePolicy::FailReload,
    );
    assert_logged(
        &log,
        r#"config error at rules[1].match.prefix: must start with "/""#,
    );
}

#[test]
fn unknown_field_is_refused_with_its_path() {
    let log = refused(
        r#"{"rules":[{"match":{"prefix":"/","method":["GET"]}}]}"#,
        FailurePolicy::FailReload,
    );
    assert_logged(
        &log,
        "config error at rules[0].match.method: unknown field `method`",
    );
}

#[test]
fn bad_enum_value_is_refused_even_with_fail_open() {
    // failure_policy governs runtime traps only; a bad config never serves.
    let log = refused(r#"{"mode":"audit"}"#, FailurePolicy::FailOpen);
    assert_logged(&log, "config error at mode: unknown variant `audit`");
}

#[test]
fn bad_regex_is_refused_with_its_path() {
    let log = refused(
        r#"{"rules":[{"match":{"regex":"(unclosed"}}]}"#,
        FailurePolicy::FailClosed,
    );
    assert_logged(&log, "config error at rules[0].match.regex: invalid regex");
}

#[test]
fn invalid_json_is_refused() {
    let log = refused(r#"{"rules": [}"#, FailurePolicy::FailReload);
    assert_logged(&log, "config error");
    assert_logged(&log, "line 1");
}
