//! One compiled rate-limit policy and its decision for a request.

use super::config::{PolicyConfig, DEFAULT_SLOTS, MAX_SLOTS};
use super::gcra::{Gcra, GcraOutcome};
use super::key::{fingerprint, KeyKind};
use super::slots::{SlotError, SlotTable};
use crate::config::ConfigError;
use crate::host::Host;

/// Longest window accepted: one year.
pub const MAX_WINDOW_SECS: u64 = 366 * 24 * 3600;

/// A compiled policy.
#[derive(Debug)]
pub struct Policy {
    /// Name.
    pub name: String,
    /// Rate.
    pub gcra: Gcra,
    /// Window in seconds (for hints).
    pub window_secs: u64,
    /// What is counted.
    pub key: KeyKind,
    /// Never block.
    pub hint_only: bool,
    /// Applies to every request.
    pub all_routes: bool,
    /// Shared counters.
    pub table: SlotTable,
}

/// Compile and validate the policies at `path` (`rate_limit`).
pub fn compile_policies(list: &[PolicyConfig], path: &str) -> Result<Vec<Policy>, ConfigError> {
    let mut out: Vec<Policy> = Vec::with_capacity(list.len());
    for (i, p) in list.iter().enumerate() {
        let at = format!("{path}.policies[{i}]");
        let name_ok = |b: u8| b.is_ascii_alphanumeric() || b"_.-".contains(&b);
        if p.name.is_empty() || p.name.len() > 64 || !p.name.bytes().all(name_ok) {
            return Err(ConfigError::new(
                format!("{at}.name"),
                "must be 1-64 characters from A-Z a-z 0-9 _ . -",
            ));
        }
        if out.iter().any(|o| o.name == p.name) {
            return Err(ConfigError::new(
                format!("{at}.name"),
                format!("duplicate policy name {:?}", p.name),
            ));
        }
        if p.quota == 0 {
            return Err(ConfigError::new(
                format!("{at}.quota"),
                "must be at least 1",
            ));
        }
        if p.window_secs == 0 || p.window_secs > MAX_WINDOW_SECS {
            return Err(ConfigError::new(
                format!("{at}.window_secs"),
                format!("must be between 1 and {MAX_WINDOW_SECS}"),
            ));
        }
        if p.quota > p.window_secs.saturating_mul(1_000_000) {
            return Err(ConfigError::new(
                format!("{at}.quota"),
                "must be at most 1000000 per second of window",
            ));
        }
        let slots = p.slots.unwrap_or(DEFAULT_SLOTS);
        if slots == 0 || slots > MAX_SLOTS {
            return Err(ConfigError::new(
                format!("{at}.slots"),
                format!("must be between 1 and {MAX_SLOTS}"),
            ));
        }
        let key = KeyKind::parse(&p.key, &format!("{at}.key"))?;
        out.push(Policy {
            name: p.name.clone(),
            gcra: Gcra::new(p.quota, p.window_secs),
            window_secs: p.window_secs,
            key,
            hint_only: p.hint_only,
            all_routes: p.all_routes,
            table: SlotTable::new(format!("eg:rl1:{}", p.name), slots),
        });
    }
    Ok(out)
}

impl Policy {
    /// Count one request for `key` (the extracted key string) at the host's current time.
    pub fn check(&self, host: &dyn Host, key: &str) -> Result<GcraOutcome, SlotError> {
        let now = host.now_nanos();
        let fp = fingerprint(&self.name, key);
        self.table.update(
            host,
            fp,
            |payload| Gcra::idle(payload, now),
            |payload| Gcra::decode(Some(payload)),
            |state| {
                let tat = Gcra::decode(state.payload());
                let outcome = self.gcra.step(tat, now);
                let write = outcome
                    .allowed
                    .then(|| outcome.new_tat.to_le_bytes().to_vec());
                (write, outcome)
            },
        )
    }
}
