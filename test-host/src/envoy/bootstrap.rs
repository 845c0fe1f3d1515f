//! Envoy bootstrap generation: one listener with the edgeguard Wasm filter in front of an
//! upstream, an admin interface, and the clusters the filter may call. Built as JSON (which
//! Envoy reads as YAML) so no value ever needs escaping by hand.

use serde_json::{json, Value};
use std::net::SocketAddr;
use std::path::Path;

/// Name of the main listener (its port is looked up through admin `/listeners`).
pub const MAIN_LISTENER: &str = "edgeguard";

/// Cluster names in the generated config; both point at the upstream (the echo server), so a
/// filter `http_call` to `jwks` is answered by whatever the test scripted for that path.
pub const UPSTREAM_CLUSTER: &str = "upstream";
/// Cluster the filter uses for remote JWKS fetches.
pub const JWKS_CLUSTER: &str = "jwks";

/// What the Wasm filter part of the config says.
pub struct WasmFilter<'a> {
    /// The `.wasm` file.
    pub wasm_path: &'a Path,
    /// Plugin configuration JSON (passed as a `google.protobuf.StringValue`).
    pub plugin_config: &'a str,
    /// `vm_config.environment_variables.key_values`.
    pub env_vars: &'a [(String, String)],
    /// `FAIL_RELOAD`, `FAIL_CLOSED` or `FAIL_OPEN`.
    pub failure_policy: &'a str,
    /// `root_id` and `vm_id` of the plugin.
    pub root_id: &'a str,
}

/// The `envoy.filters.http.wasm` entry of an HTTP filter chain.
pub fn wasm_http_filter(w: &WasmFilter<'_>) -> Value {
    let env: serde_json::Map<String, Value> = w
        .env_vars
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    let mut vm_config = json!({
        "vm_id": w.root_id,
        "runtime": "envoy.wasm.runtime.v8",
        "code": { "local": { "filename": w.wasm_path.display().to_string() } },
    });
    if !env.is_empty() {
        vm_config["environment_variables"] = json!({ "key_values": env });
    }
    json!({
        "name": "envoy.filters.http.wasm",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
            "config": {
                "name": w.root_id,
                "root_id": w.root_id,
                "failure_policy": w.failure_policy,
                "configuration": {
                    "@type": "type.googleapis.com/google.protobuf.StringValue",
                    "value": w.plugin_config,
                },
                "vm_config": vm_config,
            }
        }
    })
}

/// A STATIC cluster with one loopback endpoint.
pub fn static_cluster(name: &str, addr: SocketAddr) -> Value {
    json!({
        "name": name,
        "type": "STATIC",
        "connect_timeout": "2s",
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [{ "lb_endpoints": [{ "endpoint": { "address": { "socket_address": {
                "address": addr.ip().to_string(), "port_value": addr.port()
            }}}}]}]
        }
    })
}

/// The whole bootstrap. `upstream: None` answers every request with a direct 200 `ok`
/// (no upstream hop; used for overhead benchmarks). Listener and admin bind port 0.
pub fn bootstrap(
    wasm: Option<&WasmFilter<'_>>,
    upstream: Option<SocketAddr>,
    extra_clusters: &[Value],
    extra_listeners: &[Value],
) -> Value {
    let route = match upstream {
        Some(_) => json!({ "match": { "prefix": "/" }, "route": { "cluster": UPSTREAM_CLUSTER } }),
        None => json!({
            "match": { "prefix": "/" },
            "direct_response": { "status": 200, "body": { "inline_string": "ok" } }
        }),
    };
    let mut http_filters: Vec<Value> = Vec::new();
    if let Some(w) = wasm {
        http_filters.push(wasm_http_filter(w));
    }
    http_filters.push(json!({
        "name": "envoy.filters.http.router",
        "typed_config": { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" }
    }));
    let mut listeners = vec![json!({
        "name": MAIN_LISTENER,
        "address": { "socket_address": { "address": "127.0.0.1", "port_value": 0 } },
        "filter_chains": [{ "filters": [{
            "name": "envoy.filters.network.http_connection_manager",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                "stat_prefix": "ingress",
                // Envoy would otherwise stamp `server: envoy` after the filters ran, so a
                // filter that removes fingerprinting headers could never be observed.
                "server_header_transformation": "PASS_THROUGH",
                // HTTP/1.1 trailers (chunked) reach the filter and the client only when both
                // the listener and the upstream cluster enable them.
                "http_protocol_options": { "enable_trailers": true },
                "route_config": { "name": "local", "virtual_hosts": [{
                    "name": "all", "domains": ["*"], "routes": [route]
                }]},
                "http_filters": http_filters,
            }
        }]}]
    })];
    listeners.extend(extra_listeners.iter().cloned());
    let mut clusters: Vec<Value> = Vec::new();
    if let Some(addr) = upstream {
        let mut upstream = static_cluster(UPSTREAM_CLUSTER, addr);
        upstream["typed_extension_protocol_options"] = json!({
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                "explicit_http_config": { "http_protocol_options": { "enable_trailers": true } }
            }
        });
        clusters.push(upstream);
        clusters.push(static_cluster(JWKS_CLUSTER, addr));
    }
    clusters.extend(extra_clusters.iter().cloned());
    json!({
        "admin": { "address": { "socket_address": { "address": "127.0.0.1", "port_value": 0 } } },
        "static_resources": { "listeners": listeners, "clusters": clusters },
    })
}

/// Apply `f` to every Wasm filter `config` object of a bootstrap; returns how many there were.
pub fn for_each_wasm_config(bootstrap: &mut Value, mut f: impl FnMut(&mut Value)) -> usize {
    fn walk(v: &mut Value, f: &mut dyn FnMut(&mut Value), n: &mut usize) {
        match v {
            Value::Object(map) => {
                let is_wasm = map
                    .get("@type")
                    .and_then(Value::as_str)
                    .is_some_and(|t| t.ends_with("envoy.extensions.filters.http.wasm.v3.Wasm"));
                if is_wasm {
                    if let Some(c) = map.get_mut("config") {
                        f(c);
                        *n += 1;
                        return;
                    }
                }
                for child in map.values_mut() {
                    walk(child, f, n);
                }
            }
            Value::Array(items) => {
                for child in items {
                    walk(child, f, n);
                }
            }
            _ => {}
        }
    }
    let mut n = 0;
    walk(bootstrap, &mut f, &mut n);
    n
}

/// Point every Wasm filter of a bootstrap at `wasm` (committed configs name a repo-relative path).
pub fn set_wasm_path(bootstrap: &mut Value, wasm: &Path) -> usize {
    for_each_wasm_config(bootstrap, |c| {
        c["vm_config"]["code"] = json!({ "local": { "filename": wasm.display().to_string() } });
    })
}

/// Replace the plugin configuration of every Wasm filter of a bootstrap.
pub fn set_plugin_config(bootstrap: &mut Value, plugin_config: &str) -> usize {
    for_each_wasm_config(bootstrap, |c| {
        c["configuration"] = json!({
            "@type": "type.googleapis.com/google.protobuf.StringValue",
            "value": plugin_config,
        });
    })
}

/// The plugin configuration strings of every Wasm filter of a bootstrap.
pub fn plugin_configs(bootstrap: &Value) -> Vec<String> {
    let mut copy = bootstrap.clone();
    let mut out = Vec::new();
    for_each_wasm_config(&mut copy, |c| {
        if let Some(s) = c["configuration"]["value"].as_str() {
            out.push(s.to_string());
        }
    });
    out
}

/// Rebind every listener and the admin interface to port 0 (free ports) and send every
/// STATIC cluster endpoint to `upstream`, so a committed config can run next to others.
pub fn use_free_ports(bootstrap: &mut Value, upstream: SocketAddr) {
    if let Some(a) = bootstrap.pointer_mut("/admin/address/socket_address/port_value") {
        *a = json!(0);
    }
    if let Some(Value::Array(ls)) = bootstrap.pointer_mut("/static_resources/listeners") {
        for l in ls {
            if let Some(p) = l.pointer_mut("/address/socket_address/port_value") {
                *p = json!(0);
            }
        }
    }
    if let Some(Value::Array(cs)) = bootstrap.pointer_mut("/static_resources/clusters") {
        for c in cs {
            let name = c["name"].as_str().unwrap_or_default().to_string();
            if c["type"] == "STATIC" {
                *c = merge_cluster(c.clone(), static_cluster(&name, upstream));
            }
        }
    }
}

fn merge_cluster(mut old: Value, new: Value) -> Value {
    old["load_assignment"] = new["load_assignment"].clone();
    old
}

/// Read a committed Envoy config (YAML or JSON) as a JSON value.
pub fn load_file(path: &Path) -> anyhow::Result<Value> {
    let text = std::fs::read_to_string(path)?;
    let yaml: serde_yaml::Value =
        serde_yaml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    Ok(serde_json::to_value(yaml)?)
}
