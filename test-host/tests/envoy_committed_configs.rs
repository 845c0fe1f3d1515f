//! Every committed Envoy config passes `envoy --mode validate` (which loads the Wasm module and
//! runs `on_configure`), sets the Wasm `failure_policy` deliberately, and carries a plugin
//! config edgeguard accepts; the demo's files agree with each other and the demo runs.

use edgeguard_test_host::demo::{self, DemoOptions};
use edgeguard_test_host::envoy::{bootstrap, validate_config};
use edgeguard_test_host::paths::{build_filter_wasm, workspace_root};
use std::path::{Path, PathBuf};

/// `envoy.yaml` files under `envoy/` and `examples/`.
fn committed_envoy_configs() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.file_name().is_some_and(|n| n == "envoy.yaml") {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    for d in ["envoy", "examples"] {
        walk(&workspace_root().join(d), &mut out);
    }
    out.sort();
    out
}

#[test]
fn every_committed_envoy_config_validates() {
    let wasm = build_filter_wasm().unwrap();
    let files = committed_envoy_configs();
    assert!(
        files.iter().any(|f| f.ends_with("envoy/demo/envoy.yaml")),
        "demo config not found: {files:?}"
    );
    let tmp = std::env::temp_dir().join(format!("edgeguard-validate-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    for (i, file) in files.iter().enumerate() {
        let mut boot = bootstrap::load_file(file).unwrap();
        let mut policies = Vec::new();
        let filters = bootstrap::for_each_wasm_config(&mut boot, |c| {
            policies.push(c["failure_policy"].as_str().map(String::from));
        });
        assert!(filters > 0, "{}: no edgeguard Wasm filter", file.display());
        for p in &policies {
            assert!(
                p.is_some(),
                "{}: the Wasm filter must set failure_policy deliberately",
                file.display()
            );
        }
        for config in bootstrap::plugin_configs(&boot) {
            if let Err(e) = edgeguard::config::Config::from_json(config.as_bytes()) {
                panic!("{}: plugin config refused: {e}", file.display());
            }
        }
        bootstrap::set_wasm_path(&mut boot, &wasm);
        let out = tmp.join(format!("config-{i}.json"));
        std::fs::write(&out, serde_json::to_vec_pretty(&boot).unwrap()).unwrap();
        let exit = validate_config(&out).unwrap();
        assert!(
            exit.status.success(),
            "envoy --mode validate failed for {}:\n{}",
            file.display(),
            edgeguard_test_host::envoy::tail(&exit.log, 40)
        );
    }
    let _ = std::fs::remove_dir_all(&tmp);
}

#[test]
fn demo_envoy_yaml_carries_demo_config_json() {
    let dir = demo::demo_dir();
    let boot = bootstrap::load_file(&dir.join("envoy.yaml")).unwrap();
    let inline = bootstrap::plugin_configs(&boot);
    assert_eq!(inline.len(), 1);
    let inline: serde_json::Value = serde_json::from_str(&inline[0]).unwrap();
    let file: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("config.json")).unwrap()).unwrap();
    assert_eq!(
        inline, file,
        "envoy/demo/envoy.yaml's plugin configuration must equal envoy/demo/config.json"
    );
}

#[test]
fn demo_requests_behave_as_scripted() {
    let wasm = build_filter_wasm().unwrap();
    demo::run(DemoOptions {
        keep_running: false,
        wasm: Some(wasm),
        config: None,
    })
    .unwrap();
}

#[test]
fn a_bad_config_makes_validate_fail() {
    let wasm = build_filter_wasm().unwrap();
    let mut boot = bootstrap::load_file(&demo::demo_dir().join("envoy.yaml")).unwrap();
    bootstrap::set_wasm_path(&mut boot, &wasm);
    bootstrap::set_plugin_config(&mut boot, r#"{"rules":[{"match":{"prefix":"nope"}}]}"#);
    let out =
        std::env::temp_dir().join(format!("edgeguard-badvalidate-{}.json", std::process::id()));
    std::fs::write(&out, serde_json::to_vec(&boot).unwrap()).unwrap();
    let exit = validate_config(&out).unwrap();
    let _ = std::fs::remove_file(&out);
    assert!(
        !exit.status.success(),
        "validate accepted a bad plugin config"
    );
    assert!(
        exit.log.contains("config error at rules[0].match.prefix"),
        "{}",
        edgeguard_test_host::envoy::tail(&exit.log, 30)
    );
}
