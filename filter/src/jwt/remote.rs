//! Remote JWKS: fetched with an HTTP callout to the provider's cluster, shared by all workers.
//!
//! One fetch per refresh for the whole proxy: a worker that needs keys first looks in shared
//! data (`edgeguard/jwks/<provider>`); if they are missing or due for refresh it takes a lease
//! (`.../lease`, compare-and-set, expires after the call timeout) and only the lease holder
//! calls out. The answer is parsed, kept locally and published in shared data for the other
//! workers, which pick it up on their next request or tick. Keys are refreshed before
//! `cache_duration` ends; when a refresh fails the last good keys keep serving for at most
//! one more `cache_duration`, and the fetch is retried with exponential backoff. A token
//! whose `kid` is unknown triggers a refetch at most once per [`KID_REFETCH_INTERVAL_NS`].

use crate::host::{Host, HttpCallout, LogLevel};
use crate::jwt::config::RemoteJwks;
use crate::jwt::jwks::Jwks;
use serde_json::json;
use std::cell::RefCell;
use std::rc::Rc;

const SEC: u64 = 1_000_000_000;
/// At most one refetch for an unknown `kid` per this interval (per proxy, via the lease).
pub const KID_REFETCH_INTERVAL_NS: u64 = 30 * SEC;
const DEFAULT_CACHE_DURATION_S: u64 = 600;

/// Split `https://host[:port]/path?q` into (authority, path-with-query).
pub fn split_uri(uri: &str) -> Option<(String, String)> {
    let rest = uri
        .strip_prefix("https://")
        .or_else(|| uri.strip_prefix("http://"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (rest.get(..i)?, rest.get(i..)?),
        None => (rest, "/"),
    };
    if authority.is_empty() {
        return None;
    }
    Some((authority.to_string(), path.to_string()))
}

/// What a request gets when it asks for a provider's keys.
#[derive(Debug, Clone)]
pub enum KeysState {
    /// Keys to verify with.
    Ready(Rc<Jwks>),
    /// A fetch is underway (here or on another worker): pause.
    Pending,
    /// No keys and the fetch failed or timed out.
    Failed,
}

#[derive(Debug, Default)]
struct Inner {
    keys: Option<Rc<Jwks>>,
    /// When the keys we hold were fetched (ns, from shared data or our own fetch).
    fetched_at: u64,
    in_flight: Option<(u32, u64)>,
    last_failure: u64,
    failures: u32,
    next_attempt: u64,
    last_kid_refetch: Option<u64>,
    force_refresh: bool,
}

/// Remote JWKS state of one provider on one worker.
#[derive(Debug)]
pub struct RemoteKeys {
    provider: String,
    cluster: String,
    authority: String,
    path: String,
    timeout_ns: u64,
    cache_ns: u64,
    backoff_base_ns: u64,
    backoff_max_ns: u64,
    /// Fetch on the first tick rather than the first request.
    pub fetch_at_start: bool,
    inner: RefCell<Inner>,
}

impl RemoteKeys {
    /// Compile from a validated `remote_jwks`.
    pub fn new(provider: &str, r: &RemoteJwks) -> RemoteKeys {
        let (authority, path) = split_uri(&r.http_uri.uri).unwrap_or_default();
        let cache_s = r
            .cache_duration
            .map(|d| d.secs())
            .filter(|s| *s > 0)
            .unwrap_or(DEFAULT_CACHE_DURATION_S);
        let base_ms = r
            .retry_policy
            .as_ref()
            .and_then(|p| p.retry_back_off.as_ref())
            .map(|b| b.base_interval.millis)
            .or_else(|| {
                r.async_fetch
                    .as_ref()
                    .and_then(|a| a.failed_refetch_duration)
                    .map(|d| d.millis)
            })
            .filter(|m| *m > 0)
            .unwrap_or(1000);
        let max_ms = r
            .retry_policy
            .as_ref()
            .and_then(|p| p.retry_back_off.as_ref())
            .and_then(|b| b.max_interval)
            .map(|d| d.millis)
            .unwrap_or(base_ms.saturating_mul(10))
            .max(base_ms);
        RemoteKeys {
            provider: provider.to_string(),
            cluster: r.http_uri.cluster.clone(),
            authority,
            path,
            timeout_ns: r.http_uri.timeout.millis.saturating_mul(1_000_000),
            cache_ns: cache_s.saturating_mul(SEC),
            backoff_base_ns: base_ms.saturating_mul(1_000_000),
            backoff_max_ns: max_ms.saturating_mul(1_000_000),
            fetch_at_start: r.async_fetch.is_some(),
            inner: RefCell::new(Inner::default()),
        }
    }

    fn data_key(&self) -> String {
        format!("edgeguard/jwks/{}", self.provider)
    }

    fn lease_key(&self) -> String {
        format!("edgeguard/jwks/{}/lease", self.provider)
    }

    fn failed_key(&self) -> String {
        format!("edgeguard/jwks/{}/failed", self.provider)
    }

    /// Adopt newer keys (or a newer failure) another worker published.
    fn sync_from_shared(&self, host: &dyn Host) {
        if let Some((bytes, _)) = host.shared_get(&self.failed_key()) {
            let at = std::str::from_utf8(&bytes)
                .ok()
                .and_then(|s| s.parse::<u64>().ok())
                .unwrap_or(0);
            let mut inner = self.inner.borrow_mut();
            if at > inner.last_failure {
                inner.last_failure = at;
            }
        }
        let Some((bytes, _)) = host.shared_get(&self.data_key()) else {
            return;
        };
        let Ok(doc) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
            return;
        };
        let fetched_at = doc.get("fetched_at").and_then(|v| v.as_u64()).unwrap_or(0);
        if fetched_at <= self.inner.borrow().fetched_at {
            return;
        }
        let Some(text) = doc.get("jwks").and_then(|v| v.as_str()) else {
            return;
        };
        if let Ok(jwks) = Jwks::parse(text) {
            let mut inner = self.inner.borrow_mut();
            inner.keys = Some(Rc::new(jwks));
            inner.fetched_at = fetched_at;
            inner.force_refresh = false;
        }
    }

    fn usable_until(&self, inner: &Inner) -> u64 {
        // Fresh for cache_duration, then (only while refreshes fail) stale for as long again.
        inner
            .fetched_at
            .saturating_add(self.cache_ns.saturating_mul(2))
    }

    fn refresh_due(&self, inner: &Inner, now: u64) -> bool {
        let margin = (self.cache_ns / 10).min(30 * SEC);
        inner.force_refresh
            || inner.keys.is_none()
            || now
                >= inner
                    .fetched_at
                    .saturating_add(self.cache_ns)
                    .saturating_sub(margin)
    }

    /// Start a fetch if one is due, not in backoff and this worker gets the lease.
    fn maybe_fetch(&self, host: &dyn Host) {
        let now = host.now_nanos();
        {
            let mut inner = self.inner.borrow_mut();
            if let Some((_, started)) = inner.in_flight {
                if now < started.saturating_add(self.timeout_ns).saturating_add(SEC) {
                    return;
                }
                // The host never answered: count it as a failure.
                inner.in_flight = None;
                drop(inner);
                self.record_failure(host, "timeout");
            }
        }
        let inner = self.inner.borrow();
        if !self.refresh_due(&inner, now) || now < inner.next_attempt {
            return;
        }
        drop(inner);
        let lease = host.shared_get(&self.lease_key());
        let cas = match &lease {
            Some((bytes, cas)) => {
                let until = std::str::from_utf8(bytes)
                    .ok()
                    .and_then(|s| s.parse::<u64>().ok())
                    .unwrap_or(0);
                if until > now {
                    return; // another worker is fetching
                }
                *cas
            }
            None => 0,
        };
        let until = now.saturating_add(self.timeout_ns).saturating_add(SEC);
        let mine = until.to_string();
        if host
            .shared_set(&self.lease_key(), mine.as_bytes(), cas)
            .is_err()
        {
            return;
        }
        // A first lease is written without CAS (the key did not exist); if another worker
        // wrote it at the same moment, the later write wins and the other backs off.
        if host
            .shared_get(&self.lease_key())
            .is_none_or(|(v, _)| v != mine.as_bytes())
        {
            return;
        }
        let call = HttpCallout {
            cluster: self.cluster.clone(),
            headers: vec![
                (":method".into(), "GET".into()),
                (":path".into(), self.path.clone()),
                (":authority".into(), self.authority.clone()),
                ("accept".into(), "application/json".into()),
            ],
            body: Vec::new(),
            timeout_ms: self.timeout_ns / 1_000_000,
        };
        match host.http_call(&call) {
            Ok(token) => {
                self.inner.borrow_mut().in_flight = Some((token, now));
                host.count("edgeguard_jwks_fetch_started_total", 1);
            }
            Err(e) => {
                let _ = host.shared_set(&self.lease_key(), b"0", 0);
                self.record_failure(host, &e);
            }
        }
    }

    fn record_failure(&self, host: &dyn Host, why: &str) {
        let now = host.now_nanos();
        let mut inner = self.inner.borrow_mut();
        inner.failures = inner.failures.saturating_add(1);
        inner.last_failure = now;
        let shift = inner.failures.saturating_sub(1).min(20);
        let wait = self
            .backoff_base_ns
            .saturating_mul(1u64 << shift)
            .min(self.backoff_max_ns);
        inner.next_attempt = now.saturating_add(wait);
        drop(inner);
        let _ = host.shared_set(&self.failed_key(), now.to_string().as_bytes(), 0);
        host.count("edgeguard_jwks_fetch_failed_total", 1);
        crate::log::event(
            host,
            LogLevel::Warn,
            "jwks_fetch_failed",
            &[("provider", json!(self.provider)), ("reason", json!(why))],
        );
    }

    /// Keys for a request that has been waiting since `waiting_since` (ns; now if new).
    pub fn keys(&self, host: &dyn Host, waiting_since: u64) -> KeysState {
        let now = host.now_nanos();
        {
            let inner = self.inner.borrow();
            let fresh = inner.keys.is_some() && !self.refresh_due(&inner, now);
            if fresh {
                if let Some(k) = &inner.keys {
                    return KeysState::Ready(k.clone());
                }
            }
        }
        self.sync_from_shared(host);
        self.maybe_fetch(host);
        let inner = self.inner.borrow();
        if let Some(k) = &inner.keys {
            if now < self.usable_until(&inner) {
                return KeysState::Ready(k.clone());
            }
        }
        if inner.in_flight.is_none() && inner.next_attempt > now {
            return KeysState::Failed; // in backoff after a failed fetch
        }
        if inner.last_failure >= waiting_since
            || now
                >= waiting_since
                    .saturating_add(self.timeout_ns)
                    .saturating_add(SEC)
        {
            return KeysState::Failed;
        }
        KeysState::Pending
    }

    /// The token's `kid` is not in our keys: refetch (at most once per interval). True when a
    /// refetch is underway and the request should wait for it.
    pub fn refetch_for_unknown_kid(&self, host: &dyn Host) -> bool {
        let now = host.now_nanos();
        {
            let mut inner = self.inner.borrow_mut();
            if inner
                .last_kid_refetch
                .is_some_and(|t| now < t.saturating_add(KID_REFETCH_INTERVAL_NS))
            {
                return false;
            }
            inner.last_kid_refetch = Some(now);
            inner.force_refresh = true;
            inner.next_attempt = 0;
        }
        self.maybe_fetch(host);
        true
    }

    /// Whether keys newer than `since` (ns) arrived, or a failure after it.
    pub fn settled_since(&self, host: &dyn Host, since: u64) -> bool {
        self.sync_from_shared(host);
        let inner = self.inner.borrow();
        inner.fetched_at >= since
            || inner.last_failure >= since
            || host.now_nanos() >= since.saturating_add(self.timeout_ns).saturating_add(SEC)
    }

    /// A callout answered; true if it was this provider's fetch.
    pub fn on_http_call_response(
        &self,
        token: u32,
        status: u16,
        body: &[u8],
        host: &dyn Host,
    ) -> bool {
        {
            let mut inner = self.inner.borrow_mut();
            match inner.in_flight {
                Some((t, _)) if t == token => inner.in_flight = None,
                _ => return false,
            }
        }
        let _ = host.shared_set(&self.lease_key(), b"0", 0);
        if status != 200 {
            self.record_failure(host, &format!("status {status}"));
            return true;
        }
        let text = String::from_utf8_lossy(body);
        match Jwks::parse(&text) {
            Ok(jwks) => {
                let now = host.now_nanos();
                for (i, why) in &jwks.rejected {
                    crate::log::event(
                        host,
                        LogLevel::Warn,
                        "jwks_key_skipped",
                        &[
                            ("provider", json!(self.provider)),
                            ("key", json!(i)),
                            ("reason", json!(why)),
                        ],
                    );
                }
                {
                    let mut inner = self.inner.borrow_mut();
                    inner.keys = Some(Rc::new(jwks));
                    inner.fetched_at = now;
                    inner.failures = 0;
                    inner.next_attempt = 0;
                    inner.force_refresh = false;
                }
                let doc = json!({ "fetched_at": now, "jwks": text });
                let _ = host.shared_set(&self.data_key(), doc.to_string().as_bytes(), 0);
                host.count("edgeguard_jwks_fetch_success_total", 1);
            }
            Err(e) => self.record_failure(host, &e.message()),
        }
        true
    }

    /// Timer: adopt shared keys, refresh when due, fetch at start for `async_fetch`.
    pub fn on_tick(&self, host: &dyn Host) {
        self.sync_from_shared(host);
        let needs = {
            let inner = self.inner.borrow();
            inner.keys.is_some() || self.fetch_at_start || inner.force_refresh
        };
        if needs {
            self.maybe_fetch(host);
        }
    }
}
