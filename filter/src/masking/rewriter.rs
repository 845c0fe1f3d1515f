//! A strict, single-pass JSON tokenizer that rewrites only the masked values of a document.
//!
//! The input is read once, left to right, with an explicit container stack (no recursion, no
//! tree). Every byte that is not part of a masked value is copied as sent: key order,
//! whitespace, number formatting and escapes are untouched. Output is allocated only when the
//! first value changes, once, sized from the input, and built by copying unchanged spans in
//! bulk. Strings are UTF-8-checked; escapes are validated and decoded (into a reused buffer)
//! only for strings that must be inspected; masked text is re-escaped. Anything that is not
//! RFC 8259 JSON is reported as [`MalformedJson`] with its byte offset.

use super::config::Strategy;
use super::detectors::DetectScratch;
use super::policy::Policy;
use super::selector::Step;
use super::strategies;
use std::borrow::Cow;

/// Deepest nesting accepted (objects + arrays); deeper documents are refused as malformed.
pub const MAX_DEPTH: usize = 512;

/// Why a body is not acceptable JSON. The message never quotes the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MalformedJson {
    /// A byte that cannot appear here.
    UnexpectedByte {
        /// Byte offset.
        offset: usize,
    },
    /// The body ended inside a value.
    UnexpectedEnd,
    /// The body is not valid UTF-8 (checked once, for the whole body).
    InvalidUtf8 {
        /// Byte offset of the first byte that is not UTF-8.
        offset: usize,
    },
    /// A bad `\` escape.
    InvalidEscape {
        /// Byte offset.
        offset: usize,
    },
    /// A raw control character inside a string.
    ControlCharacter {
        /// Byte offset.
        offset: usize,
    },
    /// A number that does not follow the JSON grammar.
    InvalidNumber {
        /// Byte offset.
        offset: usize,
    },
    /// Nesting deeper than [`MAX_DEPTH`].
    TooDeep {
        /// Byte offset.
        offset: usize,
    },
    /// Bytes after the top-level value.
    TrailingData {
        /// Byte offset.
        offset: usize,
    },
}

impl MalformedJson {
    /// The message for logs.
    pub fn message(&self) -> String {
        match self {
            MalformedJson::UnexpectedByte { offset } => {
                format!("unexpected byte at offset {offset}")
            }
            MalformedJson::UnexpectedEnd => "body ends inside a JSON value".to_string(),
            MalformedJson::InvalidUtf8 { offset } => {
                format!("byte at offset {offset} is not valid UTF-8")
            }
            MalformedJson::InvalidEscape { offset } => format!("invalid escape at offset {offset}"),
            MalformedJson::ControlCharacter { offset } => {
                format!("unescaped control character at offset {offset}")
            }
            MalformedJson::InvalidNumber { offset } => format!("invalid number at offset {offset}"),
            MalformedJson::TooDeep { offset } => {
                format!("nesting deeper than {MAX_DEPTH} at offset {offset}")
            }
            MalformedJson::TrailingData { offset } => {
                format!("data after the JSON value at offset {offset}")
            }
        }
    }
}

/// The result of masking one document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rewritten {
    /// Nothing needed masking; the input stands as is.
    Unchanged,
    /// The rewritten document and how many values (or detected substrings' strings) changed.
    Masked {
        /// The new body.
        body: Vec<u8>,
        /// Number of strings/values replaced.
        values: usize,
    },
}

/// Mask `input` under `policy`. Empty or whitespace-only bodies are left alone.
pub fn rewrite(policy: &Policy, input: &[u8]) -> Result<Rewritten, MalformedJson> {
    // JSON text is UTF-8 (RFC 8259 8.1); checking the whole body once is far cheaper than
    // checking each string (most are a few bytes), and every string is then a slice of it.
    let text = std::str::from_utf8(input).map_err(|e| MalformedJson::InvalidUtf8 {
        offset: e.valid_up_to(),
    })?;
    let mut rw = Rewriter {
        policy,
        b: input,
        text,
        i: 0,
        out: Vec::new(),
        copied: 0,
        changed: 0,
        frames: Vec::new(),
        steps: Vec::new(),
        track_paths: !policy.paths.is_empty(),
        inspect_strings: !policy.detectors.is_empty(),
        decoded: String::new(),
        masked: String::new(),
        norm: Vec::new(),
        detect: DetectScratch::default(),
        // Empty slots hold a range that is never inside the body.
        key_cache: vec![(usize::MAX, usize::MAX, None); KEY_CACHE_SLOTS],
    };
    // A UTF-8 byte order mark is tolerated and kept.
    if input.starts_with(&[0xEF, 0xBB, 0xBF]) {
        rw.i = 3;
    }
    rw.skip_ws();
    if rw.i >= input.len() {
        return Ok(Rewritten::Unchanged);
    }
    rw.run()?;
    if rw.changed == 0 {
        return Ok(Rewritten::Unchanged);
    }
    let rest = input.get(rw.copied..).unwrap_or_default();
    rw.out.extend_from_slice(rest);
    Ok(Rewritten::Masked {
        body: rw.out,
        values: rw.changed,
    })
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Object,
    Array(usize),
}

#[derive(Debug, Clone, Copy)]
struct Frame {
    kind: Kind,
    mask: Option<Strategy>,
}

struct Rewriter<'a, 'p> {
    policy: &'p Policy,
    b: &'a [u8],
    /// `b` as text (validated once in [`rewrite`]).
    text: &'a str,
    i: usize,
    out: Vec<u8>,
    copied: usize,
    changed: usize,
    frames: Vec<Frame>,
    steps: Vec<Step<'a>>,
    track_paths: bool,
    inspect_strings: bool,
    decoded: String,
    masked: String,
    norm: Vec<u8>,
    detect: DetectScratch,
    /// Raw key (as a byte range of the body) → its key-rule strategy, for keys with no
    /// escapes and no detector hit.
    key_cache: Vec<(usize, usize, Option<Strategy>)>,
}

/// Bytes that end the fast scan inside a string: `"`, `\` and control characters.
static STRING_STOP: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 0x20 {
        t[c] = true;
        c += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t
};

fn is_ws(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r')
}

impl<'a> Rewriter<'a, '_> {
    /// The contents of the string token at `start..end` (quotes excluded). Quotes are ASCII,
    /// so both ends are character boundaries of the validated text.
    fn text_of(&self, start: usize, end: usize) -> Result<&'a str, MalformedJson> {
        self.text
            .get(start + 1..end - 1)
            .ok_or(MalformedJson::InvalidUtf8 { offset: start })
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn skip_ws(&mut self) {
        while self.b.get(self.i).is_some_and(|&c| is_ws(c)) {
            self.i += 1;
        }
    }

    fn unexpected(&self) -> MalformedJson {
        if self.i >= self.b.len() {
            MalformedJson::UnexpectedEnd
        } else {
            MalformedJson::UnexpectedByte { offset: self.i }
        }
    }

    /// Replace input bytes `start..end` by `masked` written as a JSON string.
    fn replace_with_string(&mut self, start: usize, end: usize) {
        if self.out.capacity() == 0 {
            self.out.reserve_exact(self.b.len() + self.b.len() / 8 + 64);
        }
        self.out
            .extend_from_slice(self.b.get(self.copied..start).unwrap_or_default());
        write_json_string(&mut self.out, &self.masked);
        self.copied = end;
        self.changed += 1;
    }

    fn run(&mut self) -> Result<(), MalformedJson> {
        let mut mask: Option<Strategy> = None;
        'value: loop {
            self.skip_ws();
            let start = self.i;
            match self.peek() {
                Some(b'{') => {
                    self.i += 1;
                    self.skip_ws();
                    if self.peek() == Some(b'}') {
                        self.i += 1;
                    } else {
                        self.push(Kind::Object, mask)?;
                        mask = mask.or(self.member_key()?);
                        continue 'value;
                    }
                }
                Some(b'[') => {
                    self.i += 1;
                    self.skip_ws();
                    if self.peek() == Some(b']') {
                        self.i += 1;
                    } else {
                        self.push(Kind::Array(0), mask)?;
                        mask = self.element_mask(0);
                        continue 'value;
                    }
                }
                Some(b'"') => {
                    let (end, escaped) = self.scan_string(start)?;
                    self.i = end;
                    self.string_value(start, end, escaped, mask)?;
                }
                Some(b'-' | b'0'..=b'9') => {
                    self.scan_number()?;
                    if let Some(s) = mask {
                        self.mask_scalar(start, s);
                    }
                }
                Some(b't') => {
                    self.literal(b"true")?;
                    if let Some(s) = mask {
                        self.mask_scalar(start, s);
                    }
                }
                Some(b'f') => {
                    self.literal(b"false")?;
                    if let Some(s) = mask {
                        self.mask_scalar(start, s);
                    }
                }
                Some(b'n') => self.literal(b"null")?,
                _ => return Err(self.unexpected()),
            }
            // A value ended: close containers until one continues with a comma.
            loop {
                let Some(top) = self.frames.last_mut() else {
                    self.skip_ws();
                    if self.i < self.b.len() {
                        return Err(MalformedJson::TrailingData { offset: self.i });
                    }
                    return Ok(());
                };
                if self.track_paths {
                    self.steps.pop();
                }
                let container_mask = top.mask;
                let kind = top.kind;
                // Whitespace skip inline (borrow of `top` ends above).
                while self.b.get(self.i).is_some_and(|&c| is_ws(c)) {
                    self.i += 1;
                }
                match (kind, self.b.get(self.i).copied()) {
                    (Kind::Object, Some(b',')) => {
                        self.i += 1;
                        self.skip_ws();
                        mask = container_mask.or(self.member_key()?);
                        continue 'value;
                    }
                    (Kind::Array(n), Some(b',')) => {
                        self.i += 1;
                        if let Some(f) = self.frames.last_mut() {
                            f.kind = Kind::Array(n + 1);
                        }
                        mask = self.element_mask(n + 1);
                        continue 'value;
                    }
                    (Kind::Object, Some(b'}')) | (Kind::Array(_), Some(b']')) => {
                        self.i += 1;
                        self.frames.pop();
                    }
                    _ => return Err(self.unexpected()),
                }
            }
        }
    }

    fn push(&mut self, kind: Kind, mask: Option<Strategy>) -> Result<(), MalformedJson> {
        if self.frames.len() >= MAX_DEPTH {
            return Err(MalformedJson::TooDeep { offset: self.i });
        }
        self.frames.push(Frame { kind, mask });
        Ok(())
    }

    /// The mask of array element `index` of the innermost array.
    fn element_mask(&mut self, index: usize) -> Option<Strategy> {
        let inherited = self.frames.last().and_then(|f| f.mask);
        if self.track_paths {
            self.steps.push(Step::Index(index));
            if inherited.is_none() {
                return self.path_mask();
            }
        }
        inherited
    }

    fn path_mask(&self) -> Option<Strategy> {
        self.policy
            .paths
            .iter()
            .find(|(p, _)| p.matches(&self.steps))
            .map(|(_, s)| *s)
    }

    /// Read `"key" :` at the cursor; return the mask for its value (ignoring the container's).
    fn member_key(&mut self) -> Result<Option<Strategy>, MalformedJson> {
        let start = self.i;
        if self.peek() != Some(b'"') {
            return Err(self.unexpected());
        }
        let (end, escaped) = self.scan_string(start)?;
        self.i = end;
        let raw = self.b.get(start + 1..end - 1).unwrap_or_default();
        let text = self.text_of(start, end)?;
        if !escaped && !self.track_paths {
            // Keys repeat: a hit skips the key rules and the detectors (clean keys only).
            let slot = key_slot(raw);
            if let Some(&(s, e, mask)) = self.key_cache.get(slot) {
                if self.b.get(s..e) == Some(raw) {
                    return self.after_key(mask);
                }
            }
            let mask = self.policy.keys.lookup(raw, &mut self.norm);
            let mut clean = true;
            if self.inspect_strings {
                self.masked.clear();
                if self.policy.detectors.mask(
                    text,
                    self.policy.hash_key.as_deref(),
                    &mut self.detect,
                    &mut self.masked,
                ) {
                    clean = false;
                    self.replace_with_string(start, end);
                }
            }
            if clean {
                if let Some(entry) = self.key_cache.get_mut(slot) {
                    *entry = (start + 1, end - 1, mask);
                }
            }
            return self.after_key(mask);
        }
        let key: Cow<'a, [u8]> = if escaped {
            decode_escapes(text, &mut self.decoded);
            Cow::Owned(self.decoded.as_bytes().to_vec())
        } else {
            Cow::Borrowed(raw)
        };
        let mut mask = None;
        if self.track_paths {
            self.steps.push(Step::Key(key.clone()));
            mask = self.path_mask();
        }
        if mask.is_none() {
            mask = self.policy.keys.lookup(&key, &mut self.norm);
        }
        if self.inspect_strings {
            let key_text = if escaped { self.decoded.as_str() } else { text };
            self.masked.clear();
            if self.policy.detectors.mask(
                key_text,
                self.policy.hash_key.as_deref(),
                &mut self.detect,
                &mut self.masked,
            ) {
                self.replace_with_string(start, end);
            }
        }
        self.after_key(mask)
    }

    /// Consume the `:` after a key.
    fn after_key(&mut self, mask: Option<Strategy>) -> Result<Option<Strategy>, MalformedJson> {
        self.skip_ws();
        if self.peek() != Some(b':') {
            return Err(self.unexpected());
        }
        self.i += 1;
        Ok(mask)
    }

    fn string_value(
        &mut self,
        start: usize,
        end: usize,
        escaped: bool,
        mask: Option<Strategy>,
    ) -> Result<(), MalformedJson> {
        if mask.is_none() && !self.inspect_strings {
            return Ok(());
        }
        let text = self.text_of(start, end)?;
        let text = if escaped {
            decode_escapes(text, &mut self.decoded);
            self.decoded.as_str()
        } else {
            text
        };
        self.masked.clear();
        let hash_key = self.policy.hash_key.as_deref();
        let changed = match mask {
            Some(s) => {
                strategies::apply(s, text, hash_key, &mut self.masked);
                true
            }
            None => self
                .policy
                .detectors
                .mask(text, hash_key, &mut self.detect, &mut self.masked),
        };
        if changed {
            self.replace_with_string(start, end);
        }
        Ok(())
    }

    /// Replace the number/boolean at `start..self.i` by its masked text as a string.
    fn mask_scalar(&mut self, start: usize, s: Strategy) {
        let text =
            std::str::from_utf8(self.b.get(start..self.i).unwrap_or_default()).unwrap_or_default();
        self.masked.clear();
        strategies::apply(s, text, self.policy.hash_key.as_deref(), &mut self.masked);
        self.replace_with_string(start, self.i);
    }

    fn literal(&mut self, word: &[u8]) -> Result<(), MalformedJson> {
        let end = self.i + word.len();
        if self.b.get(self.i..end) != Some(word) {
            return Err(
                if end > self.b.len() && self.b.get(self.i..).is_some_and(|r| word.starts_with(r)) {
                    MalformedJson::UnexpectedEnd
                } else {
                    MalformedJson::UnexpectedByte { offset: self.i }
                },
            );
        }
        self.i = end;
        Ok(())
    }

    /// `-? (0 | [1-9][0-9]*) (.[0-9]+)? ([eE][+-]?[0-9]+)?`
    fn scan_number(&mut self) -> Result<(), MalformedJson> {
        let start = self.i;
        let bad = |i: usize, len: usize| {
            if i >= len {
                MalformedJson::UnexpectedEnd
            } else {
                MalformedJson::InvalidNumber { offset: start }
            }
        };
        let b = self.b;
        let mut i = self.i;
        let digit = |i: usize| b.get(i).is_some_and(u8::is_ascii_digit);
        if b.get(i) == Some(&b'-') {
            i += 1;
        }
        match b.get(i) {
            Some(b'0') => i += 1,
            Some(b'1'..=b'9') => {
                while digit(i) {
                    i += 1;
                }
            }
            _ => return Err(bad(i, b.len())),
        }
        if b.get(i) == Some(&b'.') {
            i += 1;
            if !digit(i) {
                return Err(bad(i, b.len()));
            }
            while digit(i) {
                i += 1;
            }
        }
        if matches!(b.get(i), Some(b'e' | b'E')) {
            i += 1;
            if matches!(b.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            if !digit(i) {
                return Err(bad(i, b.len()));
            }
            while digit(i) {
                i += 1;
            }
        }
        self.i = i;
        Ok(())
    }

    /// Find the end of the string starting at `start` (a `"`); return the index after the
    /// closing quote and whether it has escapes (validated here).
    fn scan_string(&self, start: usize) -> Result<(usize, bool), MalformedJson> {
        const ONES: u64 = 0x0101_0101_0101_0101;
        const HIGH: u64 = 0x8080_8080_8080_8080;
        let b = self.b;
        let mut i = start + 1;
        let mut escaped = false;
        loop {
            // Eight bytes at a time while none is `"`, `\`, a control byte or non-ASCII.
            while let Some(chunk) = b.get(i..i + 8) {
                let mut w = [0u8; 8];
                w.copy_from_slice(chunk);
                let x = u64::from_le_bytes(w);
                let quote = x ^ (ONES * u64::from(b'"'));
                let slash = x ^ (ONES * u64::from(b'\\'));
                let special = (quote.wrapping_sub(ONES) & !quote)
                    | (slash.wrapping_sub(ONES) & !slash)
                    | (x.wrapping_sub(ONES * 0x20) & !x)
                    | x;
                let hits = special & HIGH;
                if hits != 0 {
                    // The lowest flagged byte is exact (carries only flag bytes above it):
                    // jump straight to it; most strings end inside their first eight bytes.
                    i += (hits.trailing_zeros() / 8) as usize;
                    break;
                }
                i += 8;
            }
            while let Some(&c) = b.get(i) {
                if STRING_STOP[usize::from(c)] {
                    break;
                }
                i += 1;
            }
            match b.get(i) {
                None => return Err(MalformedJson::UnexpectedEnd),
                Some(b'"') => return Ok((i + 1, escaped)),
                Some(b'\\') => {
                    escaped = true;
                    match b.get(i + 1) {
                        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => i += 2,
                        Some(b'u') => {
                            let hex = b.get(i + 2..i + 6);
                            if !hex.is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) {
                                return Err(if i + 6 > b.len() {
                                    MalformedJson::UnexpectedEnd
                                } else {
                                    MalformedJson::InvalidEscape { offset: i }
                                });
                            }
                            i += 6;
                        }
                        None => return Err(MalformedJson::UnexpectedEnd),
                        Some(_) => return Err(MalformedJson::InvalidEscape { offset: i }),
                    }
                }
                Some(_) => return Err(MalformedJson::ControlCharacter { offset: i }),
            }
        }
    }
}

/// Number of slots of the per-document key cache.
const KEY_CACHE_SLOTS: usize = 256;

/// FNV-1a of a key, folded to a cache slot.
fn key_slot(key: &[u8]) -> usize {
    let mut h: u32 = 0x811c_9dc5;
    for &c in key {
        h = (h ^ u32::from(c)).wrapping_mul(0x0100_0193);
    }
    (h as usize ^ (h as usize >> 8)) % KEY_CACHE_SLOTS
}

fn hex4(s: &[u8]) -> u32 {
    s.iter().fold(0u32, |acc, &c| {
        let d = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            b'A'..=b'F' => c - b'A' + 10,
            _ => 0,
        };
        acc * 16 + u32::from(d)
    })
}

/// Decode the (validated) escapes of a string body into `out`. Unpaired surrogates, which
/// RFC 8259 allows but no text can hold, decode to U+FFFD.
pub fn decode_escapes(raw: &str, out: &mut String) {
    out.clear();
    let b = raw.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let Some(off) = b.get(i..).and_then(|r| r.iter().position(|&c| c == b'\\')) else {
            out.push_str(raw.get(i..).unwrap_or_default());
            break;
        };
        out.push_str(raw.get(i..i + off).unwrap_or_default());
        i += off;
        let esc = b.get(i + 1).copied().unwrap_or(0);
        i += 2;
        let c = match esc {
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let hi = hex4(b.get(i..i + 4).unwrap_or_default());
                i += 4;
                if (0xD800..0xDC00).contains(&hi)
                    && b.get(i) == Some(&b'\\')
                    && b.get(i + 1) == Some(&b'u')
                {
                    let lo = hex4(b.get(i + 2..i + 6).unwrap_or_default());
                    if (0xDC00..0xE000).contains(&lo) {
                        i += 6;
                        char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))
                            .unwrap_or('\u{FFFD}')
                    } else {
                        '\u{FFFD}'
                    }
                } else {
                    char::from_u32(hi).unwrap_or('\u{FFFD}')
                }
            }
            other => char::from(other),
        };
        out.push(c);
    }
}

/// Append `s` as a JSON string literal (quotes, `\"`, `\\`, control characters escaped).
pub fn write_json_string(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    let b = s.as_bytes();
    let mut from = 0;
    for (i, &c) in b.iter().enumerate() {
        if !STRING_STOP[usize::from(c)] {
            continue;
        }
        out.extend_from_slice(b.get(from..i).unwrap_or_default());
        match c {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            _ => {
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(c >> 4)]);
                out.push(HEX[usize::from(c & 0xf)]);
            }
        }
        from = i + 1;
    }
    out.extend_from_slice(b.get(from..).unwrap_or_default());
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::masking::config::MaskingConfig;

    fn policy(json: &str) -> Policy {
        let cfg: MaskingConfig = serde_json::from_str(json).unwrap();
        cfg.validate("masking").unwrap();
        Policy::compile(&cfg, None, "masking").unwrap()
    }

    fn run(p: &Policy, input: &str) -> String {
        match rewrite(p, input.as_bytes()).unwrap() {
            Rewritten::Unchanged => input.to_string(),
            Rewritten::Masked { body, .. } => String::from_utf8(body).unwrap(),
        }
    }

    #[test]
    fn only_masked_values_change_every_other_byte_stays() {
        let p = policy("{}");
        let input = "{ \"name\" :\"Ann\",\n\t\"email\": \"johndoe@example.com\" , \"n\":1.50E+3,\"a\":[ 1 ,-0.0e-0 ],\"esc\":\"\\u00e9\\/x\" }  ";
        let want = "{ \"name\" :\"Ann\",\n\t\"email\": \"jo*****@example.com\" , \"n\":1.50E+3,\"a\":[ 1 ,-0.0e-0 ],\"esc\":\"\\u00e9\\/x\" }  ";
        assert_eq!(run(&p, input), want);
    }

    #[test]
    fn nothing_to_mask_is_unchanged_without_a_copy() {
        let p = policy("{}");
        let r = rewrite(
            &p,
            br#"{"id":1,"items":[{"name":"x","tags":["a","b"]}],"ok":true,"z":null}"#,
        );
        assert_eq!(r, Ok(Rewritten::Unchanged));
    }

    #[test]
    fn non_string_values_under_masked_keys_become_masked_strings() {
        let p = policy(r#"{"keys":{"pin":"partial","card_no":"card","flag":"redact"}}"#);
        assert_eq!(
            run(
                &p,
                r#"{"pin":1234,"card_no":4111111111111111,"flag":true,"phone":null}"#
            ),
            r#"{"pin":"****","card_no":"************1111","flag":"***MASKED***","phone":null}"#
        );
    }

    #[test]
    fn containers_under_masked_keys_keep_shape_and_mask_every_scalar() {
        let p = policy(
            r#"{"detectors":{"card":false,"ssn":false,"email":false,"jwt":false,"api_key":false}}"#,
        );
        assert_eq!(
            run(
                &p,
                r#"{"emails":["ann@example.com",{"work":"bob.smith@corp.example"}],"x":[]}"#
            ),
            r#"{"emails":["***@example.com",{"work":"bo*******@corp.example"}],"x":[]}"#
        );
        assert_eq!(
            run(&p, r#"{"password":{"old":"hunter2","new":["x",1,{}]}}"#),
            r#"{"password":{"old":"***MASKED***","new":["***MASKED***","***MASKED***",{}]}}"#
        );
    }

    #[test]
    fn paths_select_values_and_beat_key_rules() {
        let p = policy(
            r#"{"key_heuristics":{},"detectors":{"card":false,"ssn":false,"email":false,"jwt":false,"api_key":false},
                "keys":{"email":"redact"},
                "paths":{"$.user.email":"email","$.items[*].card_number":"card","$..ssn":"ssn","$.list[1]":"redact"}}"#,
        );
        assert_eq!(
            run(
                &p,
                r#"{"user":{"email":"johndoe@example.com","ssn":"123-45-6789"},"email":"a@b.co","items":[{"card_number":"4111-1111-1111-1111"},{"card_number":"5500000000000004","other":"x"}],"deep":[[{"ssn":"987-65-4321"}]],"list":["a","b","c"]}"#
            ),
            r#"{"user":{"email":"jo*****@example.com","ssn":"***-**-6789"},"email":"***MASKED***","items":[{"card_number":"************1111"},{"card_number":"************0004","other":"x"}],"deep":[[{"ssn":"***-**-4321"}]],"list":["a","***MASKED***","c"]}"#
        );
    }

    #[test]
    fn escaped_text_is_decoded_for_detection_and_output_is_escaped() {
        let p = policy("{}");
        // \u0040 is "@": the address must still be found.
        assert_eq!(
            run(&p, r#"{"note":"mail johndoe\u0040example.com \"now\""}"#),
            r#"{"note":"mail jo*****@example.com \"now\""}"#
        );
        // Kept characters that need escaping are escaped again.
        let p = policy(r#"{"keys":{"v":"partial"}}"#);
        assert_eq!(run(&p, r#"{"v":"\"\\xyz\n"}"#), r#"{"v":"\"\\**z\n"}"#);
        let r = run(&p, r#"{"v":"\"\\xyz\n"}"#);
        let v: serde_json::Value = serde_json::from_str(&r).unwrap();
        assert_eq!(v["v"], "\"\\**z\n");
        // Keys with escapes are decoded before matching.
        let p = policy(r#"{"key_heuristics":{},"keys":{"email":"redact"}}"#);
        assert_eq!(
            run(&p, r#"{"em\u0061il":"x"}"#),
            r#"{"em\u0061il":"***MASKED***"}"#
        );
    }

    #[test]
    fn detectors_also_scan_keys() {
        let p = policy("{}");
        assert_eq!(
            run(&p, r#"{"johndoe@example.com":1}"#),
            r#"{"jo*****@example.com":1}"#
        );
    }

    #[test]
    fn repeated_keys_give_the_same_decision_every_time() {
        let p = policy("{}");
        assert_eq!(
            run(
                &p,
                r#"[{"johndoe@example.com":1,"email":"abcd@x.io"},{"johndoe@example.com":2,"email":"abcd@x.io","id":"x"},{"id":"y"}]"#
            ),
            r#"[{"jo*****@example.com":1,"email":"ab**@x.io"},{"jo*****@example.com":2,"email":"ab**@x.io","id":"x"},{"id":"y"}]"#
        );
    }

    #[test]
    fn long_strings_with_specials_at_every_position_scan_correctly() {
        let p = policy(r#"{"keys":{"v":"redact"}}"#);
        for pos in 0..20 {
            let mut s = "a".repeat(20);
            s.insert_str(pos, "\\\"");
            let doc = format!(r#"{{"v":"{s}","w":"{s}é"}}"#);
            assert_eq!(
                run(&p, &doc),
                format!(r#"{{"v":"***MASKED***","w":"{s}é"}}"#)
            );
            let raw_ctrl = format!(
                "{{\"w\":\"{}\u{1}{}\"}}",
                "a".repeat(pos),
                "a".repeat(20 - pos)
            );
            assert!(rewrite(&p, raw_ctrl.as_bytes()).is_err(), "{pos}");
        }
    }

    #[test]
    fn hash_strategy_is_stable_across_values() {
        let p = policy(r#"{"keys":{"user":"hash"},"hash_key":"0123456789abcdef0123"}"#);
        let out = run(&p, r#"[{"user":"alice"},{"user":"alice"},{"user":"bob"}]"#);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v[0]["user"], v[1]["user"]);
        assert_ne!(v[0]["user"], v[2]["user"]);
        assert!(v[0]["user"].as_str().unwrap().starts_with("h:"));
    }

    #[test]
    fn malformed_documents_are_refused() {
        let p = policy("{}");
        let cases: &[&[u8]] = &[
            b"{",
            b"[1,]",
            b"{\"a\":1,}",
            b"{\"a\" 1}",
            b"{a:1}",
            b"[01]",
            b"[1.]",
            b"[.5]",
            b"[1e]",
            b"[-]",
            b"[+1]",
            b"[tru]",
            b"[nul]",
            b"[\"a\\x\"]",
            b"[\"\\u12G4\"]",
            b"[\"a\x01\"]",
            b"[\"\xff\"]",
            b"{} {}",
            b"[1] x",
            b"\"abc",
            b"[1 2]",
            b"{\"a\":1 \"b\":2}",
            b"]",
            b"[}",
            b"{]",
            b"[NaN]",
            b"[Infinity]",
            b"{\"a\"}",
            b"'a'",
        ];
        for c in cases {
            assert!(rewrite(&p, c).is_err(), "{:?}", String::from_utf8_lossy(c));
            assert!(serde_json::from_slice::<serde_json::Value>(c).is_err());
        }
        let deep = "[".repeat(MAX_DEPTH + 2) + &"]".repeat(MAX_DEPTH + 2);
        assert!(matches!(
            rewrite(&p, deep.as_bytes()),
            Err(MalformedJson::TooDeep { .. })
        ));
        let ok = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
        assert!(rewrite(&p, ok.as_bytes()).is_ok());
    }

    #[test]
    fn valid_edge_cases_are_accepted() {
        let p = policy("{}");
        for c in [
            "0",
            "-0",
            "1e5",
            "1E-5",
            "-12.5e+10",
            "\"\"",
            "true",
            "null",
            "[]",
            "{}",
            " [ ] ",
            "{\"\":\"\"}",
            "[\"\\ud83d\\ude00\"]",
            "[\"\\ud800\"]",
            "\u{feff}{}",
            "\"é日本\"",
        ] {
            assert!(rewrite(&p, c.as_bytes()).is_ok(), "{c:?}");
        }
        assert_eq!(rewrite(&p, b""), Ok(Rewritten::Unchanged));
        assert_eq!(rewrite(&p, b" \n"), Ok(Rewritten::Unchanged));
    }
}
