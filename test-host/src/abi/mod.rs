//! The proxy-wasm ABI 0.2.1 host functions (module `env`) and the WASI preview1 subset Envoy
//! provides (module `wasi_snapshot_preview1`), one file per area, plus the guest-memory helpers
//! they share.

pub mod buffers;
pub mod foreign;
pub mod grpc;
pub mod header_maps;
pub mod http_call;
pub mod local_reply;
pub mod log;
pub mod metrics;
pub mod properties;
pub mod queues;
pub mod shared_data;
pub mod stream;
pub mod time;
pub mod timers;
pub mod wasi;

use crate::state::{status, HostState};
use wasmtime::{Caller, Extern, Linker, Memory};

/// The caller type every host function receives.
pub type Ctx<'a> = Caller<'a, HostState>;

/// Register every host function.
pub fn add_to_linker(linker: &mut Linker<HostState>) -> anyhow::Result<()> {
    log::add_to_linker(linker)?;
    time::add_to_linker(linker)?;
    buffers::add_to_linker(linker)?;
    header_maps::add_to_linker(linker)?;
    stream::add_to_linker(linker)?;
    local_reply::add_to_linker(linker)?;
    http_call::add_to_linker(linker)?;
    grpc::add_to_linker(linker)?;
    shared_data::add_to_linker(linker)?;
    queues::add_to_linker(linker)?;
    timers::add_to_linker(linker)?;
    metrics::add_to_linker(linker)?;
    properties::add_to_linker(linker)?;
    foreign::add_to_linker(linker)?;
    wasi::add_to_linker(linker)?;
    Ok(())
}

/// A host-function failure to report as a `WasmResult` code.
pub type AbiResult<T> = Result<T, i32>;

fn memory(c: &mut Ctx<'_>) -> AbiResult<Memory> {
    match c.get_export("memory") {
        Some(Extern::Memory(m)) => Ok(m),
        _ => Err(status::INVALID_MEMORY_ACCESS),
    }
}

/// Read `len` bytes at `ptr` from guest memory.
pub fn read_bytes(c: &mut Ctx<'_>, ptr: i32, len: i32) -> AbiResult<Vec<u8>> {
    let mem = memory(c)?;
    let (ptr, len) = (ptr as u32 as usize, len as u32 as usize);
    let data = mem.data(&*c);
    match data.get(ptr..ptr.saturating_add(len)) {
        Some(s) => Ok(s.to_vec()),
        None => {
            let fname = "memory";
            c.data_mut().abi_error(
                fname,
                format!("read of {len} bytes at {ptr} is out of bounds"),
            );
            Err(status::INVALID_MEMORY_ACCESS)
        }
    }
}

/// Read a UTF-8 string (lossy: invalid bytes become U+FFFD).
pub fn read_string(c: &mut Ctx<'_>, ptr: i32, len: i32) -> AbiResult<String> {
    read_bytes(c, ptr, len).map(|b| String::from_utf8_lossy(&b).into_owned())
}

/// Write raw bytes at `ptr`.
pub fn write_bytes(c: &mut Ctx<'_>, ptr: i32, bytes: &[u8]) -> AbiResult<()> {
    let mem = memory(c)?;
    let ptr = ptr as u32 as usize;
    if mem.write(&mut *c, ptr, bytes).is_err() {
        c.data_mut().abi_error(
            "memory",
            format!("write of {} bytes at {ptr} is out of bounds", bytes.len()),
        );
        return Err(status::INVALID_MEMORY_ACCESS);
    }
    Ok(())
}

/// Write a little-endian u32 at `ptr`.
pub fn write_u32(c: &mut Ctx<'_>, ptr: i32, v: u32) -> AbiResult<()> {
    write_bytes(c, ptr, &v.to_le_bytes())
}

/// Write a little-endian u64 at `ptr`.
pub fn write_u64(c: &mut Ctx<'_>, ptr: i32, v: u64) -> AbiResult<()> {
    write_bytes(c, ptr, &v.to_le_bytes())
}

/// Copy `data` into a fresh guest allocation (the module's `proxy_on_memory_allocate` or
/// `malloc`, at exactly `data.len()`), then store its address and length at `ptr_ptr` /
/// `size_ptr`, the way every "return buffer" host call works.
pub fn return_bytes(
    c: &mut Ctx<'_>,
    data: &[u8],
    ptr_ptr: i32,
    size_ptr: i32,
) -> wasmtime::Result<i32> {
    let alloc = c
        .get_export("proxy_on_memory_allocate")
        .or_else(|| c.get_export("malloc"))
        .and_then(|e| e.into_func());
    let Some(alloc) = alloc else {
        c.data_mut().abi_error(
            "memory",
            "module exports neither proxy_on_memory_allocate nor malloc",
        );
        return Ok(status::INVALID_MEMORY_ACCESS);
    };
    let alloc = alloc.typed::<i32, i32>(&*c)?;
    let addr = alloc.call(&mut *c, data.len() as i32)?;
    if addr == 0 && !data.is_empty() {
        c.data_mut().abi_error(
            "memory",
            format!("guest allocator returned 0 for {} bytes", data.len()),
        );
        return Ok(status::INVALID_MEMORY_ACCESS);
    }
    let r = write_bytes(c, addr, data)
        .and_then(|_| write_u32(c, ptr_ptr, addr as u32))
        .and_then(|_| write_u32(c, size_ptr, data.len() as u32));
    Ok(match r {
        Ok(()) => status::OK,
        Err(code) => code,
    })
}

/// Turn an [`AbiResult`] into the status the guest sees.
pub fn code(r: AbiResult<()>) -> i32 {
    match r {
        Ok(()) => status::OK,
        Err(c) => c,
    }
}

/// Serialize header pairs the proxy-wasm way: count, (key len, value len)*, then
/// NUL-terminated keys and values.
pub fn serialize_pairs(pairs: &[(String, String)]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&(pairs.len() as u32).to_le_bytes());
    for (k, v) in pairs {
        out.extend_from_slice(&(k.len() as u32).to_le_bytes());
        out.extend_from_slice(&(v.len() as u32).to_le_bytes());
    }
    for (k, v) in pairs {
        out.extend_from_slice(k.as_bytes());
        out.push(0);
        out.extend_from_slice(v.as_bytes());
        out.push(0);
    }
    out
}

/// Parse serialized pairs; `None` when the bytes are not a valid encoding.
pub fn deserialize_pairs(bytes: &[u8]) -> Option<Vec<(String, String)>> {
    if bytes.is_empty() {
        return Some(Vec::new());
    }
    let u32_at = |i: usize| -> Option<usize> {
        let b = bytes.get(i..i + 4)?;
        Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    };
    let n = u32_at(0)?;
    let mut sizes = Vec::with_capacity(n.min(1024));
    let mut pos = 4;
    for _ in 0..n {
        sizes.push((u32_at(pos)?, u32_at(pos + 4)?));
        pos += 8;
    }
    let mut out = Vec::with_capacity(sizes.len());
    for (kl, vl) in sizes {
        let k = bytes.get(pos..pos + kl)?;
        pos += kl + 1;
        let v = bytes.get(pos..pos + vl)?;
        pos += vl + 1;
        out.push((
            String::from_utf8_lossy(k).into_owned(),
            String::from_utf8_lossy(v).into_owned(),
        ));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_round_trip() {
        let p = vec![
            (":path".to_string(), "/a".to_string()),
            ("x".to_string(), String::new()),
        ];
        assert_eq!(deserialize_pairs(&serialize_pairs(&p)), Some(p));
        assert_eq!(deserialize_pairs(&[1, 0, 0, 0]), None);
    }
}
