//! Replay cache across all workers: a credential id (signature nonce, or the signature itself,
//! or a service token) may be used once until it expires. Lives in host shared data, split
//! into shards; each shard is one value holding `digest(16) || expiry(8, BE)` entries,
//! updated with compare-and-set and retried on conflict. Expired entries are dropped on every
//! write, and a shard never holds more than its configured number of entries, so memory is
//! bounded (shards × entries × 24 bytes). A full shard fails closed.
//!
//! Known gap: proxy-wasm has no "create if absent", so the very first write of each shard is
//! unconditional; two workers creating the same shard in the same instant can lose one entry.

use crate::host::{Host, SharedDataError};
use sha2::{Digest, Sha256};

const VERSION: u8 = 1;
const ENTRY: usize = 24;
const MAX_ATTEMPTS: usize = 8;

/// Why a credential was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReplayError {
    /// Seen before and not yet expired.
    Replayed,
    /// The shard is full of live entries (raise `replay_cache.max_entries_per_shard`).
    Full,
    /// Shared data failed or kept conflicting.
    Unavailable,
}

impl ReplayError {
    /// The exact message for replies and logs.
    pub fn message(self) -> &'static str {
        match self {
            ReplayError::Replayed => "this credential was already used",
            ReplayError::Full => "replay cache is full",
            ReplayError::Unavailable => "replay cache is unavailable",
        }
    }
}

/// A sharded, bounded replay cache over host shared data.
#[derive(Debug, Clone)]
pub struct ReplayCache {
    shards: u32,
    max_entries: usize,
}

impl ReplayCache {
    /// A cache with `shards` shared-data keys of at most `max_entries` live entries each.
    pub fn new(shards: u32, max_entries: u32) -> ReplayCache {
        ReplayCache {
            shards: shards.max(1),
            max_entries: max_entries.max(1) as usize,
        }
    }

    /// Admit `id` (scoped by `scope`, e.g. the keyid) until `expires_at` (Unix seconds), or
    /// report that it was seen before.
    pub fn check_and_insert(
        &self,
        host: &dyn Host,
        scope: &str,
        id: &[u8],
        expires_at: u64,
    ) -> Result<(), ReplayError> {
        let mut hasher = Sha256::new();
        hasher.update(scope.as_bytes());
        hasher.update([0u8]);
        hasher.update(id);
        let full = hasher.finalize();
        let digest = full.get(..16).unwrap_or_default();
        let shard = u32::from(full.get(16).copied().unwrap_or(0)) % self.shards;
        let key = format!("edgeguard.service_auth.replay.{shard}");
        let now = host.now_secs();
        for _ in 0..MAX_ATTEMPTS {
            let (value, cas) = match host.shared_get(&key) {
                Some(v) => v,
                None => {
                    // First use of this shard: create it, then retry with its CAS token.
                    match host.shared_set(&key, &[VERSION], 0) {
                        Ok(()) | Err(SharedDataError::CasMismatch) => continue,
                        Err(_) => return Err(ReplayError::Unavailable),
                    }
                }
            };
            let entries = value.get(1..).unwrap_or_default();
            let mut kept = Vec::with_capacity(entries.len() + ENTRY + 1);
            kept.push(VERSION);
            let mut live = 0usize;
            for e in entries.chunks_exact(ENTRY) {
                let (d, exp) = e.split_at(16);
                let exp = u64::from_be_bytes(exp.try_into().unwrap_or([0; 8]));
                if exp < now {
                    continue;
                }
                if d == digest {
                    return Err(ReplayError::Replayed);
                }
                kept.extend_from_slice(e);
                live += 1;
            }
            if live >= self.max_entries {
                return Err(ReplayError::Full);
            }
            kept.extend_from_slice(digest);
            kept.extend_from_slice(&expires_at.to_be_bytes());
            match host.shared_set(&key, &kept, cas) {
                Ok(()) => return Ok(()),
                Err(SharedDataError::CasMismatch) => continue,
                Err(_) => return Err(ReplayError::Unavailable),
            }
        }
        Err(ReplayError::Unavailable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::memory::MemoryHost;
    use std::cell::Cell;

    #[test]
    fn second_use_is_replayed_until_expiry() {
        let host = MemoryHost::at(1000);
        let c = ReplayCache::new(4, 100);
        assert_eq!(c.check_and_insert(&host, "k", b"n1", 1300), Ok(()));
        assert_eq!(
            c.check_and_insert(&host, "k", b"n1", 1300),
            Err(ReplayError::Replayed)
        );
        // Same id under another scope is a different credential.
        assert_eq!(c.check_and_insert(&host, "k2", b"n1", 1300), Ok(()));
        host.set_time_secs(1301);
        assert_eq!(c.check_and_insert(&host, "k", b"n1", 1600), Ok(()));
    }

    #[test]
    fn memory_is_bounded_and_expired_entries_are_swept() {
        let host = MemoryHost::at(1000);
        let c = ReplayCache::new(1, 3);
        for i in 0..3u8 {
            assert_eq!(c.check_and_insert(&host, "k", &[i], 1010), Ok(()));
        }
        assert_eq!(
            c.check_and_insert(&host, "k", b"x", 1010),
            Err(ReplayError::Full)
        );
        host.set_time_secs(1011);
        assert_eq!(c.check_and_insert(&host, "k", b"x", 1020), Ok(()));
        let (v, _) = host.shared_get("edgeguard.service_auth.replay.0").unwrap();
        assert_eq!(v.len(), 1 + ENTRY, "expired entries were dropped");
    }

    /// A host whose CAS writes fail a few times, as when another worker writes concurrently.
    struct ContendedHost {
        inner: MemoryHost,
        failures_left: Cell<u32>,
    }

    impl Host for ContendedHost {
        fn now_nanos(&self) -> u64 {
            self.inner.now_nanos()
        }
        fn shared_get(&self, key: &str) -> Option<(Vec<u8>, u32)> {
            self.inner.shared_get(key)
        }
        fn shared_set(&self, key: &str, value: &[u8], cas: u32) -> Result<(), SharedDataError> {
            if cas != 0 && self.failures_left.get() > 0 {
                self.failures_left.set(self.failures_left.get() - 1);
                // Simulate another worker's write in between.
                let (v, c) = self.inner.shared_get(key).unwrap_or_default();
                self.inner.shared_set(key, &v, c)?;
                return Err(SharedDataError::CasMismatch);
            }
            self.inner.shared_set(key, value, cas)
        }
        fn http_call(&self, call: &crate::host::HttpCallout) -> Result<u32, String> {
            self.inner.http_call(call)
        }
        fn count(&self, name: &str, delta: i64) {
            self.inner.count(name, delta)
        }
        fn log(&self, level: crate::host::LogLevel, message: &str) {
            self.inner.log(level, message)
        }
    }

    #[test]
    fn cas_conflicts_are_retried_then_give_up() {
        let host = ContendedHost {
            inner: MemoryHost::at(1000),
            failures_left: Cell::new(3),
        };
        let c = ReplayCache::new(1, 10);
        assert_eq!(c.check_and_insert(&host, "k", b"a", 2000), Ok(()));
        assert_eq!(
            c.check_and_insert(&host, "k", b"a", 2000),
            Err(ReplayError::Replayed)
        );
        host.failures_left.set(100);
        assert_eq!(
            c.check_and_insert(&host, "k", b"b", 2000),
            Err(ReplayError::Unavailable)
        );
    }
}
