//! `proxy_send_local_response`: recorded on the stream; the proxy ends the request side and
//! sends the reply through the response path after the callback returns (Envoy defers it the
//! same way, and runs the filter's own response callbacks on it).

use super::{deserialize_pairs, read_bytes, read_string, Ctx};
use crate::state::{status, HostState, LocalReplyRecord};
use wasmtime::Linker;

/// Register the local-reply host function.
pub fn add_to_linker(l: &mut Linker<HostState>) -> anyhow::Result<()> {
    l.func_wrap(
        "env",
        "proxy_send_local_response",
        |mut c: Ctx<'_>,
         code: i32,
         dp: i32,
         ds: i32,
         bp: i32,
         bs: i32,
         hp: i32,
         hs: i32,
         grpc: i32|
         -> i32 {
            let details = read_string(&mut c, dp, ds);
            let body = read_bytes(&mut c, bp, bs);
            let headers = read_bytes(&mut c, hp, hs);
            let (Ok(details), Ok(body), Ok(headers)) = (details, body, headers) else {
                return status::INVALID_MEMORY_ACCESS;
            };
            let Some(headers) = deserialize_pairs(&headers) else {
                c.data_mut()
                    .abi_error("proxy_send_local_response", "malformed headers encoding");
                return status::BAD_ARGUMENT;
            };
            let st = c.data_mut();
            if !(100..=599).contains(&code) {
                st.abi_error(
                    "proxy_send_local_response",
                    format!("status {code} is not an HTTP status"),
                );
                return status::BAD_ARGUMENT;
            }
            let Some(s) = st.stream() else {
                let id = st.effective_context;
                st.abi_error(
                    "proxy_send_local_response",
                    format!("context {id} is not an HTTP stream"),
                );
                return status::BAD_ARGUMENT;
            };
            s.local_reply = Some(LocalReplyRecord {
                status: code as u16,
                details,
                headers: headers
                    .into_iter()
                    .map(|(k, v)| (k.to_ascii_lowercase(), v))
                    .collect(),
                body,
                grpc_status: grpc,
            });
            status::OK
        },
    )?;
    Ok(())
}
