//! `proxy_call_foreign_function`: this host registers no foreign functions, so every name is
//! `NotFound` (what Envoy answers for a name it does not know).

use super::{read_string, Ctx};
use crate::state::{status, HostState};
use wasmtime::Linker;

/// Register the foreign-function host function.
pub fn add_to_linker(l: &mut Linker<HostState>) -> anyhow::Result<()> {
    l.func_wrap(
        "env",
        "proxy_call_foreign_function",
        |mut c: Ctx<'_>, np: i32, ns: i32, _ap: i32, _as: i32, _rpp: i32, _rsp: i32| -> i32 {
            match read_string(&mut c, np, ns) {
                Ok(_) => status::NOT_FOUND,
                Err(e) => e,
            }
        },
    )?;
    Ok(())
}
