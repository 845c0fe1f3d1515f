//! Where a provider's tokens are: `from_headers` (with `value_prefix`), `from_params`,
//! `from_cookies`; when none is configured, Envoy's defaults: `Authorization: Bearer <token>`,
//! then the `access_token` query parameter.

use crate::jwt::config::JwtProvider;
use crate::request::RequestView;

/// A compiled set of token locations.
#[derive(Debug, Clone, Default)]
pub struct Extractor {
    headers: Vec<(String, Option<String>)>,
    params: Vec<String>,
    cookies: Vec<String>,
}

/// A token found in a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundToken {
    /// The token text.
    pub token: String,
    /// The header it came from (lowercase), to remove it when not forwarded.
    pub header: Option<String>,
}

impl Extractor {
    /// The locations of one provider (defaults when it names none).
    pub fn for_provider(p: &JwtProvider) -> Extractor {
        if p.from_headers.is_empty() && p.from_params.is_empty() && p.from_cookies.is_empty() {
            return Extractor {
                headers: vec![("authorization".into(), Some("Bearer ".into()))],
                params: vec!["access_token".into()],
                cookies: Vec::new(),
            };
        }
        Extractor {
            headers: p
                .from_headers
                .iter()
                .map(|h| {
                    (
                        h.name.to_ascii_lowercase(),
                        h.value_prefix.clone().filter(|v| !v.is_empty()),
                    )
                })
                .collect(),
            params: p.from_params.clone(),
            cookies: p.from_cookies.clone(),
        }
    }

    /// All tokens present, headers first, then params, then cookies; duplicates dropped.
    pub fn extract(&self, req: &RequestView) -> Vec<FoundToken> {
        let mut out: Vec<FoundToken> = Vec::new();
        let mut push = |token: &str, header: Option<&str>| {
            if !token.is_empty() && !out.iter().any(|t| t.token == token) {
                out.push(FoundToken {
                    token: token.to_string(),
                    header: header.map(str::to_string),
                });
            }
        };
        for (name, prefix) in &self.headers {
            // Like native jwt_authn, all values of the header count as one, joined with ','
            // (a token repeated in two header lines is then one malformed token, not two).
            let values: Vec<&str> = req.header_values(name).collect();
            if values.is_empty() {
                continue;
            }
            let joined = values.join(",");
            {
                let value = joined.as_str();
                let token = match prefix {
                    None => value.trim(),
                    Some(p) => match value.find(p.as_str()) {
                        Some(at) => {
                            // The rest of the (joined) value is the token, as in native
                            // jwt_authn: `Bearer a.b.c,Bearer a.b.c` stays one malformed token
                            // (measured in test-host/tests/jwt_authn_differential.rs).
                            value.get(at + p.len()..).unwrap_or_default().trim()
                        }
                        None => continue,
                    },
                };
                push(token, Some(name));
            }
        }
        for p in &self.params {
            if let Some(v) = req.query_param(p) {
                push(v, None);
            }
        }
        if !self.cookies.is_empty() {
            for cookie_header in req.header_values("cookie") {
                for pair in cookie_header.split(';') {
                    let (k, v) = pair.trim().split_once('=').unwrap_or((pair.trim(), ""));
                    if self.cookies.iter().any(|c| c == k) {
                        push(v.trim_matches('"'), None);
                    }
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::ConnectionInfo;

    fn req(path: &str, headers: &[(&str, &str)]) -> RequestView {
        RequestView::new(
            "GET",
            "https",
            "a.com",
            path,
            headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ConnectionInfo::default(),
        )
        .unwrap()
    }

    #[test]
    fn a_header_repeated_is_one_comma_joined_token_as_in_native_jwt_authn() {
        let e = Extractor::for_provider(&JwtProvider::default());
        let r = req(
            "/x",
            &[
                ("Authorization", "Bearer a.b.c"),
                ("Authorization", "Bearer a.b.c"),
            ],
        );
        let found: Vec<_> = e.extract(&r).into_iter().map(|t| t.token).collect();
        assert_eq!(found, vec!["a.b.c,Bearer a.b.c"]);
    }

    #[test]
    fn defaults_are_bearer_header_then_access_token_param() {
        let e = Extractor::for_provider(&JwtProvider::default());
        let r = req(
            "/x?access_token=p.q.r",
            &[("Authorization", "Bearer a.b.c")],
        );
        let found: Vec<_> = e.extract(&r).into_iter().map(|t| t.token).collect();
        assert_eq!(found, vec!["a.b.c", "p.q.r"]);
        assert!(e
            .extract(&req("/x", &[("Authorization", "Basic Zm9v")]))
            .is_empty());
    }

    #[test]
    fn custom_headers_params_cookies() {
        let p: JwtProvider = serde_json::from_str(
            r#"{"from_headers":[{"name":"x-jwt"}],"from_params":["t"],"from_cookies":["sess"],
                "local_jwks":{"inline_string":"{}"}}"#,
        )
        .unwrap();
        let e = Extractor::for_provider(&p);
        let r = req(
            "/x?t=2.2.2",
            &[
                ("X-Jwt", "1.1.1"),
                ("cookie", "a=b; sess=3.3.3"),
                ("authorization", "Bearer 9.9.9"),
            ],
        );
        let found: Vec<_> = e.extract(&r).into_iter().map(|t| t.token).collect();
        assert_eq!(found, vec!["1.1.1", "2.2.2", "3.3.3"]);
    }
}
