//! Shared queues: register, resolve, enqueue (notifies the owner's root context with
//! `proxy_on_queue_ready` once the current callback returns), dequeue.

use super::{read_bytes, read_string, return_bytes, write_u32, Ctx};
use crate::state::{lock, status, HostState, Queue};
use wasmtime::Linker;

/// Register the shared-queue host functions.
pub fn add_to_linker(l: &mut Linker<HostState>) -> anyhow::Result<()> {
    l.func_wrap(
        "env",
        "proxy_register_shared_queue",
        |mut c: Ctx<'_>, np: i32, ns: i32, ret: i32| -> i32 {
            if !c
                .data_mut()
                .check_allowed("shared_data", "proxy_register_shared_queue")
            {
                return status::UNIMPLEMENTED;
            }
            let name = match read_string(&mut c, np, ns) {
                Ok(n) => n,
                Err(e) => return e,
            };
            let st = c.data();
            let vm_id = st.settings.vm_id.clone();
            let owner = (st.worker, st.effective_context);
            let id = {
                let mut queues = lock(&st.shared.queues);
                match queues
                    .iter()
                    .position(|q| q.vm_id == vm_id && q.name == name)
                {
                    Some(i) => {
                        if let Some(q) = queues.get_mut(i) {
                            q.owner = owner;
                        }
                        i + 1
                    }
                    None => {
                        queues.push(Queue {
                            vm_id,
                            name,
                            owner,
                            items: Default::default(),
                        });
                        queues.len()
                    }
                }
            };
            match write_u32(&mut c, ret, id as u32) {
                Ok(()) => status::OK,
                Err(e) => e,
            }
        },
    )?;
    l.func_wrap(
        "env",
        "proxy_resolve_shared_queue",
        |mut c: Ctx<'_>, vp: i32, vs: i32, np: i32, ns: i32, ret: i32| -> i32 {
            let (vm_id, name) = match (read_string(&mut c, vp, vs), read_string(&mut c, np, ns)) {
                (Ok(v), Ok(n)) => (v, n),
                _ => return status::INVALID_MEMORY_ACCESS,
            };
            let id = lock(&c.data().shared.queues)
                .iter()
                .position(|q| q.vm_id == vm_id && q.name == name);
            match id {
                Some(i) => match write_u32(&mut c, ret, i as u32 + 1) {
                    Ok(()) => status::OK,
                    Err(e) => e,
                },
                None => status::NOT_FOUND,
            }
        },
    )?;
    l.func_wrap(
        "env",
        "proxy_enqueue_shared_queue",
        |mut c: Ctx<'_>, id: i32, vp: i32, vs: i32| -> i32 {
            let value = match read_bytes(&mut c, vp, vs) {
                Ok(v) => v,
                Err(e) => return e,
            };
            let shared = c.data().shared.clone();
            let owner = {
                let mut queues = lock(&shared.queues);
                let Some(q) = (id as usize).checked_sub(1).and_then(|i| queues.get_mut(i)) else {
                    return status::NOT_FOUND;
                };
                q.items.push_back(value);
                q.owner
            };
            lock(&shared.queue_ready).push((owner.0, owner.1, id as u32));
            status::OK
        },
    )?;
    l.func_wrap(
        "env",
        "proxy_dequeue_shared_queue",
        |mut c: Ctx<'_>, id: i32, vpp: i32, vsp: i32| {
            let item = {
                let mut queues = lock(&c.data().shared.queues);
                let Some(q) = (id as usize).checked_sub(1).and_then(|i| queues.get_mut(i)) else {
                    return Ok(status::NOT_FOUND);
                };
                q.items.pop_front()
            };
            match item {
                Some(v) => return_bytes(&mut c, &v, vpp, vsp),
                None => Ok(status::EMPTY),
            }
        },
    )?;
    Ok(())
}
