//! Per-worker verified-token cache (like jwt_authn's `jwt_cache_config`): bounded, keyed by a
//! 128-bit hash of the token (never the token itself), first-in-first-out eviction. A hit skips
//! parsing and the signature; issuer, time and audience are still checked on every request,
//! so an entry whose `exp` has passed is refused as expired (and swept when space is needed).
//!
//! The key is two SipHash-1-3 runs under independent random keys (std's `RandomState`, seeded
//! from the host's `random_get` on wasip1): a forged token would need a 128-bit collision under
//! keys it cannot see. SHA-256 was the key before; over a 700-byte RS256 token it cost ~55k wasm
//! instructions per request, about half of a cache hit (BENCHMARKS.md). On
//! `wasm32-unknown-unknown`, where `RandomState` is not seeded, the key stays SHA-256.

use crate::jwt::authenticator::ParsedJwt;
use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;

/// A cache key: 128 bits derived from the token.
type Key = [u8; 16];

/// The cache of one provider, on one worker.
#[derive(Debug)]
pub struct TokenCache {
    capacity: usize,
    max_token_len: usize,
    hasher: KeyHasher,
    inner: RefCell<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    map: HashMap<Key, Rc<ParsedJwt>>,
    order: VecDeque<Key>,
}

/// Turns tokens into cache keys.
#[derive(Debug)]
struct KeyHasher {
    #[cfg(not(all(target_arch = "wasm32", target_os = "unknown")))]
    seeds: (
        std::collections::hash_map::RandomState,
        std::collections::hash_map::RandomState,
    ),
}

impl KeyHasher {
    fn new() -> KeyHasher {
        KeyHasher {
            #[cfg(not(all(target_arch = "wasm32", target_os = "unknown")))]
            seeds: Default::default(),
        }
    }

    #[cfg(not(all(target_arch = "wasm32", target_os = "unknown")))]
    fn key(&self, token: &str) -> Key {
        use std::hash::BuildHasher;
        let a = self.seeds.0.hash_one(token).to_le_bytes();
        let b = self.seeds.1.hash_one(token).to_le_bytes();
        let mut k = [0u8; 16];
        k[..8].copy_from_slice(&a);
        k[8..].copy_from_slice(&b);
        k
    }

    #[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
    fn key(&self, token: &str) -> Key {
        let h = hmac_sha256::Hash::hash(token.as_bytes());
        let mut k = [0u8; 16];
        k.copy_from_slice(&h[..16]);
        k
    }
}

impl TokenCache {
    /// A cache of `capacity` entries for tokens up to `max_token_len` bytes (0 = disabled).
    pub fn new(capacity: usize, max_token_len: usize) -> TokenCache {
        TokenCache {
            capacity,
            max_token_len,
            hasher: KeyHasher::new(),
            inner: RefCell::new(Inner::default()),
        }
    }

    /// A verified token, if cached.
    pub fn get(&self, token: &str) -> Option<Rc<ParsedJwt>> {
        if self.capacity == 0 || token.len() > self.max_token_len {
            return None;
        }
        self.inner
            .borrow()
            .map
            .get(&self.hasher.key(token))
            .cloned()
    }

    /// Remember a token whose signature verified; `now` lets expired entries be swept first.
    pub fn insert(&self, token: &str, jwt: Rc<ParsedJwt>, now: u64) {
        if self.capacity == 0 || token.len() > self.max_token_len {
            return;
        }
        let key = self.hasher.key(token);
        let mut inner = self.inner.borrow_mut();
        if inner.map.contains_key(&key) {
            return;
        }
        if inner.map.len() >= self.capacity {
            inner.map.retain(|_, j| j.exp == 0 || j.exp > now);
            let Inner { map, order } = &mut *inner;
            order.retain(|k| map.contains_key(k));
        }
        while inner.map.len() >= self.capacity {
            match inner.order.pop_front() {
                Some(old) => {
                    inner.map.remove(&old);
                }
                None => break,
            }
        }
        inner.map.insert(key, jwt);
        inner.order.push_back(key);
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.inner.borrow().map.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jwt::authenticator::parse;

    fn jwt(exp: u64) -> Rc<ParsedJwt> {
        let mut j = parse("eyJhbGciOiJIUzI1NiJ9.e30.c2ln").unwrap();
        j.exp = exp;
        Rc::new(j)
    }

    #[test]
    fn bounded_and_sweeps_expired_first() {
        let c = TokenCache::new(2, 100);
        c.insert("a", jwt(10), 0);
        c.insert("b", jwt(100), 0);
        assert_eq!(c.len(), 2);
        c.insert("c", jwt(100), 50); // "a" expired at 10: swept, "b" kept
        assert!(c.get("a").is_none());
        assert!(c.get("b").is_some() && c.get("c").is_some());
        c.insert("d", jwt(100), 50); // nothing expired: oldest ("b") goes
        assert!(c.get("b").is_none());
        assert_eq!(c.len(), 2);
        c.insert(&"x".repeat(101), jwt(100), 0);
        assert_eq!(c.len(), 2, "oversized tokens are not cached");
    }

    #[test]
    fn keys_depend_on_every_byte_and_on_the_cache() {
        let a = TokenCache::new(4, 100);
        let b = TokenCache::new(4, 100);
        let t = "eyJhbGciOiJIUzI1NiJ9.e30.c2ln";
        assert_eq!(a.hasher.key(t), a.hasher.key(t));
        assert_ne!(
            a.hasher.key(t),
            a.hasher.key("eyJhbGciOiJIUzI1NiJ9.e30.c2lm")
        );
        assert_ne!(a.hasher.key(t), a.hasher.key(&t[1..]));
        // Independent random seeds per cache: keys cannot be predicted from another worker's.
        assert_ne!(a.hasher.key(t), b.hasher.key(t));
        a.insert(t, jwt(100), 0);
        assert!(a.get(t).is_some());
        assert!(a.get("eyJhbGciOiJIUzI1NiJ9.e30.c2lm").is_none());
    }
}
