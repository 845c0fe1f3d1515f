//! The WASI preview1 subset Envoy provides: `fd_write` (stdout → info log, stderr → error
//! log, as Envoy does), `clock_time_get` (the controllable clock), `random_get`
//! (deterministic per worker), `environ_*` (the configured env vars), `args_*` (none),
//! `proc_exit` (a trap naming the code), plus harmless stubs a Rust wasip1 module links.

use super::{read_bytes, write_bytes, write_u32, write_u64, Ctx};
use crate::state::{HostState, LogLevel};
use wasmtime::Linker;

const M: &str = "wasi_snapshot_preview1";
const ERRNO_SUCCESS: i32 = 0;
const ERRNO_BADF: i32 = 8;
const ERRNO_FAULT: i32 = 21;
const ERRNO_INVAL: i32 = 28;
const ERRNO_NOSYS: i32 = 52;

fn errno(r: Result<(), i32>) -> i32 {
    match r {
        Ok(()) => ERRNO_SUCCESS,
        Err(_) => ERRNO_FAULT,
    }
}

fn write_strings(c: &mut Ctx<'_>, list: &[String], ptrs: i32, buf: i32) -> Result<(), i32> {
    let mut offset = buf;
    for (i, s) in list.iter().enumerate() {
        write_u32(c, ptrs + 4 * i as i32, offset as u32)?;
        let mut bytes = s.as_bytes().to_vec();
        bytes.push(0);
        write_bytes(c, offset, &bytes)?;
        offset += bytes.len() as i32;
    }
    Ok(())
}

fn environ(c: &Ctx<'_>) -> Vec<String> {
    c.data()
        .settings
        .env
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect()
}

/// Register the WASI host functions.
pub fn add_to_linker(l: &mut Linker<HostState>) -> anyhow::Result<()> {
    l.func_wrap(
        M,
        "fd_write",
        |mut c: Ctx<'_>, fd: i32, iovs: i32, n: i32, written: i32| -> i32 {
            if fd != 1 && fd != 2 {
                return ERRNO_BADF;
            }
            let mut out = Vec::new();
            for i in 0..n {
                let Ok(iov) = read_bytes(&mut c, iovs + 8 * i, 8) else {
                    return ERRNO_FAULT;
                };
                let p = i32::from_le_bytes([iov[0], iov[1], iov[2], iov[3]]);
                let len = i32::from_le_bytes([iov[4], iov[5], iov[6], iov[7]]);
                match read_bytes(&mut c, p, len) {
                    Ok(b) => out.extend(b),
                    Err(_) => return ERRNO_FAULT,
                }
            }
            let level = if fd == 1 {
                LogLevel::Info
            } else {
                LogLevel::Error
            };
            let text = String::from_utf8_lossy(&out);
            for line in text.lines().filter(|l| !l.is_empty()) {
                c.data().log(level, line.to_string());
            }
            errno(write_u32(&mut c, written, out.len() as u32))
        },
    )?;
    l.func_wrap(M, "fd_close", |_c: Ctx<'_>, _fd: i32| -> i32 { ERRNO_BADF })?;
    l.func_wrap(
        M,
        "fd_seek",
        |_c: Ctx<'_>, _fd: i32, _o: i64, _w: i32, _r: i32| -> i32 { ERRNO_BADF },
    )?;
    l.func_wrap(
        M,
        "fd_read",
        |_c: Ctx<'_>, _fd: i32, _i: i32, _n: i32, _r: i32| -> i32 { ERRNO_BADF },
    )?;
    l.func_wrap(
        M,
        "fd_fdstat_get",
        |_c: Ctx<'_>, _fd: i32, _r: i32| -> i32 { ERRNO_BADF },
    )?;
    l.func_wrap(
        M,
        "fd_prestat_get",
        |_c: Ctx<'_>, _fd: i32, _r: i32| -> i32 { ERRNO_BADF },
    )?;
    l.func_wrap(
        M,
        "fd_prestat_dir_name",
        |_c: Ctx<'_>, _fd: i32, _p: i32, _l: i32| -> i32 { ERRNO_BADF },
    )?;
    l.func_wrap(M, "sched_yield", |_c: Ctx<'_>| -> i32 { ERRNO_SUCCESS })?;
    l.func_wrap(
        M,
        "poll_oneoff",
        |_c: Ctx<'_>, _a: i32, _b: i32, _n: i32, _r: i32| -> i32 { ERRNO_NOSYS },
    )?;
    l.func_wrap(
        M,
        "clock_time_get",
        |mut c: Ctx<'_>, id: i32, _precision: i64, ret: i32| -> i32 {
            if !(0..=3).contains(&id) {
                return ERRNO_INVAL;
            }
            let now = c.data().shared.now_nanos();
            errno(write_u64(&mut c, ret, now))
        },
    )?;
    l.func_wrap(
        M,
        "clock_res_get",
        |mut c: Ctx<'_>, _id: i32, ret: i32| -> i32 { errno(write_u64(&mut c, ret, 1)) },
    )?;
    l.func_wrap(
        M,
        "random_get",
        |mut c: Ctx<'_>, buf: i32, len: i32| -> i32 {
            let mut bytes = Vec::with_capacity(len as u32 as usize);
            while bytes.len() < len as u32 as usize {
                bytes.extend_from_slice(&c.data_mut().next_random().to_le_bytes());
            }
            bytes.truncate(len as u32 as usize);
            errno(write_bytes(&mut c, buf, &bytes))
        },
    )?;
    l.func_wrap(
        M,
        "environ_sizes_get",
        |mut c: Ctx<'_>, count: i32, size: i32| -> i32 {
            let env = environ(&c);
            let total: usize = env.iter().map(|s| s.len() + 1).sum();
            errno(
                write_u32(&mut c, count, env.len() as u32)
                    .and_then(|_| write_u32(&mut c, size, total as u32)),
            )
        },
    )?;
    l.func_wrap(
        M,
        "environ_get",
        |mut c: Ctx<'_>, ptrs: i32, buf: i32| -> i32 {
            let env = environ(&c);
            errno(write_strings(&mut c, &env, ptrs, buf))
        },
    )?;
    l.func_wrap(
        M,
        "args_sizes_get",
        |mut c: Ctx<'_>, count: i32, size: i32| -> i32 {
            errno(write_u32(&mut c, count, 0).and_then(|_| write_u32(&mut c, size, 0)))
        },
    )?;
    l.func_wrap(M, "args_get", |_c: Ctx<'_>, _p: i32, _b: i32| -> i32 {
        ERRNO_SUCCESS
    })?;
    l.func_wrap(
        M,
        "proc_exit",
        |_c: Ctx<'_>, code: i32| -> wasmtime::Result<()> {
            Err(wasmtime::Error::msg(format!(
                "module called proc_exit({code})"
            )))
        },
    )?;
    Ok(())
}
