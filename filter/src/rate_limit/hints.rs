//! Rate-limit hint headers.
//!
//! IETF (draft-ietf-httpapi-ratelimit-headers-11, Structured Fields lists):
//! `RateLimit-Policy: "burst";q=100;w=60, "daily";q=1000;w=86400` lists every policy that
//! applied; `RateLimit: "burst";r=42;t=18` reports the one closest to its limit (lowest
//! remaining share of its quota), `r` = remaining units, `t` = seconds until the quota is fully
//! available again. Legacy: `X-RateLimit-Limit`, `X-RateLimit-Remaining`, `X-RateLimit-Reset`
//! (delta seconds) for that same policy.

use super::config::HintFormat;

/// One policy's state for this request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyHint {
    /// Policy name (validated: `[A-Za-z0-9_.-]`, safe inside an sf-string).
    pub name: String,
    /// Quota per window.
    pub quota: u64,
    /// Window in seconds.
    pub window_secs: u64,
    /// Remaining units.
    pub remaining: u64,
    /// Seconds until fully reset.
    pub reset_secs: u64,
}

/// The hint headers for a set of policy results (empty when there are none).
pub fn hint_headers(format: HintFormat, hints: &[PolicyHint]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if format == HintFormat::None {
        return out;
    }
    // Closest to its limit: smallest remaining/quota, compared without division.
    let Some(closest) = hints.iter().min_by(|a, b| {
        (u128::from(a.remaining) * u128::from(b.quota))
            .cmp(&(u128::from(b.remaining) * u128::from(a.quota)))
            .then(a.remaining.cmp(&b.remaining))
    }) else {
        return out;
    };
    if matches!(format, HintFormat::Ietf | HintFormat::Both) {
        let policies: Vec<String> = hints
            .iter()
            .map(|h| format!("\"{}\";q={};w={}", h.name, h.quota, h.window_secs))
            .collect();
        out.push(("ratelimit-policy".to_string(), policies.join(", ")));
        out.push((
            "ratelimit".to_string(),
            format!(
                "\"{}\";r={};t={}",
                closest.name, closest.remaining, closest.reset_secs
            ),
        ));
    }
    if matches!(format, HintFormat::Legacy | HintFormat::Both) {
        out.push(("x-ratelimit-limit".to_string(), closest.quota.to_string()));
        out.push((
            "x-ratelimit-remaining".to_string(),
            closest.remaining.to_string(),
        ));
        out.push((
            "x-ratelimit-reset".to_string(),
            closest.reset_secs.to_string(),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(name: &str, quota: u64, window: u64, remaining: u64, reset: u64) -> PolicyHint {
        PolicyHint {
            name: name.into(),
            quota,
            window_secs: window,
            remaining,
            reset_secs: reset,
        }
    }

    #[test]
    fn ietf_syntax_and_closest_policy() {
        let hs = [
            h("burst", 100, 60, 42, 18),
            h("daily", 1000, 86400, 900, 9000),
        ];
        let out = hint_headers(HintFormat::Both, &hs);
        assert_eq!(
            out,
            vec![
                (
                    "ratelimit-policy".into(),
                    "\"burst\";q=100;w=60, \"daily\";q=1000;w=86400".into()
                ),
                ("ratelimit".into(), "\"burst\";r=42;t=18".into()),
                ("x-ratelimit-limit".into(), "100".into()),
                ("x-ratelimit-remaining".into(), "42".into()),
                ("x-ratelimit-reset".into(), "18".into()),
            ]
        );
        // 5/1000 is closer to the limit than 42/100.
        let hs = [
            h("burst", 100, 60, 42, 18),
            h("daily", 1000, 86400, 5, 9000),
        ];
        let out = hint_headers(HintFormat::Ietf, &hs);
        assert_eq!(out.len(), 2);
        assert_eq!(out[1].1, "\"daily\";r=5;t=9000");
        assert!(hint_headers(HintFormat::None, &hs).is_empty());
        assert!(hint_headers(HintFormat::Both, &[]).is_empty());
        assert_eq!(hint_headers(HintFormat::Legacy, &hs).len(), 3);
    }
}
