//! `proxy_http_call` (dispatch). Answers come from the proxy's scripted responses, delivered
//! through `proxy_on_http_call_response` after the dispatching callback returns.

use super::{deserialize_pairs, read_bytes, read_string, write_u32, Ctx};
use crate::state::{status, DispatchedCall, HostState};
use wasmtime::Linker;

/// Register the http-callout host function.
pub fn add_to_linker(l: &mut Linker<HostState>) -> anyhow::Result<()> {
    l.func_wrap(
        "env",
        "proxy_http_call",
        |mut c: Ctx<'_>,
         up: i32,
         us: i32,
         hp: i32,
         hs: i32,
         bp: i32,
         bs: i32,
         tp: i32,
         ts: i32,
         timeout: i32,
         token_ptr: i32|
         -> i32 {
            if !c.data_mut().check_allowed("http_call", "proxy_http_call") {
                return status::UNIMPLEMENTED;
            }
            let cluster = read_string(&mut c, up, us);
            let headers = read_bytes(&mut c, hp, hs);
            let body = read_bytes(&mut c, bp, bs);
            let trailers = read_bytes(&mut c, tp, ts);
            let (Ok(cluster), Ok(headers), Ok(body), Ok(_trailers)) =
                (cluster, headers, body, trailers)
            else {
                return status::INVALID_MEMORY_ACCESS;
            };
            let Some(headers) = deserialize_pairs(&headers) else {
                c.data_mut()
                    .abi_error("proxy_http_call", "malformed headers encoding");
                return status::BAD_ARGUMENT;
            };
            let st = c.data_mut();
            if let Some(known) = &st.known_clusters {
                if !known.contains(&cluster) {
                    // Envoy: unknown cluster → BadArgument, no callback.
                    return status::BAD_ARGUMENT;
                }
            }
            // Envoy requires these three (it answers BadArgument without them).
            for required in [":method", ":path", ":authority"] {
                if !headers.iter().any(|(k, v)| k == required && !v.is_empty()) {
                    return status::BAD_ARGUMENT;
                }
            }
            let token = st.next_token;
            st.next_token += 1;
            let call = DispatchedCall {
                token,
                context_id: st.effective_context,
                cluster,
                headers,
                body,
                timeout_ms: timeout as u32,
            };
            st.call_log.push(call.clone());
            st.dispatched.push(call);
            match write_u32(&mut c, token_ptr, token) {
                Ok(()) => status::OK,
                Err(e) => e,
            }
        },
    )?;
    Ok(())
}
