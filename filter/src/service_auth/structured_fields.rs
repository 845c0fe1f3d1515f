//! A strict RFC 8941 (Structured Field Values) parser and serializer, covering what RFC 9421
//! needs: dictionaries, lists, inner lists, items (integer, decimal, string, token, byte
//! sequence, boolean) and parameters. Parsing follows RFC 8941 §4.2 step by step and rejects
//! anything it does not define; serialization follows §4.1 (the canonical form that signature
//! bases are built from).

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use std::fmt::Write as _;

/// A bare item (RFC 8941 §3.3) without parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BareItem {
    /// `-?[0-9]{1,15}`.
    Integer(i64),
    /// A decimal, held as thousandths (at most 12 integer and 3 fractional digits).
    Decimal(i64),
    /// A quoted string of printable ASCII.
    String(String),
    /// A token (`foo`, `*bar`, `a/b:c`).
    Token(String),
    /// A byte sequence (`:base64:`).
    ByteSequence(Vec<u8>),
    /// `?1` / `?0`.
    Boolean(bool),
}

/// Ordered parameters (`;key=value`); a key given twice keeps its first position and last value.
pub type Parameters = Vec<(String, BareItem)>;

/// An item with its parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// The value.
    pub bare: BareItem,
    /// Its parameters.
    pub params: Parameters,
}

/// A parenthesized inner list with its parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InnerList {
    /// The member items.
    pub items: Vec<Item>,
    /// Parameters of the whole inner list.
    pub params: Parameters,
}

/// A list or dictionary member: an item or an inner list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Member {
    /// A single item.
    Item(Item),
    /// An inner list.
    InnerList(InnerList),
}

/// An ordered dictionary; a key given twice keeps its first position and last value.
pub type Dictionary = Vec<(String, Member)>;

/// Why a structured field did not parse (the message is safe to show: it never quotes input).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SfError {
    /// Something other than what the grammar allows at this byte offset.
    Unexpected(usize),
    /// The input ended inside a value.
    UnexpectedEnd,
    /// An integer or decimal with too many digits.
    NumberOutOfRange(usize),
    /// A byte sequence that is not valid base64.
    BadBase64(usize),
    /// Bytes left over after a complete value.
    TrailingCharacters(usize),
}

impl std::fmt::Display for SfError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SfError::Unexpected(at) => write!(f, "invalid structured field at byte {at}"),
            SfError::UnexpectedEnd => write!(f, "structured field ends too early"),
            SfError::NumberOutOfRange(at) => write!(f, "number out of range at byte {at}"),
            SfError::BadBase64(at) => write!(f, "invalid byte sequence at byte {at}"),
            SfError::TrailingCharacters(at) => {
                write!(f, "unexpected characters after the value at byte {at}")
            }
        }
    }
}

impl std::error::Error for SfError {}

/// Look up a parameter by key.
pub fn param<'a>(params: &'a Parameters, key: &str) -> Option<&'a BareItem> {
    params.iter().find(|(k, _)| k == key).map(|(_, v)| v)
}

/// Parse a whole field value as a dictionary (RFC 8941 §4.2.2).
pub fn parse_dictionary(input: &str) -> Result<Dictionary, SfError> {
    let mut p = Parser::new(input)?;
    let mut dict: Dictionary = Vec::new();
    while !p.at_end() {
        let key = p.key()?;
        let member = if p.peek() == Some(b'=') {
            p.pos += 1;
            p.member()?
        } else {
            Member::Item(Item {
                bare: BareItem::Boolean(true),
                params: p.parameters()?,
            })
        };
        upsert(&mut dict, key, member);
        if p.list_separator()? {
            continue;
        }
        break;
    }
    p.finish()?;
    Ok(dict)
}

/// Parse a whole field value as a list (RFC 8941 §4.2.1).
pub fn parse_list(input: &str) -> Result<Vec<Member>, SfError> {
    let mut p = Parser::new(input)?;
    let mut list = Vec::new();
    while !p.at_end() {
        list.push(p.member()?);
        if p.list_separator()? {
            continue;
        }
        break;
    }
    p.finish()?;
    Ok(list)
}

/// Parse a whole field value as a single item (RFC 8941 §4.2.3).
pub fn parse_item(input: &str) -> Result<Item, SfError> {
    let mut p = Parser::new(input)?;
    let item = p.item()?;
    p.finish()?;
    Ok(item)
}

/// Parse `;a=1;b` (a parameter list alone), as used after a component name.
pub fn parse_parameters(input: &str) -> Result<Parameters, SfError> {
    let mut p = Parser {
        bytes: input.as_bytes(),
        pos: 0,
    };
    let params = p.parameters()?;
    if p.pos != p.bytes.len() {
        return Err(SfError::TrailingCharacters(p.pos));
    }
    Ok(params)
}

fn upsert<V>(list: &mut Vec<(String, V)>, key: String, value: V) {
    if let Some(slot) = list.iter_mut().find(|(k, _)| *k == key) {
        slot.1 = value;
    } else {
        list.push((key, value));
    }
}

struct Parser<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Parser<'a> {
    /// Leading and trailing spaces are discarded (§4.2 steps 2 and 6).
    fn new(input: &'a str) -> Result<Self, SfError> {
        let bytes = input.as_bytes();
        let start = bytes.iter().take_while(|b| **b == b' ').count();
        let end = bytes.len() - bytes.iter().rev().take_while(|b| **b == b' ').count();
        let bytes = bytes.get(..end.max(start)).unwrap_or_default();
        Ok(Parser { bytes, pos: start })
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn at_end(&self) -> bool {
        self.pos >= self.bytes.len()
    }

    fn finish(&self) -> Result<(), SfError> {
        if self.at_end() {
            Ok(())
        } else {
            Err(SfError::TrailingCharacters(self.pos))
        }
    }

    fn skip_ows(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
    }

    fn skip_sp(&mut self) {
        while self.peek() == Some(b' ') {
            self.pos += 1;
        }
    }

    /// After a list/dictionary member: true if a comma follows (another member must come).
    fn list_separator(&mut self) -> Result<bool, SfError> {
        self.skip_ows();
        if self.at_end() {
            return Ok(false);
        }
        if self.peek() != Some(b',') {
            return Err(SfError::Unexpected(self.pos));
        }
        self.pos += 1;
        self.skip_ows();
        if self.at_end() {
            return Err(SfError::UnexpectedEnd);
        }
        Ok(true)
    }

    fn member(&mut self) -> Result<Member, SfError> {
        if self.peek() == Some(b'(') {
            Ok(Member::InnerList(self.inner_list()?))
        } else {
            Ok(Member::Item(self.item()?))
        }
    }

    fn inner_list(&mut self) -> Result<InnerList, SfError> {
        self.pos += 1; // '('
        let mut items = Vec::new();
        loop {
            self.skip_sp();
            match self.peek() {
                None => return Err(SfError::UnexpectedEnd),
                Some(b')') => {
                    self.pos += 1;
                    let params = self.parameters()?;
                    return Ok(InnerList { items, params });
                }
                Some(_) => {
                    items.push(self.item()?);
                    match self.peek() {
                        Some(b' ' | b')') => {}
                        None => return Err(SfError::UnexpectedEnd),
                        Some(_) => return Err(SfError::Unexpected(self.pos)),
                    }
                }
            }
        }
    }

    fn item(&mut self) -> Result<Item, SfError> {
        let bare = self.bare_item()?;
        let params = self.parameters()?;
        Ok(Item { bare, params })
    }

    fn parameters(&mut self) -> Result<Parameters, SfError> {
        let mut params: Parameters = Vec::new();
        while self.peek() == Some(b';') {
            self.pos += 1;
            self.skip_sp();
            let key = self.key()?;
            let value = if self.peek() == Some(b'=') {
                self.pos += 1;
                self.bare_item()?
            } else {
                BareItem::Boolean(true)
            };
            upsert(&mut params, key, value);
        }
        Ok(params)
    }

    fn key(&mut self) -> Result<String, SfError> {
        let start = self.pos;
        match self.peek() {
            Some(b'a'..=b'z' | b'*') => {}
            None => return Err(SfError::UnexpectedEnd),
            Some(_) => return Err(SfError::Unexpected(self.pos)),
        }
        while matches!(
            self.peek(),
            Some(b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' | b'.' | b'*')
        ) {
            self.pos += 1;
        }
        Ok(self.slice_string(start, self.pos))
    }

    fn slice_string(&self, start: usize, end: usize) -> String {
        String::from_utf8_lossy(self.bytes.get(start..end).unwrap_or_default()).into_owned()
    }

    fn bare_item(&mut self) -> Result<BareItem, SfError> {
        match self.peek() {
            None => Err(SfError::UnexpectedEnd),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(b'"') => self.string(),
            Some(b':') => self.byte_sequence(),
            Some(b'?') => self.boolean(),
            Some(b'A'..=b'Z' | b'a'..=b'z' | b'*') => self.token(),
            Some(_) => Err(SfError::Unexpected(self.pos)),
        }
    }

    fn number(&mut self) -> Result<BareItem, SfError> {
        let start = self.pos;
        let negative = self.peek() == Some(b'-');
        if negative {
            self.pos += 1;
        }
        let int_start = self.pos;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
        let int_digits = self.pos - int_start;
        if int_digits == 0 {
            return Err(match self.peek() {
                None => SfError::UnexpectedEnd,
                Some(_) => SfError::Unexpected(self.pos),
            });
        }
        let is_decimal = self.peek() == Some(b'.');
        // Range check before converting, so long digit runs cannot overflow.
        if int_digits > if is_decimal { 12 } else { 15 } {
            return Err(SfError::NumberOutOfRange(start));
        }
        let int_part = digits_value(self.bytes.get(int_start..self.pos).unwrap_or_default());
        if !is_decimal {
            return Ok(BareItem::Integer(if negative {
                -int_part
            } else {
                int_part
            }));
        }
        self.pos += 1; // '.'
        let frac_start = self.pos;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
        let frac_digits = self.pos - frac_start;
        if frac_digits == 0 || frac_digits > 3 {
            return Err(SfError::NumberOutOfRange(start));
        }
        let mut frac = digits_value(self.bytes.get(frac_start..self.pos).unwrap_or_default());
        for _ in frac_digits..3 {
            frac *= 10;
        }
        let milli = int_part * 1000 + frac;
        Ok(BareItem::Decimal(if negative { -milli } else { milli }))
    }

    fn string(&mut self) -> Result<BareItem, SfError> {
        self.pos += 1; // '"'
        let mut out = String::new();
        loop {
            match self.peek() {
                None => return Err(SfError::UnexpectedEnd),
                Some(b'\\') => {
                    self.pos += 1;
                    match self.peek() {
                        Some(c @ (b'"' | b'\\')) => out.push(c as char),
                        None => return Err(SfError::UnexpectedEnd),
                        Some(_) => return Err(SfError::Unexpected(self.pos)),
                    }
                    self.pos += 1;
                }
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(BareItem::String(out));
                }
                Some(c @ 0x20..=0x7e) => {
                    out.push(c as char);
                    self.pos += 1;
                }
                Some(_) => return Err(SfError::Unexpected(self.pos)),
            }
        }
    }

    fn token(&mut self) -> Result<BareItem, SfError> {
        let start = self.pos;
        self.pos += 1;
        while matches!(self.peek(), Some(c) if is_tchar(c) || c == b':' || c == b'/') {
            self.pos += 1;
        }
        Ok(BareItem::Token(self.slice_string(start, self.pos)))
    }

    fn byte_sequence(&mut self) -> Result<BareItem, SfError> {
        let start = self.pos;
        self.pos += 1; // ':'
        let body_start = self.pos;
        while matches!(self.peek(), Some(c) if c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'='))
        {
            self.pos += 1;
        }
        match self.peek() {
            Some(b':') => {}
            None => return Err(SfError::UnexpectedEnd),
            Some(_) => return Err(SfError::Unexpected(self.pos)),
        }
        let body = self.bytes.get(body_start..self.pos).unwrap_or_default();
        self.pos += 1;
        STANDARD
            .decode(body)
            .map(BareItem::ByteSequence)
            .map_err(|_| SfError::BadBase64(start))
    }

    fn boolean(&mut self) -> Result<BareItem, SfError> {
        self.pos += 1; // '?'
        let value = match self.peek() {
            Some(b'1') => true,
            Some(b'0') => false,
            None => return Err(SfError::UnexpectedEnd),
            Some(_) => return Err(SfError::Unexpected(self.pos)),
        };
        self.pos += 1;
        Ok(BareItem::Boolean(value))
    }
}

fn digits_value(digits: &[u8]) -> i64 {
    digits
        .iter()
        .fold(0i64, |acc, d| acc * 10 + i64::from(d - b'0'))
}

/// RFC 9110 `tchar`.
fn is_tchar(c: u8) -> bool {
    c.is_ascii_alphanumeric()
        || matches!(
            c,
            b'!' | b'#'
                | b'$'
                | b'%'
                | b'&'
                | b'\''
                | b'*'
                | b'+'
                | b'-'
                | b'.'
                | b'^'
                | b'_'
                | b'`'
                | b'|'
                | b'~'
        )
}

/// Serialize a bare item (RFC 8941 §4.1.3.1).
pub fn write_bare_item(out: &mut String, bare: &BareItem) {
    match bare {
        BareItem::Integer(i) => {
            let _ = write!(out, "{i}");
        }
        BareItem::Decimal(milli) => {
            if *milli < 0 {
                out.push('-');
            }
            let abs = milli.unsigned_abs();
            let _ = write!(out, "{}.", abs / 1000);
            let frac = format!("{:03}", abs % 1000);
            let trimmed = frac.trim_end_matches('0');
            out.push_str(if trimmed.is_empty() { "0" } else { trimmed });
        }
        BareItem::String(s) => write_string(out, s),
        BareItem::Token(t) => out.push_str(t),
        BareItem::ByteSequence(b) => {
            out.push(':');
            out.push_str(&STANDARD.encode(b));
            out.push(':');
        }
        BareItem::Boolean(b) => out.push_str(if *b { "?1" } else { "?0" }),
    }
}

/// Serialize an sf-string with `"` and `\` escaped.
pub fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

/// Serialize parameters (RFC 8941 §4.1.1.2): `;key` for true, `;key=value` otherwise.
pub fn write_parameters(out: &mut String, params: &Parameters) {
    for (k, v) in params {
        out.push(';');
        out.push_str(k);
        if *v != BareItem::Boolean(true) {
            out.push('=');
            write_bare_item(out, v);
        }
    }
}

/// Serialize an item with its parameters.
pub fn write_item(out: &mut String, item: &Item) {
    write_bare_item(out, &item.bare);
    write_parameters(out, &item.params);
}

/// Serialize an inner list with its parameters: `("a" "b");p=1`.
pub fn write_inner_list(out: &mut String, list: &InnerList) {
    out.push('(');
    for (i, item) in list.items.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        write_item(out, item);
    }
    out.push(')');
    write_parameters(out, &list.params);
}

/// Serialize a list or dictionary member.
pub fn write_member(out: &mut String, member: &Member) {
    match member {
        Member::Item(item) => write_item(out, item),
        Member::InnerList(list) => write_inner_list(out, list),
    }
}

/// Serialize a list (members separated by `, `).
pub fn serialize_list(list: &[Member]) -> String {
    let mut out = String::new();
    for (i, m) in list.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        write_member(&mut out, m);
    }
    out
}

/// Serialize a dictionary; a member whose value is boolean true is written as its key alone.
pub fn serialize_dictionary(dict: &Dictionary) -> String {
    let mut out = String::new();
    for (i, (k, m)) in dict.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(k);
        match m {
            Member::Item(item) if item.bare == BareItem::Boolean(true) => {
                write_parameters(&mut out, &item.params)
            }
            other => {
                out.push('=');
                write_member(&mut out, other);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> BareItem {
        BareItem::String(x.to_string())
    }

    #[test]
    fn dictionary_of_inner_lists_with_parameters() {
        let d = parse_dictionary(
            r#"sig1=("@method" "content-digest";sf "@query-param";name="a");created=1618884473;keyid="k", sig2=:AAE=:"#,
        )
        .unwrap();
        assert_eq!(d.len(), 2);
        let Member::InnerList(l) = &d[0].1 else {
            panic!("not an inner list")
        };
        assert_eq!(l.items.len(), 3);
        assert_eq!(
            l.items[1].params,
            vec![("sf".into(), BareItem::Boolean(true))]
        );
        assert_eq!(param(&l.items[2].params, "name"), Some(&s("a")));
        assert_eq!(
            param(&l.params, "created"),
            Some(&BareItem::Integer(1618884473))
        );
        assert_eq!(param(&l.params, "keyid"), Some(&s("k")));
        assert_eq!(
            d[1].1,
            Member::Item(Item {
                bare: BareItem::ByteSequence(vec![0, 1]),
                params: vec![]
            })
        );
    }

    #[test]
    fn serialization_round_trips_to_canonical_form() {
        for (input, canonical) in [
            ("a=1,  b;x=?0 ,c=(1 2);q", "a=1, b;x=?0, c=(1 2);q"),
            ("a=?1, b=4.50", "a, b=4.5"),
            (r#"k="q\"\\""#, r#"k="q\"\\""#),
            ("t=foo/bar:baz", "t=foo/bar:baz"),
            ("d=-0.25", "d=-0.25"),
            ("x=()", "x=()"),
        ] {
            let d = parse_dictionary(input).unwrap();
            assert_eq!(serialize_dictionary(&d), canonical, "{input}");
        }
        let l = parse_list("  sugar, tea, (rum 1.0) ").unwrap();
        assert_eq!(serialize_list(&l), "sugar, tea, (rum 1.0)");
    }

    #[test]
    fn duplicate_keys_keep_position_and_take_last_value() {
        let d = parse_dictionary("a=1, b=2, a=3").unwrap();
        assert_eq!(serialize_dictionary(&d), "a=3, b=2");
    }

    #[test]
    fn integers_and_decimals_are_range_checked() {
        assert_eq!(
            parse_item("999999999999999").unwrap().bare,
            BareItem::Integer(999_999_999_999_999)
        );
        assert!(parse_item("9999999999999999").is_err());
        assert!(parse_item("1.2345").is_err());
        assert!(parse_item("1234567890123.1").is_err());
        assert!(parse_item("1.").is_err());
        assert!(parse_item("-").is_err());
    }

    #[test]
    fn strict_rejections() {
        for bad in [
            "a=1,",             // trailing comma
            "a=1 b=2",          // missing comma
            "A=1",              // uppercase key
            "a=\"unterminated", // string
            "a=\"tab\there\"",  // control char in string
            "a=\"\\x\"",        // bad escape
            "a=:not base64!:",  // byte sequence alphabet
            "a=:AAE",           // unterminated byte sequence
            "a=?2",             // boolean
            "a=(1 2",           // unterminated inner list
            "a=(1,2)",          // comma inside inner list
            "a=é",              // non-ASCII
        ] {
            assert!(parse_dictionary(bad).is_err(), "accepted {bad:?}");
        }
        assert!(parse_item("1 2").is_err());
        assert!(parse_list("a,,b").is_err());
    }

    #[test]
    fn empty_field_is_empty_container() {
        assert!(parse_dictionary("").unwrap().is_empty());
        assert!(parse_list("   ").unwrap().is_empty());
        assert!(parse_item("").is_err());
    }

    #[test]
    fn arbitrary_input_never_panics() {
        // Deterministic pseudo-random strings over the grammar's alphabet, long digit runs
        // included (overflow), fed to every entry point.
        let alphabet = b"a=;,()\" :?*-.019AZ\\/+\t\x7f\xc3";
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..20_000 {
            let mut bytes = Vec::new();
            for _ in 0..(state % 40) {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let c = alphabet[(state % alphabet.len() as u64) as usize];
                let run = if c == b'9' { 1 + (state >> 8) % 30 } else { 1 };
                for _ in 0..run {
                    bytes.push(c);
                }
            }
            let text = String::from_utf8_lossy(&bytes);
            let _ = parse_dictionary(&text);
            let _ = parse_list(&text);
            let _ = parse_item(&text);
            let _ = parse_parameters(&text);
            if let Ok(d) = parse_dictionary(&text) {
                // Canonical output parses back to the same value.
                assert_eq!(
                    parse_dictionary(&serialize_dictionary(&d)).unwrap(),
                    d,
                    "{text}"
                );
            }
        }
        assert!(parse_item(&"9".repeat(40)).is_err());
        assert!(parse_item(&format!("{}.5", "9".repeat(40))).is_err());
    }

    #[test]
    fn standalone_parameters() {
        let p = parse_parameters(";name=\"id\";sf").unwrap();
        assert_eq!(p.len(), 2);
        assert!(parse_parameters(";name=\"id\" x").is_err());
        assert!(parse_parameters("").unwrap().is_empty());
    }
}
