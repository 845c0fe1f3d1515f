//! Media-type patterns for the `content_types` list: which responses are JSON to be masked.

/// One configured pattern: `type/subtype`, `type/*`, `*/*`, or `*/*+suffix`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaPattern {
    /// `type/subtype` (lowercased).
    Exact(String),
    /// `type/*`.
    AnySubtype(String),
    /// `*/*+suffix` (suffix without `+`).
    Suffix(String),
    /// `*/*`.
    Any,
}

impl MediaPattern {
    /// Parse a pattern; `None` when it is not one of the accepted shapes.
    pub fn parse(text: &str) -> Option<MediaPattern> {
        let t = text.trim().to_ascii_lowercase();
        let (ty, sub) = t.split_once('/')?;
        let token = |s: &str| {
            !s.is_empty()
                && s.bytes()
                    .all(|c| c.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&c))
        };
        match (ty, sub) {
            ("*", "*") => Some(MediaPattern::Any),
            ("*", s) => s
                .strip_prefix("*+")
                .filter(|x| token(x))
                .map(|x| MediaPattern::Suffix(x.to_string())),
            (t, "*") if token(t) => Some(MediaPattern::AnySubtype(t.to_string())),
            (t, s) if token(t) && token(s) => Some(MediaPattern::Exact(format!("{t}/{s}"))),
            _ => None,
        }
    }

    /// Does the `content-type` header value (parameters allowed) fit this pattern?
    pub fn matches(&self, content_type: &str) -> bool {
        let essence = content_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        let Some((ty, sub)) = essence.split_once('/') else {
            return false;
        };
        match self {
            MediaPattern::Any => true,
            MediaPattern::Exact(e) => *e == essence,
            MediaPattern::AnySubtype(t) => t == ty,
            MediaPattern::Suffix(s) => sub.rsplit_once('+').is_some_and(|(_, suffix)| suffix == s),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_types() {
        let exact = MediaPattern::parse("application/json").unwrap();
        let suffix = MediaPattern::parse("*/*+json").unwrap();
        assert!(exact.matches("application/json"));
        assert!(exact.matches("Application/JSON; charset=utf-8"));
        assert!(!exact.matches("application/jsonp"));
        assert!(!exact.matches("text/html"));
        assert!(suffix.matches("application/problem+json"));
        assert!(suffix.matches("application/vnd.api+json;v=2"));
        assert!(!suffix.matches("application/json"));
        assert!(!suffix.matches("application/json+xml"));
        assert!(MediaPattern::parse("text/*").unwrap().matches("text/plain"));
        for bad in ["json", "*/json", "application/", "a b/c", "*/*+"] {
            assert!(MediaPattern::parse(bad).is_none(), "{bad}");
        }
    }
}
