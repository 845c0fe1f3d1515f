//! The Generic Cell Rate Algorithm: one 8-byte "theoretical arrival time" (TAT) per key.
//!
//! A policy of `quota` per `window` has emission interval `T = window / quota`. A request at
//! `now` is allowed when `max(TAT, now) + T - now <= window`, and then TAT becomes
//! `max(TAT, now) + T`. So a client may burst `quota` requests at once and then gets one more
//! every `T`: never more than `quota` in a burst, and a sustained rate of `quota / window`.
//! A denied request does not change the state.

/// The outcome of one GCRA step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GcraOutcome {
    /// The request is within the quota.
    pub allowed: bool,
    /// Requests still allowed right now (after this one, if allowed).
    pub remaining: u64,
    /// Seconds until the full quota is available again (rounded up).
    pub reset_secs: u64,
    /// When denied: seconds until one request would be allowed (rounded up, at least 1).
    pub retry_after_secs: u64,
    /// The new TAT to store when allowed.
    pub new_tat: u64,
}

/// Compiled rate: quota and window in nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gcra {
    /// Requests per window.
    pub quota: u64,
    /// Window in nanoseconds.
    pub window_ns: u64,
    /// Emission interval in nanoseconds (at least 1).
    pub interval_ns: u64,
}

const NS: u64 = 1_000_000_000;

fn ceil_secs(ns: u64) -> u64 {
    ns.div_ceil(NS)
}

impl Gcra {
    /// `quota` requests per `window_secs` (both ≥ 1, checked at load).
    pub fn new(quota: u64, window_secs: u64) -> Gcra {
        let window_ns = window_secs.saturating_mul(NS);
        let quota = quota.max(1);
        Gcra {
            quota,
            window_ns,
            interval_ns: (window_ns / quota).max(1),
        }
    }

    /// Decode a stored TAT (missing or short payload = no history).
    pub fn decode(payload: Option<&[u8]>) -> u64 {
        payload
            .and_then(|p| p.first_chunk::<8>())
            .map(|b| u64::from_le_bytes(*b))
            .unwrap_or(0)
    }

    /// Has this state fully decayed at `now` (its slot may be reused)?
    pub fn idle(payload: &[u8], now: u64) -> bool {
        Gcra::decode(Some(payload)) <= now
    }

    /// One request at `now` against stored `tat`.
    pub fn step(&self, tat: u64, now: u64) -> GcraOutcome {
        let base = tat.max(now);
        let new_tat = base.saturating_add(self.interval_ns);
        let ahead = new_tat - now;
        if ahead <= self.window_ns {
            GcraOutcome {
                allowed: true,
                remaining: (self.window_ns - ahead) / self.interval_ns,
                reset_secs: ceil_secs(ahead),
                retry_after_secs: 0,
                new_tat,
            }
        } else {
            GcraOutcome {
                allowed: false,
                remaining: 0,
                reset_secs: ceil_secs(base - now),
                retry_after_secs: ceil_secs(ahead - self.window_ns).max(1),
                new_tat: tat,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_of_quota_then_one_per_interval() {
        let g = Gcra::new(3, 60);
        let mut tat = 0;
        let now = 1_000 * NS;
        for expected_remaining in [2, 1, 0] {
            let o = g.step(tat, now);
            assert!(o.allowed);
            assert_eq!(o.remaining, expected_remaining);
            tat = o.new_tat;
        }
        let o = g.step(tat, now);
        assert!(!o.allowed);
        assert_eq!(o.retry_after_secs, 20);
        assert_eq!(o.reset_secs, 60);
        // After one interval exactly one more is allowed.
        let o = g.step(tat, now + 20 * NS);
        assert!(o.allowed);
        assert_eq!(o.remaining, 0);
        let o2 = g.step(o.new_tat, now + 20 * NS);
        assert!(!o2.allowed);
        // After a whole window the full burst is back.
        let o = g.step(tat, now + 60 * NS);
        assert_eq!(o.remaining, 2);
        assert!(Gcra::idle(&tat.to_le_bytes(), now + 60 * NS));
        assert!(!Gcra::idle(&tat.to_le_bytes(), now + 59 * NS));
    }

    #[test]
    fn decode_tolerates_short_payloads() {
        assert_eq!(Gcra::decode(Some(&[1, 2])), 0);
        assert_eq!(Gcra::decode(None), 0);
        assert_eq!(Gcra::decode(Some(&7u64.to_le_bytes())), 7);
    }
}
