//! `proxy_log`, `proxy_get_log_level`.

use super::{code, read_string, write_u32, Ctx};
use crate::state::{status, HostState, LogLevel};
use wasmtime::Linker;

/// Register the logging host functions.
pub fn add_to_linker(l: &mut Linker<HostState>) -> anyhow::Result<()> {
    l.func_wrap(
        "env",
        "proxy_log",
        |mut c: Ctx<'_>, level: i32, ptr: i32, len: i32| -> i32 {
            let Some(level) = LogLevel::from_abi(level) else {
                c.data_mut()
                    .abi_error("proxy_log", format!("unknown log level {level}"));
                return status::BAD_ARGUMENT;
            };
            match read_string(&mut c, ptr, len) {
                Ok(msg) => {
                    c.data().log(level, msg);
                    status::OK
                }
                Err(e) => e,
            }
        },
    )?;
    l.func_wrap(
        "env",
        "proxy_get_log_level",
        |mut c: Ctx<'_>, ret: i32| -> i32 {
            let level = c.data().settings.log_level.to_abi() as u32;
            code(write_u32(&mut c, ret, level))
        },
    )?;
    Ok(())
}
