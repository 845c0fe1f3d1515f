//! Shared data with compare-and-set: `proxy_get_shared_data`, `proxy_set_shared_data`.
//! Shared by every VM of the plugin, like Envoy's process-wide shared data.

use super::{read_bytes, read_string, return_bytes, write_u32, Ctx};
use crate::state::{lock, status, HostState};
use wasmtime::Linker;

/// Register the shared-data host functions.
pub fn add_to_linker(l: &mut Linker<HostState>) -> anyhow::Result<()> {
    l.func_wrap(
        "env",
        "proxy_get_shared_data",
        |mut c: Ctx<'_>, kp: i32, ks: i32, vpp: i32, vsp: i32, casp: i32| {
            if !c
                .data_mut()
                .check_allowed("shared_data", "proxy_get_shared_data")
            {
                return Ok(status::UNIMPLEMENTED);
            }
            let key = match read_string(&mut c, kp, ks) {
                Ok(k) => k,
                Err(e) => return Ok(e),
            };
            let found = lock(&c.data().shared.data).get(&key).cloned();
            let Some((value, cas)) = found else {
                return Ok(status::NOT_FOUND);
            };
            if let Err(e) = write_u32(&mut c, casp, cas) {
                return Ok(e);
            }
            return_bytes(&mut c, &value, vpp, vsp)
        },
    )?;
    l.func_wrap(
        "env",
        "proxy_set_shared_data",
        |mut c: Ctx<'_>, kp: i32, ks: i32, vp: i32, vs: i32, cas: i32| -> i32 {
            if !c
                .data_mut()
                .check_allowed("shared_data", "proxy_set_shared_data")
            {
                return status::UNIMPLEMENTED;
            }
            let (key, value) = match (read_string(&mut c, kp, ks), read_bytes(&mut c, vp, vs)) {
                (Ok(k), Ok(v)) => (k, v),
                _ => return status::INVALID_MEMORY_ACCESS,
            };
            let shared = c.data().shared.clone();
            let mut data = lock(&shared.data);
            let cas = cas as u32;
            if let Some((_, current)) = data.get(&key) {
                if cas != 0 && cas != *current {
                    return status::CAS_MISMATCH;
                }
            }
            data.insert(key, (value, shared.next_cas()));
            status::OK
        },
    )?;
    Ok(())
}
