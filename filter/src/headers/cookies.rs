//! `Set-Cookie` hardening: add `Secure`, `HttpOnly` and `SameSite` when a cookie lacks them,
//! so a session cookie can neither travel over plain HTTP, be read by injected script, nor be
//! sent on cross-site subrequests. Attributes the upstream set itself are never changed.
//! `Secure` is added on plain-HTTP responses too: browsers then drop the cookie, which is the
//! intended fail-closed outcome (a session cookie is never set over HTTP); enable
//! `https_redirect` or turn `secure` off for a name pattern if that is not wanted.

use super::config::{CookiesConfig, SameSiteSetting};
use crate::config::ConfigError;
use crate::decision::HeaderMutations;

/// The attributes to add to one cookie.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Attrs {
    secure: bool,
    http_only: bool,
    same_site: SameSiteSetting,
}

/// Compiled cookie hardening.
#[derive(Debug, Clone)]
pub struct CookiePolicy {
    default: Attrs,
    rules: Vec<(String, Attrs)>,
}

impl CookiePolicy {
    /// Compile and validate at `path`.
    pub fn compile(c: &CookiesConfig, path: &str) -> Result<CookiePolicy, ConfigError> {
        let default = Attrs {
            secure: c.secure.unwrap_or(true),
            http_only: c.http_only.unwrap_or(true),
            same_site: c.same_site.unwrap_or(SameSiteSetting::Lax),
        };
        check_none_needs_secure(default, path)?;
        let mut rules = Vec::with_capacity(c.rules.len());
        for (i, r) in c.rules.iter().enumerate() {
            let at = format!("{path}.rules[{i}]");
            if r.name.is_empty() {
                return Err(ConfigError::new(format!("{at}.name"), "must not be empty"));
            }
            let attrs = Attrs {
                secure: r.secure.unwrap_or(default.secure),
                http_only: r.http_only.unwrap_or(default.http_only),
                same_site: r.same_site.unwrap_or(default.same_site),
            };
            check_none_needs_secure(attrs, &at)?;
            rules.push((r.name.clone(), attrs));
        }
        Ok(CookiePolicy { default, rules })
    }

    /// Rewrite the response's `Set-Cookie` headers; empty when nothing changes.
    pub fn mutations(&self, headers: &[(String, String)]) -> HeaderMutations {
        let mut m = HeaderMutations::default();
        let cookies: Vec<&str> = headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
            .map(|(_, v)| v.as_str())
            .collect();
        let rewritten: Vec<String> = cookies.iter().map(|c| self.harden(c)).collect();
        if cookies
            .iter()
            .zip(&rewritten)
            .all(|(a, b)| *a == b.as_str())
        {
            return m;
        }
        m.remove.push("set-cookie".to_string());
        m.add
            .extend(rewritten.into_iter().map(|v| ("set-cookie".to_string(), v)));
        m
    }

    /// One `Set-Cookie` value with the missing attributes added.
    pub fn harden(&self, set_cookie: &str) -> String {
        let name = set_cookie
            .split(';')
            .next()
            .and_then(|nv| nv.split('=').next())
            .unwrap_or("")
            .trim();
        let attrs = self
            .rules
            .iter()
            .find(|(pattern, _)| glob_matches(pattern, name))
            .map(|(_, a)| *a)
            .unwrap_or(self.default);
        let mut has_secure = false;
        let mut has_http_only = false;
        let mut has_same_site = false;
        for attr in set_cookie.split(';').skip(1) {
            let key = attr.split('=').next().unwrap_or("").trim();
            if key.eq_ignore_ascii_case("secure") {
                has_secure = true;
            } else if key.eq_ignore_ascii_case("httponly") {
                has_http_only = true;
            } else if key.eq_ignore_ascii_case("samesite") {
                has_same_site = true;
            }
        }
        let mut out = set_cookie.trim_end().trim_end_matches(';').to_string();
        if attrs.secure && !has_secure {
            out.push_str("; Secure");
        }
        if attrs.http_only && !has_http_only {
            out.push_str("; HttpOnly");
        }
        if !has_same_site {
            match attrs.same_site {
                SameSiteSetting::Strict => out.push_str("; SameSite=Strict"),
                SameSiteSetting::Lax => out.push_str("; SameSite=Lax"),
                SameSiteSetting::None => out.push_str("; SameSite=None"),
                SameSiteSetting::Off => {}
            }
        }
        if out == set_cookie.trim_end().trim_end_matches(';') {
            return set_cookie.to_string();
        }
        out
    }
}

fn check_none_needs_secure(a: Attrs, path: &str) -> Result<(), ConfigError> {
    if a.same_site == SameSiteSetting::None && !a.secure {
        return Err(ConfigError::new(
            format!("{path}.same_site"),
            "same_site none requires secure: true (browsers reject SameSite=None without Secure)",
        ));
    }
    Ok(())
}

/// `*` matches any run of characters; everything else literally.
pub fn glob_matches(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = match (parts.first(), parts.last()) {
        (Some(f), Some(l)) => (*f, *l),
        _ => return false,
    };
    if !text.starts_with(first) || text.len() < first.len() + last.len() {
        return false;
    }
    let mut rest = &text[first.len()..];
    let middle = parts.get(1..parts.len() - 1).unwrap_or(&[]);
    for part in middle {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(json: &str) -> CookiePolicy {
        CookiePolicy::compile(&serde_json::from_str(json).unwrap(), "headers.cookies").unwrap()
    }

    #[test]
    fn adds_missing_attributes_by_default() {
        let p = policy("{}");
        assert_eq!(
            p.harden("sid=abc; Path=/"),
            "sid=abc; Path=/; Secure; HttpOnly; SameSite=Lax"
        );
    }

    #[test]
    fn keeps_what_the_upstream_set() {
        let p = policy("{}");
        assert_eq!(
            p.harden("sid=abc; secure; HTTPONLY; SameSite=Strict"),
            "sid=abc; secure; HTTPONLY; SameSite=Strict"
        );
        assert_eq!(
            p.harden("sid=abc; SameSite=None; Secure"),
            "sid=abc; SameSite=None; Secure; HttpOnly"
        );
    }

    #[test]
    fn per_name_rules_and_per_attribute_switches() {
        let p = policy(
            r#"{"same_site":"strict","rules":[{"name":"csrf_*","http_only":false},{"name":"ui","same_site":"off"}]}"#,
        );
        assert_eq!(
            p.harden("csrf_token=1"),
            "csrf_token=1; Secure; SameSite=Strict"
        );
        assert_eq!(p.harden("ui=dark"), "ui=dark; Secure; HttpOnly");
        assert_eq!(
            p.harden("sid=1"),
            "sid=1; Secure; HttpOnly; SameSite=Strict"
        );
    }

    #[test]
    fn mutations_rewrite_all_set_cookie_headers_or_none() {
        let p = policy("{}");
        let m = p.mutations(&[
            ("Set-Cookie".into(), "a=1".into()),
            (
                "set-cookie".into(),
                "b=2; Secure; HttpOnly; SameSite=Lax".into(),
            ),
        ]);
        assert_eq!(m.remove, vec!["set-cookie".to_string()]);
        assert_eq!(m.add.len(), 2);
        assert_eq!(m.add[0].1, "a=1; Secure; HttpOnly; SameSite=Lax");
        assert_eq!(m.add[1].1, "b=2; Secure; HttpOnly; SameSite=Lax");
        let none = p.mutations(&[(
            "set-cookie".into(),
            "b=2; Secure; HttpOnly; SameSite=Lax".into(),
        )]);
        assert!(none.is_empty());
    }

    #[test]
    fn same_site_none_without_secure_is_a_load_error() {
        let e = CookiePolicy::compile(
            &serde_json::from_str(r#"{"secure":false,"same_site":"none"}"#).unwrap(),
            "headers.cookies",
        )
        .unwrap_err();
        assert_eq!(e.path, "headers.cookies.same_site");
    }

    #[test]
    fn glob() {
        assert!(glob_matches("*", "x"));
        assert!(glob_matches("csrf_*", "csrf_a"));
        assert!(!glob_matches("csrf_*", "xcsrf_a"));
        assert!(glob_matches("*_id", "session_id"));
        assert!(glob_matches("a*b*c", "aXbYc"));
        assert!(!glob_matches("a*b*c", "ac"));
        assert!(!glob_matches("ab*ba", "aba"));
    }
}
