//! `proxy_get_current_time_nanoseconds`: the controllable clock, never the system clock.

use super::{code, write_u64, Ctx};
use crate::state::HostState;
use wasmtime::Linker;

/// Register the time host functions.
pub fn add_to_linker(l: &mut Linker<HostState>) -> anyhow::Result<()> {
    l.func_wrap(
        "env",
        "proxy_get_current_time_nanoseconds",
        |mut c: Ctx<'_>, ret: i32| -> i32 {
            let now = c.data().shared.now_nanos();
            code(write_u64(&mut c, ret, now))
        },
    )?;
    Ok(())
}
