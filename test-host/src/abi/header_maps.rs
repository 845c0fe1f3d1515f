//! Header maps: get/set pairs, get/add/replace/remove one value, size.
//!
//! Maps: 0 request headers, 1 request trailers, 2 response headers, 3 response trailers,
//! 6 http_call response headers, 7 http_call response trailers. Names are lowercased on
//! write, like Envoy's `LowerCaseString`; lookups are case-insensitive.

use super::{
    code, deserialize_pairs, read_bytes, read_string, return_bytes, serialize_pairs, write_u32, Ctx,
};
use crate::state::{status, HostState};
use wasmtime::Linker;

fn map_mut<'a>(
    st: &'a mut HostState,
    kind: i32,
    f: &str,
) -> Result<&'a mut Vec<(String, String)>, i32> {
    if kind == 6 || kind == 7 {
        return match st.callout_response.as_mut() {
            Some(r) => Ok(if kind == 6 {
                &mut r.headers
            } else {
                &mut r.trailers
            }),
            None => Err(status::NOT_FOUND),
        };
    }
    if !(0..=3).contains(&kind) {
        if kind == 4 || kind == 5 {
            return Err(status::NOT_FOUND);
        }
        st.abi_error(f, format!("unknown map type {kind}"));
        return Err(status::BAD_ARGUMENT);
    }
    match st.stream() {
        // Envoy drops its pointer to a header map once the headers have left the filter.
        Some(s)
            if (kind == 0 && s.request_headers_released)
                || (kind == 2 && s.response_headers_released) =>
        {
            Err(status::BAD_ARGUMENT)
        }
        Some(s) => Ok(match kind {
            0 => &mut s.request_headers,
            1 => &mut s.request_trailers,
            2 => &mut s.response_headers,
            _ => &mut s.response_trailers,
        }),
        None => Err(status::NOT_FOUND),
    }
}

/// Register the header-map host functions.
pub fn add_to_linker(l: &mut Linker<HostState>) -> anyhow::Result<()> {
    l.func_wrap(
        "env",
        "proxy_get_header_map_pairs",
        |mut c: Ctx<'_>, kind: i32, ptr_ptr: i32, size_ptr: i32| {
            let bytes = match map_mut(c.data_mut(), kind, "proxy_get_header_map_pairs") {
                Ok(m) => serialize_pairs(m),
                Err(e) => return Ok(e),
            };
            return_bytes(&mut c, &bytes, ptr_ptr, size_ptr)
        },
    )?;
    l.func_wrap(
        "env",
        "proxy_set_header_map_pairs",
        |mut c: Ctx<'_>, kind: i32, ptr: i32, size: i32| -> i32 {
            let bytes = match read_bytes(&mut c, ptr, size) {
                Ok(b) => b,
                Err(e) => return e,
            };
            let Some(pairs) = deserialize_pairs(&bytes) else {
                c.data_mut()
                    .abi_error("proxy_set_header_map_pairs", "malformed pairs encoding");
                return status::BAD_ARGUMENT;
            };
            match map_mut(c.data_mut(), kind, "proxy_set_header_map_pairs") {
                Ok(m) => {
                    *m = pairs
                        .into_iter()
                        .map(|(k, v)| (k.to_ascii_lowercase(), v))
                        .collect();
                    status::OK
                }
                Err(e) => e,
            }
        },
    )?;
    l.func_wrap(
        "env",
        "proxy_get_header_map_value",
        |mut c: Ctx<'_>, kind: i32, kp: i32, ks: i32, ptr_ptr: i32, size_ptr: i32| {
            let key = match read_string(&mut c, kp, ks) {
                Ok(k) => k,
                Err(e) => return Ok(e),
            };
            let value = match map_mut(c.data_mut(), kind, "proxy_get_header_map_value") {
                Ok(m) => m
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(&key))
                    .map(|(_, v)| v.clone()),
                Err(e) => return Ok(e),
            };
            match value {
                Some(v) => return_bytes(&mut c, v.as_bytes(), ptr_ptr, size_ptr),
                None => Ok(status::NOT_FOUND),
            }
        },
    )?;
    l.func_wrap(
        "env",
        "proxy_add_header_map_value",
        |mut c: Ctx<'_>, kind: i32, kp: i32, ks: i32, vp: i32, vs: i32| -> i32 {
            let (key, value) = match (read_string(&mut c, kp, ks), read_string(&mut c, vp, vs)) {
                (Ok(k), Ok(v)) => (k, v),
                _ => return status::INVALID_MEMORY_ACCESS,
            };
            match map_mut(c.data_mut(), kind, "proxy_add_header_map_value") {
                Ok(m) => {
                    m.push((key.to_ascii_lowercase(), value));
                    status::OK
                }
                Err(e) => e,
            }
        },
    )?;
    l.func_wrap(
        "env",
        "proxy_replace_header_map_value",
        |mut c: Ctx<'_>, kind: i32, kp: i32, ks: i32, vp: i32, vs: i32| -> i32 {
            let (key, value) = match (read_string(&mut c, kp, ks), read_string(&mut c, vp, vs)) {
                (Ok(k), Ok(v)) => (k, v),
                _ => return status::INVALID_MEMORY_ACCESS,
            };
            match map_mut(c.data_mut(), kind, "proxy_replace_header_map_value") {
                Ok(m) => {
                    // Envoy's setCopy: replace the first value in place, drop the others.
                    let key = key.to_ascii_lowercase();
                    match m.iter().position(|(k, _)| k.eq_ignore_ascii_case(&key)) {
                        Some(i) => {
                            if let Some(slot) = m.get_mut(i) {
                                slot.1 = value;
                            }
                            let mut seen = 0usize;
                            m.retain(|(k, _)| {
                                if k.eq_ignore_ascii_case(&key) {
                                    seen += 1;
                                    seen == 1
                                } else {
                                    true
                                }
                            });
                        }
                        None => m.push((key, value)),
                    }
                    status::OK
                }
                Err(e) => e,
            }
        },
    )?;
    l.func_wrap(
        "env",
        "proxy_remove_header_map_value",
        |mut c: Ctx<'_>, kind: i32, kp: i32, ks: i32| -> i32 {
            let key = match read_string(&mut c, kp, ks) {
                Ok(k) => k,
                Err(e) => return e,
            };
            match map_mut(c.data_mut(), kind, "proxy_remove_header_map_value") {
                Ok(m) => {
                    m.retain(|(k, _)| !k.eq_ignore_ascii_case(&key));
                    status::OK
                }
                Err(e) => e,
            }
        },
    )?;
    l.func_wrap(
        "env",
        "proxy_get_header_map_size",
        |mut c: Ctx<'_>, kind: i32, ret: i32| -> i32 {
            let size = match map_mut(c.data_mut(), kind, "proxy_get_header_map_size") {
                Ok(m) => serialize_pairs(m).len() as u32,
                Err(e) => return e,
            };
            code(write_u32(&mut c, ret, size))
        },
    )?;
    Ok(())
}
