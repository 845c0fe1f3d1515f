//! Field selection: which values are masked because of where they are (JSON path) or what
//! their key is called (exact name, heuristic word). Compiled once; matched without
//! allocating.

use super::config::Strategy;
use std::borrow::Cow;
use std::collections::BTreeMap;

/// One step of a concrete location in a document while it is being read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step<'a> {
    /// An object member, by decoded key (borrowed from the body unless it had escapes).
    Key(Cow<'a, [u8]>),
    /// An array element, by index.
    Index(usize),
}

/// One selector of a JSONPath segment.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Selector {
    Name(Vec<u8>),
    Index(usize),
    Wildcard,
}

/// One segment: a selector, applied to the children (`.x`) or to any descendant (`..x`).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Segment {
    descendant: bool,
    selector: Selector,
}

/// A parsed JSONPath (the subset `$`, `.name`, `['name']`, `[N]`, `[*]`, `.*`, `..`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonPath {
    segments: Vec<Segment>,
}

impl JsonPath {
    /// Parse `text`; the error says what is wrong (it becomes a config error).
    pub fn parse(text: &str) -> Result<JsonPath, String> {
        let b = text.as_bytes();
        if b.first() != Some(&b'$') {
            return Err("a JSON path must start with \"$\"".to_string());
        }
        let mut i = 1;
        let mut segments = Vec::new();
        while i < b.len() {
            let mut descendant = false;
            let c = b.get(i).copied().unwrap_or(0);
            if c == b'.' {
                i += 1;
                if b.get(i) == Some(&b'.') {
                    descendant = true;
                    i += 1;
                }
                if b.get(i) == Some(&b'[') {
                    if !descendant {
                        return Err(format!("unexpected \"[\" after \".\" at byte {i}"));
                    }
                } else {
                    let start = i;
                    while i < b.len() && !matches!(b.get(i), Some(b'.') | Some(b'[')) {
                        i += 1;
                    }
                    let name = b.get(start..i).unwrap_or_default();
                    let selector = match name {
                        b"" => return Err(format!("empty name at byte {start}")),
                        b"*" => Selector::Wildcard,
                        _ => Selector::Name(name.to_vec()),
                    };
                    segments.push(Segment {
                        descendant,
                        selector,
                    });
                    continue;
                }
            }
            if b.get(i) != Some(&b'[') {
                return Err(format!("expected \".\" or \"[\" at byte {i}"));
            }
            i += 1;
            let selector = match b.get(i) {
                Some(b'*') => {
                    i += 1;
                    Selector::Wildcard
                }
                Some(&q @ (b'\'' | b'"')) => {
                    i += 1;
                    let start = i;
                    while i < b.len() && b.get(i) != Some(&q) {
                        i += 1;
                    }
                    if i >= b.len() {
                        return Err("unterminated quoted name".to_string());
                    }
                    let name = b.get(start..i).unwrap_or_default().to_vec();
                    i += 1;
                    Selector::Name(name)
                }
                Some(d) if d.is_ascii_digit() => {
                    let start = i;
                    while b.get(i).is_some_and(u8::is_ascii_digit) {
                        i += 1;
                    }
                    let digits = std::str::from_utf8(b.get(start..i).unwrap_or_default())
                        .unwrap_or_default();
                    Selector::Index(
                        digits
                            .parse()
                            .map_err(|_| format!("index too large at byte {start}"))?,
                    )
                }
                _ => {
                    return Err(format!(
                        "expected '*', a quoted name or an index at byte {i}"
                    ))
                }
            };
            if b.get(i) != Some(&b']') {
                return Err(format!("expected \"]\" at byte {i}"));
            }
            i += 1;
            segments.push(Segment {
                descendant,
                selector,
            });
        }
        if segments.is_empty() {
            return Err("the path selects the whole document; name a field".to_string());
        }
        Ok(JsonPath { segments })
    }

    /// Does this path select the value at `path`?
    pub fn matches(&self, path: &[Step<'_>]) -> bool {
        // Cheap rejection on the last step, which must match the last segment.
        match (self.segments.last(), path.last()) {
            (Some(seg), Some(step)) if !selector_matches(&seg.selector, step) => return false,
            (_, None) => return false,
            _ => {}
        }
        match_from(&self.segments, path)
    }
}

fn selector_matches(sel: &Selector, step: &Step<'_>) -> bool {
    match (sel, step) {
        (Selector::Wildcard, _) => true,
        (Selector::Name(n), Step::Key(k)) => n.as_slice() == k.as_ref(),
        (Selector::Index(n), Step::Index(i)) => n == i,
        _ => false,
    }
}

fn match_from(segs: &[Segment], path: &[Step<'_>]) -> bool {
    let Some((seg, rest)) = segs.split_first() else {
        return path.is_empty();
    };
    if seg.descendant {
        (0..path.len()).any(|skip| {
            path.get(skip..).is_some_and(|p| match p.split_first() {
                Some((step, tail)) => {
                    selector_matches(&seg.selector, step) && match_from(rest, tail)
                }
                None => false,
            })
        })
    } else {
        match path.split_first() {
            Some((step, tail)) => selector_matches(&seg.selector, step) && match_from(rest, tail),
            None => false,
        }
    }
}

/// Lowercase ASCII and drop everything but letters and digits (`api_key`, `apiKey`,
/// `API-KEY` → `apikey`), so heuristics ignore case and separators.
pub fn normalize_word(word: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(word.len());
    normalize_into(word.as_bytes(), &mut out);
    out
}

fn normalize_into(key: &[u8], out: &mut Vec<u8>) {
    out.clear();
    out.extend(
        key.iter()
            .filter(|c| c.is_ascii_alphanumeric())
            .map(u8::to_ascii_lowercase),
    );
}

/// Exact key names and heuristic words, compiled for fast lookup by key.
#[derive(Debug, Clone, Default)]
pub struct KeyRules {
    /// Exact names (lowercased), grouped by byte length.
    exact_by_len: Vec<Vec<(Vec<u8>, Strategy)>>,
    /// Heuristic words (normalized), longest first.
    words: Vec<(Vec<u8>, Strategy)>,
    /// Shortest heuristic word (keys shorter than it skip the heuristic scan).
    min_word: usize,
}

impl KeyRules {
    /// Compile exact names and heuristic words.
    pub fn compile(
        exact: &BTreeMap<String, Strategy>,
        words: &BTreeMap<String, Strategy>,
    ) -> KeyRules {
        let mut exact_by_len: Vec<Vec<(Vec<u8>, Strategy)>> = Vec::new();
        for (k, s) in exact {
            let lower = k.to_ascii_lowercase().into_bytes();
            if exact_by_len.len() <= lower.len() {
                exact_by_len.resize(lower.len() + 1, Vec::new());
            }
            if let Some(bucket) = exact_by_len.get_mut(lower.len()) {
                bucket.retain(|(n, _)| *n != lower);
                bucket.push((lower, *s));
            }
        }
        let mut words: Vec<(Vec<u8>, Strategy)> = words
            .iter()
            .map(|(w, s)| (normalize_word(w), *s))
            .filter(|(w, _)| !w.is_empty())
            .collect();
        words.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.0.cmp(&b.0)));
        words.dedup_by(|a, b| a.0 == b.0);
        let min_word = words.iter().map(|(w, _)| w.len()).min().unwrap_or(0);
        KeyRules {
            exact_by_len,
            words,
            min_word,
        }
    }

    /// True when no key rule exists.
    pub fn is_empty(&self) -> bool {
        self.exact_by_len.iter().all(Vec::is_empty) && self.words.is_empty()
    }

    /// The strategy for a value under `key` (decoded), if its name marks it sensitive.
    /// `scratch` is reused for the normalized key.
    pub fn lookup(&self, key: &[u8], scratch: &mut Vec<u8>) -> Option<Strategy> {
        if let Some(bucket) = self.exact_by_len.get(key.len()) {
            for (name, s) in bucket {
                if name.eq_ignore_ascii_case(key) {
                    return Some(*s);
                }
            }
        }
        if self.words.is_empty() || key.len() < self.min_word {
            return None;
        }
        normalize_into(key, scratch);
        for (w, s) in &self.words {
            if scratch.len() >= w.len() && scratch.windows(w.len()).any(|x| x == w.as_slice()) {
                return Some(*s);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(k: &'static [u8]) -> Step<'static> {
        Step::Key(Cow::Borrowed(k))
    }

    fn p(s: &str) -> JsonPath {
        JsonPath::parse(s).unwrap()
    }

    #[test]
    fn paths_match_their_locations() {
        let user_email = [key(b"user"), key(b"email")];
        assert!(p("$.user.email").matches(&user_email));
        assert!(p("$['user']['email']").matches(&user_email));
        assert!(p("$.user.*").matches(&user_email));
        assert!(p("$..email").matches(&user_email));
        assert!(!p("$.email").matches(&user_email));
        assert!(!p("$.user").matches(&user_email));
        let card = [key(b"items"), Step::Index(3), key(b"card_number")];
        assert!(p("$.items[*].card_number").matches(&card));
        assert!(p("$.items[3].card_number").matches(&card));
        assert!(!p("$.items[2].card_number").matches(&card));
        assert!(p("$..card_number").matches(&card));
        assert!(p("$..items..card_number").matches(&card));
        let deep = [key(b"a"), Step::Index(0), key(b"b"), key(b"ssn")];
        assert!(p("$..ssn").matches(&deep));
        assert!(p("$..[0].b.ssn").matches(&deep));
        assert!(!p("$..ssn").matches(&deep[..3]));
        assert!(p("$[\"a b\"]").matches(&[key(b"a b")]));
    }

    #[test]
    fn bad_paths_are_rejected_with_a_reason() {
        for bad in [
            "",
            "user.email",
            "$",
            "$.",
            "$.a[",
            "$.a[x]",
            "$.a['b]",
            "$..",
            "$.a..",
            "$x",
        ] {
            assert!(JsonPath::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn keys_exact_and_heuristic() {
        let exact: BTreeMap<_, _> = [("Mobile".to_string(), Strategy::Phone)].into();
        let rules = KeyRules::compile(&exact, &super::super::config::default_key_heuristics());
        let mut s = Vec::new();
        assert_eq!(rules.lookup(b"MOBILE", &mut s), Some(Strategy::Phone));
        assert_eq!(rules.lookup(b"userEmail", &mut s), Some(Strategy::Email));
        assert_eq!(rules.lookup(b"API-KEY", &mut s), Some(Strategy::Secret));
        assert_eq!(rules.lookup(b"x_api_key", &mut s), Some(Strategy::Secret));
        assert_eq!(
            rules.lookup(b"password_hash", &mut s),
            Some(Strategy::Redact)
        );
        assert_eq!(
            rules.lookup(b"refreshToken", &mut s),
            Some(Strategy::Secret)
        );
        assert_eq!(rules.lookup(b"name", &mut s), None);
        assert_eq!(rules.lookup(b"id", &mut s), None);
    }
}
