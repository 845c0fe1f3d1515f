//! `proxy_set_tick_period_milliseconds`: the proxy drives `proxy_on_tick` from its clock.

use super::Ctx;
use crate::state::{status, HostState};
use wasmtime::Linker;

/// Register the timer host function.
pub fn add_to_linker(l: &mut Linker<HostState>) -> anyhow::Result<()> {
    l.func_wrap(
        "env",
        "proxy_set_tick_period_milliseconds",
        |mut c: Ctx<'_>, period: i32| -> i32 {
            if period != 0
                && !c
                    .data_mut()
                    .check_allowed("timers", "proxy_set_tick_period_milliseconds")
            {
                return status::UNIMPLEMENTED;
            }
            c.data_mut().tick_period_ms = period as u32;
            status::OK
        },
    )?;
    Ok(())
}
