//! Simple service tokens, the format our users' services already emit:
//! `<service_id>:<target_service>:<timestamp>:<hex HMAC-SHA256(secret, "<service_id>:<target_service>:<timestamp>")>`.
//!
//! The timestamp is either Unix seconds or ISO-8601 as Python's `datetime.utcnow().isoformat()`
//! writes it (`2026-11-23T12:00:00.123456`, read as UTC). It contains colons itself, so the
//! service and target are taken from the left and the signature from the right.
//! These are bearer tokens: anyone who sees one can replay it until it expires, unless replay
//! protection is on. RFC 9421 signatures bind the method, path and body and are preferred.

use crate::api_key::rfc3339::{days_from_civil, days_in_month};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Why a service token was rejected (each a distinct reason in metrics and replies).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenError {
    /// Not four `:`-separated parts with non-empty service and target.
    Malformed,
    /// The timestamp is neither Unix seconds nor an ISO-8601 date-time.
    BadTimestamp,
    /// The calling service is not configured.
    UnknownService,
    /// The signature is not 64 hex digits.
    BadHex,
    /// The signature does not match any of the service's secrets.
    BadSignature,
    /// The token names another target service.
    WrongTarget,
    /// Older than the TTL (plus skew).
    Expired,
    /// Timestamp in the future (beyond the skew).
    Future,
}

impl TokenError {
    /// The exact message for replies and logs (never contains the token).
    pub fn message(self) -> &'static str {
        match self {
            TokenError::Malformed => {
                "service token must be <service>:<target>:<timestamp>:<hex signature>"
            }
            TokenError::BadTimestamp => "service token timestamp is not ISO-8601 or Unix seconds",
            TokenError::UnknownService => "service token names an unknown service",
            TokenError::BadHex => "service token signature is not 64 hex digits",
            TokenError::BadSignature => "service token signature is invalid",
            TokenError::WrongTarget => "service token is for another target service",
            TokenError::Expired => "service token has expired",
            TokenError::Future => "service token timestamp is in the future",
        }
    }
}

/// The parts of a token, before any check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenParts<'a> {
    /// Calling service.
    pub service_id: &'a str,
    /// Intended target service.
    pub target: &'a str,
    /// Timestamp text as sent.
    pub timestamp: &'a str,
    /// The signed message: everything before the last `:`.
    pub message: &'a str,
    /// Hex signature text.
    pub signature_hex: &'a str,
}

/// Split a token: service and target from the left, signature from the right.
pub fn split(token: &str) -> Result<TokenParts<'_>, TokenError> {
    let token = token.trim();
    let (message, signature_hex) = token.rsplit_once(':').ok_or(TokenError::Malformed)?;
    let mut left = message.splitn(3, ':');
    let service_id = left.next().ok_or(TokenError::Malformed)?;
    let target = left.next().ok_or(TokenError::Malformed)?;
    let timestamp = left.next().ok_or(TokenError::Malformed)?;
    if service_id.is_empty() || target.is_empty() || timestamp.is_empty() {
        return Err(TokenError::Malformed);
    }
    Ok(TokenParts {
        service_id,
        target,
        timestamp,
        message,
        signature_hex,
    })
}

/// What a verified token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedToken {
    /// Calling service.
    pub service_id: String,
    /// Issue time (Unix seconds).
    pub issued_at: i64,
}

/// Token checks configuration, compiled.
#[derive(Debug, Clone)]
pub struct TokenVerifier {
    /// Secrets by service id.
    pub services: Vec<(String, Vec<Vec<u8>>)>,
    /// Lifetime in seconds.
    pub ttl: i64,
    /// Tolerated clock difference in seconds.
    pub skew: i64,
}

impl TokenVerifier {
    /// Verify `token` for `target` at `now` (Unix seconds). Checks run format → service →
    /// hex → signature (constant-time) → target → time, so unsigned input learns nothing
    /// about our clock or target name.
    pub fn verify(&self, token: &str, target: &str, now: i64) -> Result<VerifiedToken, TokenError> {
        let parts = split(token)?;
        let secrets = self
            .services
            .iter()
            .find(|(id, _)| id == parts.service_id)
            .map(|(_, s)| s)
            .ok_or(TokenError::UnknownService)?;
        if parts.signature_hex.len() != 64 {
            return Err(TokenError::BadHex);
        }
        let sig = decode_hex(parts.signature_hex).ok_or(TokenError::BadHex)?;
        let mut ok = false;
        for secret in secrets {
            if let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) {
                mac.update(parts.message.as_bytes());
                ok |= mac.verify_slice(&sig).is_ok();
            }
        }
        if !ok {
            return Err(TokenError::BadSignature);
        }
        if parts.target != target {
            return Err(TokenError::WrongTarget);
        }
        let issued_at = parse_timestamp(parts.timestamp).ok_or(TokenError::BadTimestamp)?;
        if issued_at > now.saturating_add(self.skew) {
            return Err(TokenError::Future);
        }
        if now > issued_at.saturating_add(self.ttl).saturating_add(self.skew) {
            return Err(TokenError::Expired);
        }
        Ok(VerifiedToken {
            service_id: parts.service_id.to_string(),
            issued_at,
        })
    }
}

/// Make a token (for clients, tests and `edgeguard sign`).
pub fn make_service_token(
    service_id: &str,
    target: &str,
    timestamp: &str,
    secret: &[u8],
) -> String {
    let message = format!("{service_id}:{target}:{timestamp}");
    let hex = match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(mut mac) => {
            mac.update(message.as_bytes());
            encode_hex(&mac.finalize().into_bytes())
        }
        Err(_) => String::new(),
    };
    format!("{message}:{hex}")
}

/// Format Unix time as Python's `datetime.utcnow().isoformat()` does
/// (`2026-11-23T12:00:00.123456`, no fraction when the microseconds are 0).
pub fn python_utc_isoformat(unix_nanos: u64) -> String {
    let secs = (unix_nanos / 1_000_000_000) as i64;
    let micros = (unix_nanos % 1_000_000_000) / 1000;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let base = format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    );
    if micros == 0 {
        base
    } else {
        format!("{base}.{micros:06}")
    }
}

/// Parse Unix seconds (`1700000000`, optional `.fraction`) or ISO-8601
/// `YYYY-MM-DDTHH:MM:SS[.f+][Z|±HH:MM]` (no offset = UTC). Returns whole Unix seconds.
pub fn parse_timestamp(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if !b.is_empty() && b.iter().all(|c| c.is_ascii_digit() || *c == b'.') {
        let int = text.split('.').next()?;
        if int.is_empty() || int.len() > 12 || text.matches('.').count() > 1 {
            return None;
        }
        return int.parse().ok();
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let s = b.get(r)?;
        if s.iter().all(u8::is_ascii_digit) {
            std::str::from_utf8(s).ok()?.parse().ok()
        } else {
            None
        }
    };
    let sep = |i: usize, c: u8| b.get(i) == Some(&c);
    if !(sep(4, b'-') && sep(7, b'-') && sep(10, b'T') && sep(13, b':') && sep(16, b':')) {
        return None;
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, s) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || s > 59 {
        return None;
    }
    let mut i = 19;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start || i - start > 9 {
            return None;
        }
    }
    let offset = match b.get(i) {
        None => 0,
        Some(b'Z') if i + 1 == b.len() => 0,
        Some(sign @ (b'+' | b'-')) if b.len() == i + 6 && sep(i + 3, b':') => {
            let oh = num(i + 1..i + 3)?;
            let om = num(i + 4..i + 6)?;
            if oh > 23 || om > 59 {
                return None;
            }
            let off = oh * 3600 + om * 60;
            if *sign == b'+' {
                off
            } else {
                -off
            }
        }
        _ => return None,
    };
    Some(days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s - offset)
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Decode hex (either case); `None` on odd length or a non-hex digit.
pub fn decode_hex(text: &str) -> Option<Vec<u8>> {
    let b = text.as_bytes();
    if !b.len().is_multiple_of(2) {
        return None;
    }
    b.chunks(2)
        .map(|pair| {
            let hi = (*pair.first()? as char).to_digit(16)?;
            let lo = (*pair.get(1)? as char).to_digit(16)?;
            Some((hi * 16 + lo) as u8)
        })
        .collect()
}

/// Lowercase hex.
pub fn encode_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_795_435_200; // 2026-11-23T12:00:00Z

    fn verifier() -> TokenVerifier {
        TokenVerifier {
            services: vec![(
                "call-assistant".into(),
                vec![b"new-secret".to_vec(), b"old-secret".to_vec()],
            )],
            ttl: 300,
            skew: 30,
        }
    }

    #[test]
    fn timestamps_python_and_unix() {
        assert_eq!(parse_timestamp("2026-11-23T12:00:00"), Some(NOW));
        assert_eq!(parse_timestamp("2026-11-23T12:00:00.123456"), Some(NOW));
        assert_eq!(parse_timestamp("2026-11-23T12:00:00Z"), Some(NOW));
        assert_eq!(parse_timestamp("2026-11-23T13:00:00+01:00"), Some(NOW));
        assert_eq!(parse_timestamp("1795435200"), Some(NOW));
        assert_eq!(parse_timestamp("1795435200.75"), Some(NOW));
        assert_eq!(parse_timestamp("1970-01-01T00:00:00"), Some(0));
        assert_eq!(parse_timestamp("2024-02-29T00:00:00"), Some(1_709_164_800));
        for bad in [
            "2026-02-29T00:00:00",
            "2026-13-01T00:00:00",
            "2026-11-23 12:00:00",
            "2026-11-23T24:00:00",
            "2026-11-23T12:00:00.",
            "2026-11-23T12:00:00+0100",
            "yesterday",
            "1.2.3",
        ] {
            assert_eq!(parse_timestamp(bad), None, "{bad}");
        }
        assert_eq!(
            python_utc_isoformat(NOW as u64 * 1_000_000_000),
            "2026-11-23T12:00:00"
        );
        assert_eq!(
            python_utc_isoformat(NOW as u64 * 1_000_000_000 + 123_456_000),
            "2026-11-23T12:00:00.123456"
        );
    }

    #[test]
    fn python_isoformat_token_with_colons_verifies() {
        let t = make_service_token(
            "call-assistant",
            "email-router",
            "2026-11-23T12:00:00.123456",
            b"old-secret",
        );
        let p = split(&t).unwrap();
        assert_eq!(p.timestamp, "2026-11-23T12:00:00.123456");
        let v = verifier().verify(&t, "email-router", NOW + 10).unwrap();
        assert_eq!(v.service_id, "call-assistant");
        assert_eq!(v.issued_at, NOW);
    }

    /// An independent computation: Python `hmac.new(b"new-secret", b"call-assistant:email-router:1795435200", "sha256").hexdigest()`.
    #[test]
    fn token_signature_matches_python_hmac() {
        let t = make_service_token(
            "call-assistant",
            "email-router",
            "1795435200",
            b"new-secret",
        );
        assert_eq!(
            t,
            "call-assistant:email-router:1795435200:b40d165514986cda115a17a298b0c4863c2fa4e64bb856239881532485d5ad2d"
        );
    }

    #[test]
    fn distinct_reasons() {
        let v = verifier();
        let good = make_service_token(
            "call-assistant",
            "email-router",
            "1795435200",
            b"new-secret",
        );
        assert_eq!(
            v.verify("garbage", "email-router", NOW),
            Err(TokenError::Malformed)
        );
        assert_eq!(
            v.verify("a::1:00", "email-router", NOW),
            Err(TokenError::Malformed)
        );
        let unknown = make_service_token("intruder", "email-router", "1795435200", b"new-secret");
        assert_eq!(
            v.verify(&unknown, "email-router", NOW),
            Err(TokenError::UnknownService)
        );
        let bad_hex = format!("{}zz", &good[..good.len() - 2]);
        assert_eq!(
            v.verify(&bad_hex, "email-router", NOW),
            Err(TokenError::BadHex)
        );
        let short = &good[..good.len() - 2];
        assert_eq!(
            v.verify(short, "email-router", NOW),
            Err(TokenError::BadHex)
        );
        let flipped = format!(
            "{}{}",
            &good[..good.len() - 1],
            if good.ends_with('0') { '1' } else { '0' }
        );
        assert_eq!(
            v.verify(&flipped, "email-router", NOW),
            Err(TokenError::BadSignature)
        );
        let wrong_secret =
            make_service_token("call-assistant", "email-router", "1795435200", b"guess");
        assert_eq!(
            v.verify(&wrong_secret, "email-router", NOW),
            Err(TokenError::BadSignature)
        );
        assert_eq!(
            v.verify(&good, "billing", NOW),
            Err(TokenError::WrongTarget)
        );
        assert_eq!(
            v.verify(&good, "email-router", NOW + 331),
            Err(TokenError::Expired)
        );
        assert!(v.verify(&good, "email-router", NOW + 330).is_ok());
        assert_eq!(
            v.verify(&good, "email-router", NOW - 31),
            Err(TokenError::Future)
        );
        assert!(v.verify(&good, "email-router", NOW - 30).is_ok());
        let upper = good.to_uppercase().replacen(
            "CALL-ASSISTANT:EMAIL-ROUTER",
            "call-assistant:email-router",
            1,
        );
        assert!(
            v.verify(&upper, "email-router", NOW).is_ok(),
            "uppercase hex accepted"
        );
        let bad_ts = make_service_token("call-assistant", "email-router", "noon", b"new-secret");
        assert_eq!(
            v.verify(&bad_ts, "email-router", NOW),
            Err(TokenError::BadTimestamp)
        );
    }

    #[test]
    fn hex_round_trip() {
        assert_eq!(decode_hex("00ffA0"), Some(vec![0, 255, 160]));
        assert_eq!(decode_hex("0"), None);
        assert_eq!(decode_hex("zz"), None);
        assert_eq!(encode_hex(&[0, 255, 160]), "00ffa0");
    }
}
