//! Splitting a fetch `Request.url` into the parts a [`crate::request::RequestView`] is built
//! from. The path is kept exactly as received (no decoding, no dot-segment removal): the
//! engine normalizes it the same way for every host.

/// Why a URL could not be split.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum UrlError {
    /// No `scheme://` prefix.
    NotAbsolute,
}

impl UrlError {
    /// The message the JS side sees (thrown as an Error).
    pub fn message(&self) -> &'static str {
        match self {
            UrlError::NotAbsolute => "request url must be absolute (scheme://authority/path)",
        }
    }
}

/// The parts of an absolute URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlParts<'a> {
    /// Scheme, lowercased by the caller if needed (`https`).
    pub scheme: &'a str,
    /// Host and optional port (`api.example.com:8443`), without userinfo.
    pub authority: &'a str,
    /// Path with query, without fragment; starts with `/` even when the URL has no path.
    pub path_and_query: String,
}

/// Split `scheme://authority/path?query#fragment`.
pub fn split_url(url: &str) -> Result<UrlParts<'_>, UrlError> {
    let (scheme, rest) = url.split_once("://").ok_or(UrlError::NotAbsolute)?;
    if scheme.is_empty()
        || !scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
    {
        return Err(UrlError::NotAbsolute);
    }
    let rest = rest.split('#').next().unwrap_or(rest);
    let path_start = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(path_start);
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    // `https://h` and `https://h?x=1` have the empty path; origin-form needs the `/`.
    let path_and_query = if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/{path}")
    };
    Ok(UrlParts {
        scheme,
        authority,
        path_and_query,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_an_absolute_url_keeping_the_raw_path() {
        let p = split_url("https://api.example.com:8443/a/../%61dmin?x=1#frag").unwrap();
        assert_eq!(p.scheme, "https");
        assert_eq!(p.authority, "api.example.com:8443");
        assert_eq!(p.path_and_query, "/a/../%61dmin?x=1");
    }

    #[test]
    fn empty_path_becomes_root_and_userinfo_is_dropped() {
        assert_eq!(split_url("http://u:p@h").unwrap().path_and_query, "/");
        assert_eq!(split_url("http://h?x=1").unwrap().path_and_query, "/?x=1");
        assert_eq!(split_url("http://u:p@h").unwrap().authority, "h");
        assert_eq!(
            split_url("http://[::1]:80/x").unwrap().authority,
            "[::1]:80"
        );
    }

    #[test]
    fn relative_urls_are_errors() {
        assert_eq!(split_url("/just/a/path"), Err(UrlError::NotAbsolute));
        assert_eq!(split_url("://h/"), Err(UrlError::NotAbsolute));
    }
}
