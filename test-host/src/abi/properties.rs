//! Properties (`proxy_get_property`, `proxy_set_property`) with Envoy's attribute names and
//! encodings: strings as bytes, integers as 8-byte little-endian, booleans as one byte, maps
//! (`request.headers`) as serialized pairs. Paths are NUL-separated segments.

use super::{read_bytes, return_bytes, serialize_pairs, Ctx};
use crate::state::{status, HostState, StreamState};
use wasmtime::Linker;

fn header<'a>(h: &'a [(String, String)], name: &str) -> Option<&'a str> {
    h.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn port_of(addr: &str) -> Option<i64> {
    addr.rsplit_once(':').and_then(|(_, p)| p.parse().ok())
}

fn stream_property(s: &StreamState, path: &[&str], now: u64) -> Option<Vec<u8>> {
    let h = &s.request_headers;
    let string = |v: Option<&str>| v.map(|v| v.as_bytes().to_vec());
    let int = |v: i64| Some(v.to_le_bytes().to_vec());
    match path {
        ["request", "path"] => string(header(h, ":path")),
        ["request", "url_path"] => {
            string(header(h, ":path").map(|p| p.split('?').next().unwrap_or(p)))
        }
        ["request", "query"] => string(Some(
            header(h, ":path")?
                .split_once('?')
                .map(|(_, q)| q)
                .unwrap_or(""),
        )),
        ["request", "host"] => string(header(h, ":authority")),
        ["request", "scheme"] => string(header(h, ":scheme")),
        ["request", "method"] => string(header(h, ":method")),
        ["request", "id"] => string(header(h, "x-request-id")),
        ["request", "referer"] => string(header(h, "referer")),
        ["request", "useragent"] => string(header(h, "user-agent")),
        ["request", "protocol"] => string(Some("HTTP/1.1")),
        ["request", "time"] => int(now as i64),
        ["request", "headers"] => {
            let regular: Vec<(String, String)> = h.clone();
            Some(serialize_pairs(&regular))
        }
        ["request", "headers", name] => string(header(h, name)),
        ["response", "code"] => int(i64::from(s.response_code?)),
        ["response", "headers"] => Some(serialize_pairs(&s.response_headers)),
        ["response", "headers", name] => string(header(&s.response_headers, name)),
        ["source", "address"] => string(Some(&s.connection.source_address)),
        ["source", "port"] => int(port_of(&s.connection.source_address)?),
        ["destination", "address"] => string(Some(&s.connection.destination_address)),
        ["destination", "port"] => int(port_of(&s.connection.destination_address)?),
        ["connection", "mtls"] => Some(vec![u8::from(s.connection.mtls)]),
        ["connection", "id"] => Some(s.connection.id.to_le_bytes().to_vec()),
        ["connection", "uri_san_peer_certificate"] => string(s.connection.uri_san_peer.as_deref()),
        ["connection", "dns_san_peer_certificate"] => string(s.connection.dns_san_peer.as_deref()),
        _ => None,
    }
}

/// The value of a property as Envoy would encode it, for the effective context.
pub fn lookup(st: &HostState, path: &[&str]) -> Option<Vec<u8>> {
    let joined = path.join(".");
    if let Some(s) = st.streams.get(&st.effective_context) {
        if let Some(v) = s.set_properties.get(&joined) {
            return Some(v.clone());
        }
        if let Some(v) = stream_property(s, path, st.shared.now_nanos()) {
            return Some(v);
        }
    }
    if let Some(v) = st.vm_properties.get(&joined) {
        return Some(v.clone());
    }
    let s = &st.settings;
    match path {
        ["plugin_name"] => Some(s.plugin_name.as_bytes().to_vec()),
        ["plugin_root_id"] => Some(s.root_id.as_bytes().to_vec()),
        ["plugin_vm_id"] => Some(s.vm_id.as_bytes().to_vec()),
        _ => s
            .extra_properties
            .iter()
            .find(|(k, _)| *k == joined)
            .map(|(_, v)| v.clone()),
    }
}

/// Register the property host functions.
pub fn add_to_linker(l: &mut Linker<HostState>) -> anyhow::Result<()> {
    l.func_wrap(
        "env",
        "proxy_get_property",
        |mut c: Ctx<'_>, pp: i32, ps: i32, vpp: i32, vsp: i32| {
            let raw = match read_bytes(&mut c, pp, ps) {
                Ok(r) => r,
                Err(e) => return Ok(e),
            };
            let text = String::from_utf8_lossy(&raw).into_owned();
            let path: Vec<&str> = text.trim_end_matches('\0').split('\0').collect();
            match lookup(c.data(), &path) {
                Some(v) => return_bytes(&mut c, &v, vpp, vsp),
                None => Ok(status::NOT_FOUND),
            }
        },
    )?;
    l.func_wrap(
        "env",
        "proxy_set_property",
        |mut c: Ctx<'_>, pp: i32, ps: i32, vp: i32, vs: i32| -> i32 {
            let (raw, value) = match (read_bytes(&mut c, pp, ps), read_bytes(&mut c, vp, vs)) {
                (Ok(r), Ok(v)) => (r, v),
                _ => return status::INVALID_MEMORY_ACCESS,
            };
            let text = String::from_utf8_lossy(&raw).into_owned();
            let key = text.trim_end_matches('\0').replace('\0', ".");
            let st = c.data_mut();
            match st.stream() {
                Some(s) => {
                    s.set_properties.insert(key, value);
                }
                None => {
                    st.vm_properties.insert(key, value);
                }
            }
            status::OK
        },
    )?;
    Ok(())
}
