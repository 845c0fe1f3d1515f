//! Stream control: `proxy_continue_stream`, `proxy_close_stream` (and the older
//! `proxy_continue_request`/`proxy_continue_response`), `proxy_clear_route_cache`,
//! `proxy_get_status`, `proxy_set_effective_context`, `proxy_done`.
//!
//! Like Envoy, a continue/close is recorded and acted on after the callback returns.

use super::{code, return_bytes, write_u32, Ctx};
use crate::state::{status, HostState};
use wasmtime::Linker;

fn continue_stream(c: &mut Ctx<'_>, kind: i32, f: &str) -> i32 {
    let st = c.data_mut();
    let id = st.effective_context;
    let Some(s) = st.streams.get_mut(&id) else {
        st.abi_error(f, format!("context {id} is not an HTTP stream"));
        return status::BAD_ARGUMENT;
    };
    match kind {
        0 => s.resume_request = true,
        1 => s.resume_response = true,
        2 => return status::OK,
        3 => return status::UNIMPLEMENTED,
        _ => {
            st.abi_error(f, format!("unknown stream type {kind}"));
            return status::BAD_ARGUMENT;
        }
    }
    status::OK
}

/// Register the stream-control host functions.
pub fn add_to_linker(l: &mut Linker<HostState>) -> anyhow::Result<()> {
    l.func_wrap(
        "env",
        "proxy_continue_stream",
        |mut c: Ctx<'_>, kind: i32| -> i32 {
            continue_stream(&mut c, kind, "proxy_continue_stream")
        },
    )?;
    l.func_wrap("env", "proxy_continue_request", |mut c: Ctx<'_>| -> i32 {
        continue_stream(&mut c, 0, "proxy_continue_request")
    })?;
    l.func_wrap("env", "proxy_continue_response", |mut c: Ctx<'_>| -> i32 {
        continue_stream(&mut c, 1, "proxy_continue_response")
    })?;
    l.func_wrap(
        "env",
        "proxy_close_stream",
        |mut c: Ctx<'_>, kind: i32| -> i32 {
            let st = c.data_mut();
            if !(0..=3).contains(&kind) {
                st.abi_error("proxy_close_stream", format!("unknown stream type {kind}"));
                return status::BAD_ARGUMENT;
            }
            if let Some(s) = st.stream() {
                s.closed = true;
            }
            status::OK
        },
    )?;
    l.func_wrap("env", "proxy_clear_route_cache", |_c: Ctx<'_>| -> i32 {
        status::OK
    })?;
    l.func_wrap(
        "env",
        "proxy_get_status",
        |mut c: Ctx<'_>, code_ptr: i32, msg_ptr: i32, msg_size: i32| {
            // Only meaningful in gRPC callbacks, which this host never makes.
            if let Err(e) = write_u32(&mut c, code_ptr, 0) {
                return Ok(e);
            }
            return_bytes(&mut c, b"", msg_ptr, msg_size)
        },
    )?;
    l.func_wrap(
        "env",
        "proxy_set_effective_context",
        |mut c: Ctx<'_>, id: i32| -> i32 {
            let st = c.data_mut();
            let id = id as u32;
            if id == st.root_context_id || st.streams.contains_key(&id) {
                st.effective_context = id;
                status::OK
            } else {
                // Envoy answers BadArgument for an unknown context; not an ABI misuse.
                status::BAD_ARGUMENT
            }
        },
    )?;
    l.func_wrap("env", "proxy_done", |mut c: Ctx<'_>| -> i32 {
        let st = c.data_mut();
        let id = st.effective_context;
        st.done_called.push(id);
        status::OK
    })?;
    let _ = code;
    Ok(())
}
