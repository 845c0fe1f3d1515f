//! `proxy_get_buffer_bytes`, `proxy_set_buffer_bytes`, `proxy_get_buffer_status`.
//!
//! Buffers: 0 request body, 1 response body, 4 http_call response body, 6 VM configuration,
//! 7 plugin configuration. Bodies are what is buffered at this filter right now (Envoy shows
//! the current chunk, or everything buffered so far after `Pause`).

use super::{code, read_bytes, return_bytes, write_u32, Ctx};
use crate::state::{status, HostState};
use wasmtime::Linker;

/// The bytes of a buffer, or an error status.
fn buffer(c: &mut Ctx<'_>, kind: i32) -> Result<Vec<u8>, i32> {
    let st = c.data_mut();
    match kind {
        0 | 1 => match st.stream() {
            Some(s) => Ok(if kind == 0 {
                s.request_body.clone()
            } else {
                s.response_body.clone()
            }),
            None => Err(status::NOT_FOUND),
        },
        4 => match &st.callout_response {
            Some(r) => Ok(r.body.clone()),
            None => Err(status::NOT_FOUND),
        },
        6 => Ok(st.settings.vm_config.clone()),
        7 => Ok(st.settings.plugin_config.clone()),
        2 | 3 | 5 | 8 => Err(status::NOT_FOUND),
        _ => {
            st.abi_error(
                "proxy_get_buffer_bytes",
                format!("unknown buffer type {kind}"),
            );
            Err(status::BAD_ARGUMENT)
        }
    }
}

/// Register the buffer host functions.
pub fn add_to_linker(l: &mut Linker<HostState>) -> anyhow::Result<()> {
    l.func_wrap(
        "env",
        "proxy_get_buffer_bytes",
        |mut c: Ctx<'_>, kind: i32, start: i32, max: i32, ptr_ptr: i32, size_ptr: i32| {
            let data = match buffer(&mut c, kind) {
                Ok(d) => d,
                Err(e) => return Ok(e),
            };
            let start = start as u32 as usize;
            let max = max as u32 as usize;
            if start > data.len() {
                return Ok(status::BAD_ARGUMENT);
            }
            let end = start.saturating_add(max).min(data.len());
            let slice = data.get(start..end).unwrap_or_default().to_vec();
            return_bytes(&mut c, &slice, ptr_ptr, size_ptr)
        },
    )?;
    l.func_wrap(
        "env",
        "proxy_get_buffer_status",
        |mut c: Ctx<'_>, kind: i32, len_ptr: i32, flags_ptr: i32| -> i32 {
            let data = match buffer(&mut c, kind) {
                Ok(d) => d,
                Err(e) => return e,
            };
            code(
                write_u32(&mut c, len_ptr, data.len() as u32)
                    .and_then(|_| write_u32(&mut c, flags_ptr, 0)),
            )
        },
    )?;
    l.func_wrap(
        "env",
        "proxy_set_buffer_bytes",
        |mut c: Ctx<'_>, kind: i32, start: i32, len: i32, ptr: i32, size: i32| -> i32 {
            let data = match read_bytes(&mut c, ptr, size) {
                Ok(d) => d,
                Err(e) => return e,
            };
            let (start, len) = (start as u32 as usize, len as u32 as usize);
            let st = c.data_mut();
            let buf = match (kind, st.stream()) {
                (0, Some(s)) => &mut s.request_body,
                (1, Some(s)) => &mut s.response_body,
                (0 | 1, None) => return status::NOT_FOUND,
                _ => {
                    st.abi_error(
                        "proxy_set_buffer_bytes",
                        format!("buffer type {kind} is not writable"),
                    );
                    return status::BAD_ARGUMENT;
                }
            };
            // Envoy: start 0 replaces the first `len` bytes; start >= size appends.
            if start == 0 {
                let cut = len.min(buf.len());
                buf.splice(0..cut, data);
                status::OK
            } else if start >= buf.len() {
                buf.extend_from_slice(&data);
                status::OK
            } else {
                status::BAD_ARGUMENT
            }
        },
    )?;
    Ok(())
}
