//! Brute-force lockout: `max_failures` authentication failures from one client (IP, or a
//! header such as a username) within `window_secs` block that client for `duration_secs`
//! (defaults 5 in 300 s → 900 s), counted across all workers in a shared [`SlotTable`].
//!
//! The engine reports every denial ([`Lockout::counts`] picks the authentication failures:
//! reasons starting with `jwt_`, `service_` or `api_key_`, with a status in `count_statuses`,
//! `*_missing` excluded unless `count_missing_credentials`) and checks [`Lockout::check`]
//! before authentication, so a locked-out client is refused (429 with `Retry-After`) without
//! its credentials being tried at all. Each client's failures are its own: nothing resets
//! them early — not a success from another IP, and not a success from the same client either,
//! so an attacker holding one valid account cannot clear its count between guesses. The window
//! is exact (the last `max_failures` failure times are stored, a sliding log).

use super::config::{LockoutConfig, DEFAULT_SLOTS, MAX_SLOTS};
use super::key::{fingerprint, KeyKind};
use super::slots::{SlotError, SlotTable};
use crate::config::ConfigError;
use crate::decision::LocalReply;
use crate::host::Host;
use crate::request::RequestView;
use std::net::IpAddr;

const NS: u64 = 1_000_000_000;
/// Most failures a lockout may be configured to wait for (bounds the stored log).
pub const MAX_FAILURES: u32 = 100;

/// Compiled lockout settings.
#[derive(Debug)]
pub struct Lockout {
    max_failures: u32,
    window_ns: u64,
    duration_ns: u64,
    key: KeyKind,
    statuses: Vec<u16>,
    count_missing: bool,
    table: SlotTable,
}

/// Decoded per-client state: locked until (ns), recent failure times (ns).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct State {
    locked_until: u64,
    failures: Vec<u64>,
}

impl State {
    fn decode(payload: Option<&[u8]>) -> State {
        let Some(p) = payload else {
            return State::default();
        };
        let Some((until, rest)) = p.split_first_chunk::<8>() else {
            return State::default();
        };
        let failures = rest
            .chunks_exact(8)
            .filter_map(|c| c.first_chunk::<8>().map(|b| u64::from_le_bytes(*b)))
            .collect();
        State {
            locked_until: u64::from_le_bytes(*until),
            failures,
        }
    }

    fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(8 + 8 * self.failures.len());
        v.extend_from_slice(&self.locked_until.to_le_bytes());
        for f in &self.failures {
            v.extend_from_slice(&f.to_le_bytes());
        }
        v
    }
}

impl Lockout {
    /// Compile and validate at `path` (`rate_limit.lockout`).
    pub fn compile(c: &LockoutConfig, path: &str) -> Result<Lockout, ConfigError> {
        let max_failures = c.max_failures.unwrap_or(5);
        if max_failures == 0 || max_failures > MAX_FAILURES {
            return Err(ConfigError::new(
                format!("{path}.max_failures"),
                format!("must be between 1 and {MAX_FAILURES}"),
            ));
        }
        let window = c.window_secs.unwrap_or(300);
        let duration = c.duration_secs.unwrap_or(900);
        for (field, v) in [("window_secs", window), ("duration_secs", duration)] {
            if v == 0 || v > super::policy::MAX_WINDOW_SECS {
                return Err(ConfigError::new(
                    format!("{path}.{field}"),
                    format!("must be between 1 and {}", super::policy::MAX_WINDOW_SECS),
                ));
            }
        }
        let key_path = format!("{path}.key");
        let key = KeyKind::parse(c.key.as_deref().unwrap_or("ip"), &key_path)?;
        if !matches!(key, KeyKind::Ip | KeyKind::Header(_)) {
            return Err(ConfigError::new(key_path, "must be ip or header:<name>"));
        }
        let statuses = c.count_statuses.clone().unwrap_or_else(|| vec![401]);
        for (i, s) in statuses.iter().enumerate() {
            if !(400..=599).contains(s) {
                return Err(ConfigError::new(
                    format!("{path}.count_statuses[{i}]"),
                    "must be a 4xx or 5xx status",
                ));
            }
        }
        let slots = c.slots.unwrap_or(DEFAULT_SLOTS);
        if slots == 0 || slots > MAX_SLOTS {
            return Err(ConfigError::new(
                format!("{path}.slots"),
                format!("must be between 1 and {MAX_SLOTS}"),
            ));
        }
        Ok(Lockout {
            max_failures,
            window_ns: window * NS,
            duration_ns: duration * NS,
            key,
            statuses,
            count_missing: c.count_missing_credentials,
            table: SlotTable::new("eg:lo1".to_string(), slots),
        })
    }

    /// Is this denial an authentication failure that counts?
    pub fn counts(&self, reason: &str, status: u16) -> bool {
        let auth = ["jwt_", "service_", "api_key_"]
            .iter()
            .any(|p| reason.starts_with(p));
        auth && self.statuses.contains(&status)
            && (self.count_missing || !reason.ends_with("_missing"))
    }

    fn fp(&self, req: &RequestView, client_ip: Option<IpAddr>) -> u64 {
        fingerprint("lockout", &self.key.extract(req, client_ip, None, ""))
    }

    /// A 429 if this client is locked out now.
    pub fn check(
        &self,
        req: &RequestView,
        client_ip: Option<IpAddr>,
        host: &dyn Host,
    ) -> Option<LocalReply> {
        let now = host.now_nanos();
        let state = State::decode(self.table.read(host, self.fp(req, client_ip)).as_deref());
        if state.locked_until <= now {
            return None;
        }
        host.count("edgeguard_lockout_blocked_total", 1);
        let retry = (state.locked_until - now).div_ceil(NS).max(1);
        Some(
            LocalReply::error(
                429,
                "locked_out",
                "too many failed authentication attempts; try again later",
            )
            .header("retry-after", retry.to_string()),
        )
    }

    /// Record one authentication failure; true when it started a lockout.
    pub fn record_failure(
        &self,
        rule: &str,
        req: &RequestView,
        client_ip: Option<IpAddr>,
        host: &dyn Host,
    ) -> Result<bool, SlotError> {
        let now = host.now_nanos();
        let fp = self.fp(req, client_ip);
        let horizon = now.saturating_sub(self.window_ns);
        let (max, duration) = (self.max_failures as usize, self.duration_ns);
        let locked = self.table.update(
            host,
            fp,
            |p| {
                let s = State::decode(Some(p));
                s.locked_until <= now && s.failures.iter().all(|t| *t <= horizon)
            },
            |p| {
                let s = State::decode(Some(p));
                s.failures.iter().filter(|t| **t > horizon).count() as u64
                    + u64::from(s.locked_until > now) * 1000
            },
            |state| {
                let mut s = State::decode(state.payload());
                if s.locked_until > now {
                    return (None, false);
                }
                s.failures.retain(|t| *t > horizon);
                s.failures.push(now);
                let start = s.failures.len() >= max;
                if start {
                    s.locked_until = now.saturating_add(duration);
                    s.failures.clear();
                } else if s.failures.len() > max {
                    let excess = s.failures.len() - max;
                    s.failures.drain(..excess);
                }
                (Some(s.encode()), start)
            },
        )?;
        if locked {
            host.count("edgeguard_lockouts_total", 1);
            let mut detail = format!(
                "max_failures={} window_secs={} duration_secs={} until={}",
                self.max_failures,
                self.window_ns / NS,
                self.duration_ns / NS,
                (now + self.duration_ns) / NS
            );
            if let KeyKind::Header(h) = &self.key {
                // The header may carry a user name or key: log only its fingerprint.
                detail.push_str(&format!(" key_header={h} key_fingerprint={fp:016x}"));
            }
            crate::events::emit(
                host,
                crate::events::SecurityEventKind::Lockout,
                &crate::events::EventFields {
                    rule,
                    reason: "too_many_failures",
                    client_ip,
                    request_id: req.header("x-request-id"),
                    detail: Some(&detail),
                    ..Default::default()
                },
            );
        }
        Ok(locked)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::memory::MemoryHost;
    use crate::request::ConnectionInfo;

    fn lockout(json: &str) -> Lockout {
        Lockout::compile(&serde_json::from_str(json).unwrap(), "rate_limit.lockout").unwrap()
    }

    fn req() -> RequestView {
        RequestView::new(
            "POST",
            "https",
            "a",
            "/login",
            vec![],
            ConnectionInfo::default(),
        )
        .unwrap()
    }

    fn ip(s: &str) -> Option<IpAddr> {
        s.parse().ok()
    }

    #[test]
    fn five_failures_in_the_window_lock_for_the_duration() {
        let l = lockout("{}");
        let host = MemoryHost::at(1_700_000_000);
        let a = ip("198.51.100.1");
        for i in 0..4 {
            assert!(
                !l.record_failure("r", &req(), a, &host).unwrap(),
                "failure {i}"
            );
            assert!(l.check(&req(), a, &host).is_none());
            host.advance_secs(10);
        }
        assert!(l.record_failure("r", &req(), a, &host).unwrap());
        let reply = l.check(&req(), a, &host).unwrap();
        assert_eq!((reply.status, reply.reason), (429, "locked_out"));
        assert!(reply
            .headers
            .contains(&("retry-after".into(), "900".into())));
        assert_eq!(host.metric("edgeguard_lockouts_total"), 1);
        let log = host.log_text();
        assert!(log.contains("\"event\":\"security_event\""));
        assert!(log.contains("\"kind\":\"lockout\""));
        assert!(log.contains("198.51.100.1"));
        // Another IP is not affected.
        assert!(l.check(&req(), ip("198.51.100.2"), &host).is_none());
        host.advance_secs(899);
        assert!(l.check(&req(), a, &host).is_some());
        host.advance_secs(1);
        assert!(l.check(&req(), a, &host).is_none());
        // The count started over.
        assert!(!l.record_failure("r", &req(), a, &host).unwrap());
    }

    #[test]
    fn failures_outside_the_window_do_not_add_up() {
        let l = lockout(r#"{"max_failures":3,"window_secs":60}"#);
        let host = MemoryHost::at(1_700_000_000);
        let a = ip("198.51.100.1");
        for _ in 0..10 {
            assert!(!l.record_failure("r", &req(), a, &host).unwrap());
            host.advance_secs(31);
        }
        assert!(!l.record_failure("r", &req(), a, &host).unwrap());
        assert!(l.record_failure("r", &req(), a, &host).unwrap());
    }

    #[test]
    fn which_denials_count() {
        let l = lockout("{}");
        assert!(l.counts("jwt_invalid_signature", 401));
        assert!(l.counts("service_bad_signature", 401));
        assert!(l.counts("api_key_unknown", 401));
        assert!(!l.counts("jwt_missing", 401));
        assert!(!l.counts("jwt_permission_denied", 403));
        assert!(!l.counts("rate_limited", 429));
        assert!(!l.counts("host_not_allowed", 421));
        let l = lockout(r#"{"count_statuses":[401,403],"count_missing_credentials":true}"#);
        assert!(l.counts("jwt_missing", 401));
        assert!(l.counts("jwt_permission_denied", 403));
    }

    #[test]
    fn header_keys_and_load_errors() {
        let l = lockout(r#"{"key":"header:x-user","max_failures":1}"#);
        let host = MemoryHost::at(1_700_000_000);
        let with_user = |u: &str| {
            RequestView::new(
                "POST",
                "https",
                "a",
                "/login",
                vec![("x-user".into(), u.into())],
                ConnectionInfo::default(),
            )
            .unwrap()
        };
        assert!(l
            .record_failure("r", &with_user("alice"), ip("1.1.1.1"), &host)
            .unwrap());
        assert!(l.check(&with_user("alice"), ip("2.2.2.2"), &host).is_some());
        assert!(l.check(&with_user("bob"), ip("1.1.1.1"), &host).is_none());
        assert!(!host.log_text().contains("alice"));
        for (json, path) in [
            (r#"{"max_failures":0}"#, "rate_limit.lockout.max_failures"),
            (r#"{"key":"route"}"#, "rate_limit.lockout.key"),
            (
                r#"{"count_statuses":[200]}"#,
                "rate_limit.lockout.count_statuses[0]",
            ),
            (r#"{"window_secs":0}"#, "rate_limit.lockout.window_secs"),
        ] {
            let e = Lockout::compile(&serde_json::from_str(json).unwrap(), "rate_limit.lockout")
                .unwrap_err();
            assert_eq!(e.path, path, "{json}");
        }
    }
}
