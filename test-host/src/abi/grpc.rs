//! gRPC calls and streams: this host has no gRPC clusters, so every call and stream is refused
//! with `ParseFailure` and every send/cancel/close names an unknown token (`NotFound`): what
//! Envoy 1.40 answers for a cluster it does not have (measured by `sdk_probe.yaml`), never a trap.

use super::Ctx;
use crate::state::{status, HostState};
use wasmtime::Linker;

/// Register the gRPC host functions.
pub fn add_to_linker(l: &mut Linker<HostState>) -> anyhow::Result<()> {
    l.func_wrap(
        "env",
        "proxy_grpc_call",
        |_c: Ctx<'_>,
         _a: i32,
         _b: i32,
         _cc: i32,
         _d: i32,
         _e: i32,
         _f: i32,
         _g: i32,
         _h: i32,
         _i: i32,
         _j: i32,
         _k: i32,
         _l: i32|
         -> i32 { status::PARSE_FAILURE },
    )?;
    l.func_wrap(
        "env",
        "proxy_grpc_stream",
        |_c: Ctx<'_>,
         _a: i32,
         _b: i32,
         _cc: i32,
         _d: i32,
         _e: i32,
         _f: i32,
         _g: i32,
         _h: i32,
         _i: i32|
         -> i32 { status::PARSE_FAILURE },
    )?;
    l.func_wrap(
        "env",
        "proxy_grpc_send",
        |_c: Ctx<'_>, _t: i32, _p: i32, _s: i32, _e: i32| -> i32 { status::NOT_FOUND },
    )?;
    l.func_wrap("env", "proxy_grpc_cancel", |_c: Ctx<'_>, _t: i32| -> i32 {
        status::NOT_FOUND
    })?;
    l.func_wrap("env", "proxy_grpc_close", |_c: Ctx<'_>, _t: i32| -> i32 {
        status::NOT_FOUND
    })?;
    Ok(())
}
