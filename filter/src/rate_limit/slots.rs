//! A fixed-size table of counters in host shared data, updated with compare-and-set.
//!
//! Shared-data keys cannot be deleted in proxy-wasm, so per-client keys would grow without
//! bound under a flood of distinct clients. Instead each table owns exactly `slots` keys
//! (`<prefix>:0` .. `<prefix>:<slots-1>`), created once, and a client key is hashed to a
//! 64-bit fingerprint that selects [`PROBES`] neighbouring slots. A client uses the slot that
//! already holds its fingerprint; else the first *idle* one (its state has fully decayed, so
//! reusing it is exactly like starting fresh); else — all probed slots busy with other clients
//! — the least loaded one is shared (counted in `edgeguard_ratelimit_slot_shared_total`). Sharing
//! can only over-count, never under-count. Memory is therefore bounded by `slots` × (key + value)
//! per table, whatever the traffic.
//!
//! Every value starts with the owner's fingerprint (8 bytes, little endian; 0 = empty).
//! Writes use the CAS token from the read and retry on conflict, so concurrent workers never
//! lose an update. A key that does not exist yet cannot be created atomically (proxy-wasm
//! ignores the CAS token for new keys), so a table creates all its keys once per VM before its
//! first use; the only race left is two VMs creating the same still-empty key at once, which
//! writes the same empty value.
//!
//! Known imprecision: a key's state could end up in two slots if, between two workers' reads,
//! an earlier probe slot decays to idle while the key is being placed in a later one; the key
//! then continues in the earlier slot and at most the requests counted in the orphaned slot
//! (typically one) are not seen again. It needs a slot to decay within the microseconds
//! between two reads of a brand-new key.

use crate::host::{Host, SharedDataError};
use std::sync::atomic::{AtomicBool, Ordering};

/// Neighbouring slots probed per key.
pub const PROBES: u32 = 4;
/// CAS attempts before giving up (an internal error; `failure_mode` decides).
pub const MAX_ATTEMPTS: u32 = 64;

/// Why a table operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SlotError {
    /// Too many concurrent writers: every CAS attempt lost.
    Contention,
    /// The host has no usable shared data.
    Unavailable,
}

impl SlotError {
    /// The message for logs.
    pub fn message(&self) -> &'static str {
        match self {
            SlotError::Contention => "rate limit state: too many concurrent updates",
            SlotError::Unavailable => "rate limit state: shared data unavailable",
        }
    }
}

/// Which state the update callback is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotState<'a> {
    /// No state for this key (new or decayed): start fresh.
    Fresh,
    /// This key's state.
    Own(&'a [u8]),
    /// Another key's live state, shared because every probed slot was busy.
    Shared(&'a [u8]),
}

impl<'a> SlotState<'a> {
    /// The payload, if any.
    pub fn payload(&self) -> Option<&'a [u8]> {
        match self {
            SlotState::Fresh => None,
            SlotState::Own(p) | SlotState::Shared(p) => Some(p),
        }
    }
}

/// A table of `slots` shared-data counters.
#[derive(Debug)]
pub struct SlotTable {
    prefix: String,
    slots: u32,
    created: AtomicBool,
}

fn split(value: &[u8]) -> (u64, &[u8]) {
    match value.split_first_chunk::<8>() {
        Some((fp, rest)) => (u64::from_le_bytes(*fp), rest),
        None => (0, &[]),
    }
}

impl SlotTable {
    /// A table whose keys are `<prefix>:<n>`.
    pub fn new(prefix: String, slots: u32) -> SlotTable {
        SlotTable {
            prefix,
            slots: slots.max(1),
            created: AtomicBool::new(false),
        }
    }

    /// Number of slots (the bound on keys this table ever creates).
    pub fn slots(&self) -> u32 {
        self.slots
    }

    fn key(&self, n: u32) -> String {
        format!("{}:{n}", self.prefix)
    }

    fn probe_keys(&self, fp: u64) -> impl Iterator<Item = String> + '_ {
        let base = ((fp >> 32) ^ fp) % u64::from(self.slots);
        (0..PROBES.min(self.slots))
            .map(move |p| self.key(((base + u64::from(p)) % u64::from(self.slots)) as u32))
    }

    /// Create every key of the table that does not exist yet (once per VM).
    pub fn ensure_created(&self, host: &dyn Host) {
        if self.created.load(Ordering::Relaxed) {
            return;
        }
        for n in 0..self.slots {
            let key = self.key(n);
            if host.shared_get(&key).is_none() {
                let _ = host.shared_set(&key, &0u64.to_le_bytes(), 0);
            }
        }
        self.created.store(true, Ordering::Relaxed);
    }

    /// The state stored for `fp`, if a probed slot holds it (read-only).
    pub fn read(&self, host: &dyn Host, fp: u64) -> Option<Vec<u8>> {
        self.probe_keys(fp).find_map(|k| {
            let (v, _) = host.shared_get(&k)?;
            let (owner, payload) = split(&v);
            (owner == fp).then(|| payload.to_vec())
        })
    }

    /// Read-modify-write the state of `fp`. `idle` says whether a payload has fully decayed
    /// (its slot may be reused), `load` ranks busy payloads (the least loaded is shared).
    /// `update` gets the current state and returns the new payload (`None`: write nothing) and
    /// a result; it may run several times when a CAS conflict forces a retry.
    pub fn update<R>(
        &self,
        host: &dyn Host,
        fp: u64,
        idle: impl Fn(&[u8]) -> bool,
        load: impl Fn(&[u8]) -> u64,
        mut update: impl FnMut(SlotState<'_>) -> (Option<Vec<u8>>, R),
    ) -> Result<R, SlotError> {
        self.ensure_created(host);
        for _ in 0..MAX_ATTEMPTS {
            let mut probes: Vec<(String, Vec<u8>, u32)> = Vec::with_capacity(PROBES as usize);
            let mut missing = false;
            for key in self.probe_keys(fp) {
                match host.shared_get(&key) {
                    Some((v, cas)) => {
                        let mine = split(&v).0 == fp;
                        probes.push((key, v, cas));
                        if mine {
                            // Our own slot: the usual case, no need to read the others.
                            break;
                        }
                    }
                    None => {
                        // Created by another table generation or lost: create and re-read.
                        let _ = host.shared_set(&key, &0u64.to_le_bytes(), 0);
                        missing = true;
                    }
                }
            }
            if missing {
                continue;
            }
            let own = probes.iter().find(|(_, v, _)| split(v).0 == fp);
            let chosen = match own {
                Some((k, v, cas)) => (k, fp, SlotState::Own(split(v).1), *cas),
                None => {
                    let free = probes.iter().find(|(_, v, _)| {
                        let (owner, payload) = split(v);
                        owner == 0 || idle(payload)
                    });
                    match free {
                        Some((k, _, cas)) => (k, fp, SlotState::Fresh, *cas),
                        None => {
                            let Some((k, v, cas)) =
                                probes.iter().min_by_key(|(_, v, _)| load(split(v).1))
                            else {
                                return Err(SlotError::Unavailable);
                            };
                            host.count("edgeguard_ratelimit_slot_shared_total", 1);
                            let (owner, payload) = split(v);
                            (k, owner, SlotState::Shared(payload), *cas)
                        }
                    }
                }
            };
            let (key, owner, state, cas) = chosen;
            let (new_payload, result) = update(state);
            let Some(payload) = new_payload else {
                return Ok(result);
            };
            let mut value = Vec::with_capacity(8 + payload.len());
            value.extend_from_slice(&owner.to_le_bytes());
            value.extend_from_slice(&payload);
            // A cas of 0 would write unconditionally; hosts never hand out 0 for a stored value.
            match host.shared_set(key, &value, cas.max(1)) {
                Ok(()) => return Ok(result),
                Err(SharedDataError::CasMismatch) => {
                    host.count("edgeguard_ratelimit_cas_retries_total", 1);
                    continue;
                }
                Err(_) => return Err(SlotError::Unavailable),
            }
        }
        Err(SlotError::Contention)
    }
}
