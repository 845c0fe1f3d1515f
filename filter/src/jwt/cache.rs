//! Per-worker verified-token cache (like jwt_authn's `jwt_cache_config`): bounded, keyed by
//! SHA-256 of the token (never the token itself), first-in-first-out eviction. A hit skips
//! parsing and the signature; issuer, time and audience are still checked on every request,
//! so an entry whose `exp` has passed is refused as expired (and swept when space is needed).

use crate::jwt::authenticator::ParsedJwt;
use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;

/// The cache of one provider, on one worker.
#[derive(Debug)]
pub struct TokenCache {
    capacity: usize,
    max_token_len: usize,
    inner: RefCell<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    map: HashMap<[u8; 32], Rc<ParsedJwt>>,
    order: VecDeque<[u8; 32]>,
}

/// The cache key of a token.
pub fn token_key(token: &str) -> [u8; 32] {
    hmac_sha256::Hash::hash(token.as_bytes())
}

impl TokenCache {
    /// A cache of `capacity` entries for tokens up to `max_token_len` bytes (0 = disabled).
    pub fn new(capacity: usize, max_token_len: usize) -> TokenCache {
        TokenCache {
            capacity,
            max_token_len,
            inner: RefCell::new(Inner::default()),
        }
    }

    /// A verified token, if cached.
    pub fn get(&self, token: &str) -> Option<Rc<ParsedJwt>> {
        if self.capacity == 0 || token.len() > self.max_token_len {
            return None;
        }
        self.inner.borrow().map.get(&token_key(token)).cloned()
    }

    /// Remember a token whose signature verified; `now` lets expired entries be swept first.
    pub fn insert(&self, token: &str, jwt: Rc<ParsedJwt>, now: u64) {
        if self.capacity == 0 || token.len() > self.max_token_len {
            return;
        }
        let key = token_key(token);
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
}
