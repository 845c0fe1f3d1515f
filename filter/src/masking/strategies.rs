//! The masking strategies: each turns a sensitive text into its masked form. Lengths count
//! characters (not bytes), so multi-byte text is never split inside a character.

use super::config::Strategy;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The fixed text of the `redact` strategy.
pub const REDACTED: &str = "***MASKED***";

/// Append the masked form of `value` under `strategy` to `out`. `hash_key` is the HMAC key for
/// [`Strategy::Hash`] (compile guarantees it exists when a hash strategy is configured; without
/// one the value is redacted rather than passed).
pub fn apply(strategy: Strategy, value: &str, hash_key: Option<&[u8]>, out: &mut String) {
    match strategy {
        Strategy::Email => email(value, out),
        Strategy::Phone => keep_last_digits(value, out),
        Strategy::Card => keep_last_digits(value, out),
        Strategy::Ssn => ssn(value, out),
        Strategy::Secret => keep_ends(value, 4, 8, out),
        Strategy::Partial => {
            if value.chars().count() > 4 {
                keep_ends(value, 2, 4, out)
            } else {
                out.push_str("****")
            }
        }
        Strategy::Redact => out.push_str(REDACTED),
        Strategy::Hash => match hash_key {
            Some(key) => hash(key, value, out),
            None => out.push_str(REDACTED),
        },
    }
}

fn stars(n: usize, out: &mut String) {
    out.extend(std::iter::repeat_n('*', n));
}

/// Local part longer than 3 characters: first 2 kept, the rest starred; else all starred; the
/// domain is kept. Without an `@` the whole value is starred.
fn email(value: &str, out: &mut String) {
    match value.rfind('@') {
        Some(at) => {
            let (local, domain) = value.split_at(at);
            let n = local.chars().count();
            if n > 3 {
                out.extend(local.chars().take(2));
                stars(n - 2, out);
            } else {
                stars(n, out);
            }
            out.push_str(domain);
        }
        None => stars(value.chars().count().max(1), out),
    }
}

/// Digits only: all starred but the last 4 (`phone` and `card`). With 4 digits or fewer nothing
/// is kept (`****`), so a short value is never shown whole.
fn keep_last_digits(value: &str, out: &mut String) {
    let digits = value.bytes().filter(u8::is_ascii_digit).count();
    if digits <= 4 {
        out.push_str("****");
        return;
    }
    stars(digits - 4, out);
    out.extend(
        value
            .bytes()
            .filter(u8::is_ascii_digit)
            .skip(digits - 4)
            .map(char::from),
    );
}

/// `***-**-` + last 4 when the value has exactly 9 digits, else all stars (one per character).
fn ssn(value: &str, out: &mut String) {
    let digits = value.bytes().filter(u8::is_ascii_digit).count();
    if digits == 9 {
        out.push_str("***-**-");
        out.extend(
            value
                .bytes()
                .filter(u8::is_ascii_digit)
                .skip(5)
                .map(char::from),
        );
    } else {
        stars(value.chars().count().max(4), out);
    }
}

/// First `keep` + stars + last `keep` characters when longer than `min_len`, else all stars.
fn keep_ends(value: &str, keep: usize, min_len: usize, out: &mut String) {
    let n = value.chars().count();
    if n <= min_len {
        stars(n.max(4), out);
        return;
    }
    out.extend(value.chars().take(keep));
    stars(n - 2 * keep, out);
    out.extend(value.chars().skip(n - keep));
}

/// `h:` + the first 16 hex digits (8 bytes) of HMAC-SHA256(key, value).
fn hash(key: &[u8], value: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        out.push_str(REDACTED);
        return;
    };
    mac.update(value.as_bytes());
    let tag = mac.finalize().into_bytes();
    out.push_str("h:");
    for b in tag.iter().take(8) {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(s: Strategy, v: &str) -> String {
        let mut out = String::new();
        apply(s, v, Some(b"0123456789abcdef-test-key"), &mut out);
        out
    }

    #[test]
    fn email_examples() {
        assert_eq!(
            m(Strategy::Email, "johndoe@example.com"),
            "jo*****@example.com"
        );
        assert_eq!(m(Strategy::Email, "abcd@x.org"), "ab**@x.org");
        assert_eq!(m(Strategy::Email, "abc@x.org"), "***@x.org");
        assert_eq!(m(Strategy::Email, "a@x.org"), "*@x.org");
        assert_eq!(m(Strategy::Email, "no-at-sign"), "**********");
        assert_eq!(m(Strategy::Email, "émilie@exemple.fr"), "ém****@exemple.fr");
    }

    #[test]
    fn phone_examples() {
        assert_eq!(m(Strategy::Phone, "+1 (555) 123-4567"), "*******4567");
        assert_eq!(m(Strategy::Phone, "5551234567"), "******4567");
        assert_eq!(m(Strategy::Phone, "1234"), "****");
        assert_eq!(m(Strategy::Phone, "n/a"), "****");
    }

    #[test]
    fn card_examples() {
        assert_eq!(m(Strategy::Card, "4111 1111 1111 1111"), "************1111");
        assert_eq!(m(Strategy::Card, "5500-0000-0000-0004"), "************0004");
        assert_eq!(m(Strategy::Card, "378282246310005"), "***********0005");
    }

    #[test]
    fn ssn_examples() {
        assert_eq!(m(Strategy::Ssn, "123-45-6789"), "***-**-6789");
        assert_eq!(m(Strategy::Ssn, "123456789"), "***-**-6789");
        assert_eq!(m(Strategy::Ssn, "12-345"), "******");
        assert_eq!(m(Strategy::Ssn, "1"), "****");
    }

    #[test]
    fn secret_examples() {
        assert_eq!(
            m(Strategy::Secret, "sk_live_abcdef123456"),
            "sk_l************3456"
        );
        assert_eq!(m(Strategy::Secret, "123456789"), "1234*6789");
        assert_eq!(m(Strategy::Secret, "12345678"), "********");
        assert_eq!(m(Strategy::Secret, "abc"), "****");
    }

    #[test]
    fn partial_examples() {
        assert_eq!(m(Strategy::Partial, "Johnathan"), "Jo*****an");
        assert_eq!(m(Strategy::Partial, "abcde"), "ab*de");
        assert_eq!(m(Strategy::Partial, "abcd"), "****");
        assert_eq!(m(Strategy::Partial, "日本語テキスト"), "日本***スト");
    }

    #[test]
    fn redact_example() {
        assert_eq!(m(Strategy::Redact, "anything"), "***MASKED***");
        assert_eq!(m(Strategy::Redact, ""), "***MASKED***");
    }

    #[test]
    fn hash_is_keyed_stable_and_short() {
        let a = m(Strategy::Hash, "johndoe@example.com");
        assert_eq!(a.len(), 18);
        assert!(a.starts_with("h:"));
        assert!(a[2..].bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(a, m(Strategy::Hash, "johndoe@example.com"));
        assert_ne!(a, m(Strategy::Hash, "johndoe@example.org"));
        let mut other_key = String::new();
        apply(
            Strategy::Hash,
            "johndoe@example.com",
            Some(b"another-key-0123456789"),
            &mut other_key,
        );
        assert_ne!(a, other_key);
    }

    /// RFC 4231 test case 2 (key "Jefe"): HMAC-SHA256 starts with 5bdcc146bf60754e.
    #[test]
    fn hash_matches_rfc4231_vector() {
        let mut out = String::new();
        apply(
            Strategy::Hash,
            "what do ya want for nothing?",
            Some(b"Jefe"),
            &mut out,
        );
        assert_eq!(out, "h:5bdcc146bf60754e");
    }
}
