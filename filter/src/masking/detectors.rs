//! Value detectors: find sensitive substrings (card numbers, SSNs, e-mail addresses, JWTs, API
//! keys) inside any decoded JSON string, so data leaks are masked even under harmless keys.
//! Hand-written single-pass scanners over bytes (every pattern is ASCII), with a cheap
//! pre-check so that ordinary strings cost one pass.

use super::config::{Detectors, Strategy};
use super::strategies;

/// One sensitive substring: byte range in the text and the strategy that masks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Found {
    /// Start byte (inclusive).
    pub start: usize,
    /// End byte (exclusive).
    pub end: usize,
    /// How to mask it.
    pub strategy: Strategy,
}

/// The enabled detectors with their strategies.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DetectorSet {
    card: Option<Strategy>,
    ssn: Option<Strategy>,
    email: Option<Strategy>,
    jwt: Option<Strategy>,
    api_key: Option<Strategy>,
}

/// Reusable buffers for detection (no allocation per string once warmed up).
#[derive(Debug, Default)]
pub struct DetectScratch {
    found: Vec<Found>,
    groups: Vec<(usize, usize)>,
}

impl DetectorSet {
    /// Resolve the config switches.
    pub fn compile(d: &Detectors) -> DetectorSet {
        DetectorSet {
            card: d.card.resolve(Strategy::Card),
            ssn: d.ssn.resolve(Strategy::Ssn),
            email: d.email.resolve(Strategy::Email),
            jwt: d.jwt.resolve(Strategy::Redact),
            api_key: d.api_key.resolve(Strategy::Secret),
        }
    }

    /// True when no detector is on.
    pub fn is_empty(&self) -> bool {
        self.card.is_none()
            && self.ssn.is_none()
            && self.email.is_none()
            && self.jwt.is_none()
            && self.api_key.is_none()
    }

    /// If `text` contains anything sensitive, write its masked form to `out` and return true.
    pub fn mask(
        &self,
        text: &str,
        hash_key: Option<&[u8]>,
        scratch: &mut DetectScratch,
        out: &mut String,
    ) -> bool {
        if !self.find(text, scratch) {
            return false;
        }
        let mut pos = 0;
        for f in &scratch.found {
            if let (Some(before), Some(hit)) = (text.get(pos..f.start), text.get(f.start..f.end)) {
                out.push_str(before);
                strategies::apply(f.strategy, hit, hash_key, out);
                pos = f.end;
            }
        }
        out.push_str(text.get(pos..).unwrap_or_default());
        true
    }

    /// Fill `scratch.found` with non-overlapping matches sorted by start; true if any.
    pub fn find(&self, text: &str, scratch: &mut DetectScratch) -> bool {
        scratch.found.clear();
        let b = text.as_bytes();
        if b.len() < 6 {
            return false;
        }
        // One pass of cheap facts decides which scanners can possibly match.
        let mut digits = 0usize;
        let mut flags = 0u8;
        for &c in b {
            let class = CLASS[usize::from(c)];
            digits += usize::from(class & DIGIT);
            flags |= class;
        }
        let at = flags & AT != 0;
        if let (Some(s), true) = (self.jwt, flags & DOT != 0) {
            find_jwts(b, s, &mut scratch.found);
        }
        if let (Some(s), true) = (self.api_key, flags & KEY_HINT != 0) {
            find_api_keys(b, s, &mut scratch.found);
        }
        if let (Some(s), true) = (self.email, at) {
            find_emails(b, s, &mut scratch.found);
        }
        if let (Some(s), true) = (self.card, digits >= 13) {
            find_cards(b, s, &mut scratch.groups, &mut scratch.found);
        }
        if let (Some(s), true) = (self.ssn, digits >= 9) {
            find_ssns(b, s, &mut scratch.found);
        }
        if scratch.found.is_empty() {
            return false;
        }
        // Sort, then merge overlaps into their union (the earlier match's strategy), so every
        // detected byte is masked exactly once.
        scratch
            .found
            .sort_unstable_by(|x, y| x.start.cmp(&y.start).then(y.end.cmp(&x.end)));
        let mut merged = 0usize;
        for i in 0..scratch.found.len() {
            let Some(&cur) = scratch.found.get(i) else {
                break;
            };
            if merged > 0 {
                if let Some(last) = scratch.found.get_mut(merged - 1) {
                    if cur.start < last.end {
                        last.end = last.end.max(cur.end);
                        continue;
                    }
                }
            }
            if let Some(slot) = scratch.found.get_mut(merged) {
                *slot = cur;
            }
            merged += 1;
        }
        scratch.found.truncate(merged);
        true
    }
}

const DIGIT: u8 = 1;
const AT: u8 = 2;
const DOT: u8 = 4;
/// `_`, `-` or `A`: every API key shape has one of them.
const KEY_HINT: u8 = 8;

/// Byte classes for the pre-check.
static CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut c = b'0';
    while c <= b'9' {
        t[c as usize] = DIGIT;
        c += 1;
    }
    t[b'@' as usize] = AT;
    t[b'.' as usize] = DOT;
    t[b'_' as usize] = KEY_HINT;
    t[b'-' as usize] = KEY_HINT;
    t[b'A' as usize] = KEY_HINT;
    t
};

fn at(b: &[u8], i: usize) -> u8 {
    b.get(i).copied().unwrap_or(0)
}

fn is_digit_at(b: &[u8], i: usize) -> bool {
    at(b, i).is_ascii_digit()
}

/// Card numbers: runs of digit groups separated by one space or dash; any consecutive groups
/// holding 13–19 digits that pass the Luhn check (longest first).
fn find_cards(b: &[u8], s: Strategy, groups: &mut Vec<(usize, usize)>, found: &mut Vec<Found>) {
    let mut i = 0;
    while i < b.len() {
        if !is_digit_at(b, i) {
            i += 1;
            continue;
        }
        groups.clear();
        let mut j = i;
        loop {
            let start = j;
            while is_digit_at(b, j) {
                j += 1;
            }
            groups.push((start, j));
            let sep = at(b, j);
            if (sep == b' ' || sep == b'-') && is_digit_at(b, j + 1) {
                j += 1;
            } else {
                break;
            }
        }
        i = j;
        let mut g = 0;
        while g < groups.len() {
            let mut best = None;
            let mut total = 0;
            for (k, &(gs, ge)) in groups.iter().enumerate().skip(g) {
                total += ge - gs;
                if total > 19 {
                    break;
                }
                if total >= 13 && luhn(b, groups.get(g..=k).unwrap_or_default()) {
                    best = Some(k);
                }
            }
            match best {
                Some(k) => {
                    if let (Some(&(start, _)), Some(&(_, end))) = (groups.get(g), groups.get(k)) {
                        found.push(Found {
                            start,
                            end,
                            strategy: s,
                        });
                    }
                    g = k + 1;
                }
                None => g += 1,
            }
        }
    }
}

/// The Luhn checksum over the digits of `groups`.
pub fn luhn(b: &[u8], groups: &[(usize, usize)]) -> bool {
    let mut sum = 0u32;
    let mut double = false;
    for &(s, e) in groups.iter().rev() {
        for &c in b.get(s..e).unwrap_or_default().iter().rev() {
            let mut d = u32::from(c.wrapping_sub(b'0'));
            if double {
                d *= 2;
                if d > 9 {
                    d -= 9;
                }
            }
            sum += d;
            double = !double;
        }
    }
    sum.is_multiple_of(10)
}

/// US SSNs written `ddd-dd-dddd`, not inside a longer digit run.
fn find_ssns(b: &[u8], s: Strategy, found: &mut Vec<Found>) {
    const SHAPE: &[u8; 11] = b"ddd-dd-dddd";
    let mut i = 0;
    while i + SHAPE.len() <= b.len() {
        let fits = (i == 0 || !is_digit_at(b, i - 1))
            && !is_digit_at(b, i + SHAPE.len())
            && SHAPE.iter().enumerate().all(|(k, &p)| {
                let c = at(b, i + k);
                if p == b'd' {
                    c.is_ascii_digit()
                } else {
                    c == b'-'
                }
            });
        if fits {
            found.push(Found {
                start: i,
                end: i + SHAPE.len(),
                strategy: s,
            });
            i += SHAPE.len();
        } else {
            i += 1;
        }
    }
}

fn is_local_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'%' | b'+' | b'-' | b'\'')
}

fn is_domain_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'-' || c == b'.'
}

/// E-mail addresses: `local@domain.tld` with a dotted domain and an alphabetic TLD of 2+.
fn find_emails(b: &[u8], s: Strategy, found: &mut Vec<Found>) {
    let mut from = 0;
    while let Some(off) = b
        .get(from..)
        .and_then(|r| r.iter().position(|&c| c == b'@'))
    {
        let a = from + off;
        let mut ls = a;
        while ls > 0 && is_local_char(at(b, ls - 1)) {
            ls -= 1;
        }
        while at(b, ls) == b'.' && ls < a {
            ls += 1;
        }
        let mut de = a + 1;
        while de < b.len() && is_domain_char(at(b, de)) {
            de += 1;
        }
        while de > a + 1 && matches!(at(b, de - 1), b'.' | b'-') {
            de -= 1;
        }
        let domain = b.get(a + 1..de).unwrap_or_default();
        let valid = ls < a
            && domain.contains(&b'.')
            && domain.split(|&c| c == b'.').all(|l| !l.is_empty())
            && domain
                .rsplit(|&c| c == b'.')
                .next()
                .is_some_and(|tld| tld.len() >= 2 && tld.iter().all(u8::is_ascii_alphabetic));
        if valid {
            found.push(Found {
                start: ls,
                end: de,
                strategy: s,
            });
            from = de;
        } else {
            from = a + 1;
        }
    }
}

fn is_b64url(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'-' || c == b'_'
}

fn run_len(b: &[u8], from: usize, pred: fn(u8) -> bool) -> usize {
    b.get(from..)
        .unwrap_or_default()
        .iter()
        .take_while(|&&c| pred(c))
        .count()
}

/// JWTs: `eyJ...` header, `.`, payload, `.`, signature (may be empty for `alg: none`).
fn find_jwts(b: &[u8], s: Strategy, found: &mut Vec<Found>) {
    let mut from = 0;
    while let Some(off) = b
        .get(from..)
        .and_then(|r| r.windows(3).position(|w| w == b"eyJ"))
    {
        let i = from + off;
        from = i + 3;
        if i > 0 && is_b64url(at(b, i - 1)) {
            continue;
        }
        let h = run_len(b, i, is_b64url);
        if h < 10 || at(b, i + h) != b'.' {
            continue;
        }
        let p_start = i + h + 1;
        let p = run_len(b, p_start, is_b64url);
        if p < 2 || at(b, p_start + p) != b'.' {
            continue;
        }
        let s_start = p_start + p + 1;
        let end = s_start + run_len(b, s_start, is_b64url);
        found.push(Found {
            start: i,
            end,
            strategy: s,
        });
        from = end;
    }
}

fn is_alnum(c: u8) -> bool {
    c.is_ascii_alphanumeric()
}

fn is_upper_alnum(c: u8) -> bool {
    c.is_ascii_uppercase() || c.is_ascii_digit()
}

fn is_word(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

fn is_alnum_dash(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'-'
}

/// A well-known API key shape: prefix, tail characters, tail length bounds.
struct KeyShape {
    prefix: &'static [u8],
    tail: fn(u8) -> bool,
    min: usize,
    max: usize,
}

const KEY_SHAPES: &[KeyShape] = &[
    // Stripe secret and restricted keys.
    KeyShape {
        prefix: b"sk_live_",
        tail: is_alnum,
        min: 10,
        max: 256,
    },
    KeyShape {
        prefix: b"sk_test_",
        tail: is_alnum,
        min: 10,
        max: 256,
    },
    KeyShape {
        prefix: b"rk_live_",
        tail: is_alnum,
        min: 10,
        max: 256,
    },
    KeyShape {
        prefix: b"rk_test_",
        tail: is_alnum,
        min: 10,
        max: 256,
    },
    // OpenAI / Anthropic style `sk-...`.
    KeyShape {
        prefix: b"sk-",
        tail: is_b64url,
        min: 20,
        max: 256,
    },
    // AWS access key ids.
    KeyShape {
        prefix: b"AKIA",
        tail: is_upper_alnum,
        min: 16,
        max: 16,
    },
    KeyShape {
        prefix: b"ASIA",
        tail: is_upper_alnum,
        min: 16,
        max: 16,
    },
    // Google API keys.
    KeyShape {
        prefix: b"AIza",
        tail: is_b64url,
        min: 35,
        max: 35,
    },
    // GitHub tokens.
    KeyShape {
        prefix: b"ghp_",
        tail: is_alnum,
        min: 30,
        max: 255,
    },
    KeyShape {
        prefix: b"gho_",
        tail: is_alnum,
        min: 30,
        max: 255,
    },
    KeyShape {
        prefix: b"ghu_",
        tail: is_alnum,
        min: 30,
        max: 255,
    },
    KeyShape {
        prefix: b"ghs_",
        tail: is_alnum,
        min: 30,
        max: 255,
    },
    KeyShape {
        prefix: b"ghr_",
        tail: is_alnum,
        min: 30,
        max: 255,
    },
    KeyShape {
        prefix: b"github_pat_",
        tail: is_word,
        min: 22,
        max: 255,
    },
    // GitLab personal access tokens.
    KeyShape {
        prefix: b"glpat-",
        tail: is_b64url,
        min: 20,
        max: 255,
    },
    // Slack tokens.
    KeyShape {
        prefix: b"xoxb-",
        tail: is_alnum_dash,
        min: 10,
        max: 255,
    },
    KeyShape {
        prefix: b"xoxp-",
        tail: is_alnum_dash,
        min: 10,
        max: 255,
    },
    KeyShape {
        prefix: b"xoxa-",
        tail: is_alnum_dash,
        min: 10,
        max: 255,
    },
    KeyShape {
        prefix: b"xoxr-",
        tail: is_alnum_dash,
        min: 10,
        max: 255,
    },
    KeyShape {
        prefix: b"xoxs-",
        tail: is_alnum_dash,
        min: 10,
        max: 255,
    },
];

/// API keys of the shapes in [`KEY_SHAPES`], starting at a word boundary.
fn find_api_keys(b: &[u8], s: Strategy, found: &mut Vec<Found>) {
    if b.len() < 13 {
        return;
    }
    let mut i = 0;
    while i < b.len() {
        let c = at(b, i);
        if !matches!(c, b's' | b'r' | b'A' | b'g' | b'x') || (i > 0 && is_alnum(at(b, i - 1))) {
            i += 1;
            continue;
        }
        let mut hit = None;
        for k in KEY_SHAPES {
            if b.get(i..).is_some_and(|r| r.starts_with(k.prefix)) {
                let t = run_len(b, i + k.prefix.len(), k.tail);
                if t >= k.min && t <= k.max {
                    hit = Some(i + k.prefix.len() + t);
                    break;
                }
            }
        }
        match hit {
            Some(end) => {
                found.push(Found {
                    start: i,
                    end,
                    strategy: s,
                });
                i = end;
            }
            None => i += 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> DetectorSet {
        DetectorSet::compile(&Detectors::default())
    }

    fn masked(text: &str) -> Option<String> {
        let mut out = String::new();
        let mut scratch = DetectScratch::default();
        all()
            .mask(text, None, &mut scratch, &mut out)
            .then_some(out)
    }

    #[test]
    fn cards_need_luhn_and_length() {
        assert_eq!(
            masked("paid with 4111 1111 1111 1111 today").as_deref(),
            Some("paid with ************1111 today")
        );
        assert_eq!(
            masked("4111111111111111").as_deref(),
            Some("************1111")
        );
        assert_eq!(
            masked("amex 3782-822463-10005.").as_deref(),
            Some("amex ***********0005.")
        );
        // Luhn fails.
        assert_eq!(masked("order 4111111111111112"), None);
        // Too short / too long.
        assert_eq!(masked("id 411111111111"), None);
        assert_eq!(masked("n 41111111111111111111111"), None);
    }

    #[test]
    fn card_inside_a_longer_grouped_run_is_still_found() {
        let out = masked("4111 1111 1111 1111 5555").unwrap();
        assert!(!out.contains("4111 1111 1111 1111"), "{out}");
    }

    #[test]
    fn ssns() {
        assert_eq!(
            masked("ssn: 123-45-6789.").as_deref(),
            Some("ssn: ***-**-6789.")
        );
        assert_eq!(masked("1123-45-6789"), None);
        assert_eq!(masked("123-45-67890"), None);
        assert_eq!(masked("123-456-7890"), None);
    }

    #[test]
    fn emails() {
        assert_eq!(
            masked("write to johndoe@example.com.").as_deref(),
            Some("write to jo*****@example.com.")
        );
        assert_eq!(
            masked("?mail=ann.lee+x@mail.example.co.uk&x").as_deref(),
            Some("?mail=an*******@mail.example.co.uk&x")
        );
        assert_eq!(masked("user@localhost"), None);
        assert_eq!(masked("@handle and a@b"), None);
        assert_eq!(masked("x@1.23"), None);
    }

    #[test]
    fn jwts() {
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjMifQ.c2lnbmF0dXJlLWJ5dGVz";
        assert_eq!(
            masked(&format!("Bearer {jwt}")).as_deref(),
            Some("Bearer ***MASKED***")
        );
        assert_eq!(
            masked("eyJhbGciOiJub25lIn0.e30.").as_deref(),
            Some("***MASKED***")
        );
        assert_eq!(masked("eyJhbGciOiJub25lIn0 only"), None);
    }

    #[test]
    fn api_keys() {
        for key in [
            "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
            "AKIAIOSFODNN7EXAMPLE",
            "ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789",
            "xoxb-1234567890-abcdefghij",
            "AIzaSyA1234567890abcdefghijklmnopqrstuv",
            "glpat-abcdefghij0123456789",
            "sk-proj-abcdefghijklmnopqrstuvwxyz",
        ] {
            let out = masked(&format!("key={key};")).unwrap();
            assert!(!out.contains(key), "{key} -> {out}");
            assert!(out.starts_with("key=") && out.ends_with(';'), "{out}");
        }
        assert_eq!(masked("task_live_abcdefghijklmn"), None);
        assert_eq!(masked("AKIA1234"), None);
    }

    #[test]
    fn overlapping_matches_are_merged() {
        // An e-mail whose local part is an SSN-shaped string.
        let out = masked("123-45-6789@example.com").unwrap();
        assert!(!out.contains("6789@"), "{out}");
    }

    #[test]
    fn disabled_detectors_find_nothing() {
        let d = Detectors {
            email: super::super::config::DetectorSetting::Enabled(false),
            ..Detectors::default()
        };
        let set = DetectorSet::compile(&d);
        let mut out = String::new();
        let mut scratch = DetectScratch::default();
        assert!(!set.mask("johndoe@example.com", None, &mut scratch, &mut out));
    }
}
