//! Compiled route matchers: the first rule whose match fits the request applies.

use crate::config::{ConfigError, HeaderMatch, RouteMatch, Rule};
use crate::request::RequestView;

/// How a rule's path is matched.
#[derive(Debug, Clone)]
enum PathMatcher {
    Prefix(String),
    Exact(String),
    Regex(regex_lite::Regex),
}

/// A rule's match, compiled once at load.
#[derive(Debug, Clone)]
pub struct CompiledMatch {
    path: PathMatcher,
    methods: Vec<String>,
    hosts: Vec<String>,
    headers: Vec<HeaderMatch>,
}

impl CompiledMatch {
    /// Compile a validated [`RouteMatch`].
    pub fn compile(m: &RouteMatch, path: &str) -> Result<CompiledMatch, ConfigError> {
        let matcher = if let Some(p) = &m.prefix {
            PathMatcher::Prefix(p.clone())
        } else if let Some(p) = &m.path {
            PathMatcher::Exact(p.clone())
        } else if let Some(r) = &m.regex {
            let anchored = format!("^(?:{r})$");
            PathMatcher::Regex(regex_lite::Regex::new(&anchored).map_err(|e| {
                ConfigError::new(format!("{path}.regex"), format!("invalid regex: {e}"))
            })?)
        } else {
            return Err(ConfigError::new(
                path,
                "exactly one of prefix, path or regex is required",
            ));
        };
        Ok(CompiledMatch {
            path: matcher,
            methods: m.methods.clone(),
            hosts: m.hosts.iter().map(|h| h.to_ascii_lowercase()).collect(),
            headers: m
                .headers
                .iter()
                .map(|h| HeaderMatch {
                    name: h.name.to_ascii_lowercase(),
                    ..h.clone()
                })
                .collect(),
        })
    }

    /// Does the request fit?
    pub fn matches(&self, req: &RequestView) -> bool {
        let path_ok = match &self.path {
            PathMatcher::Prefix(p) => req.path.starts_with(p.as_str()),
            PathMatcher::Exact(p) => req.path == *p,
            PathMatcher::Regex(r) => r.is_match(&req.path),
        };
        if !path_ok {
            return false;
        }
        if !self.methods.is_empty() && !self.methods.contains(&req.method) {
            return false;
        }
        if !self.hosts.is_empty() {
            let host = req.host();
            if !self.hosts.iter().any(|h| host_matches(h, &host)) {
                return false;
            }
        }
        self.headers.iter().all(|h| {
            let hit = match &h.exact {
                None => req.header(&h.name).is_some(),
                Some(v) => req.header_values(&h.name).any(|x| x == v),
            };
            hit != h.invert
        })
    }
}

/// `pattern` is an exact host or `*.domain` (any subdomain, not the apex).
pub fn host_matches(pattern: &str, host: &str) -> bool {
    match pattern.strip_prefix("*.") {
        Some(domain) => {
            host.len() > domain.len() + 1
                && host.ends_with(domain)
                && host.as_bytes()[host.len() - domain.len() - 1] == b'.'
        }
        None => pattern == host,
    }
}

/// A rule ready for request time.
#[derive(Debug, Clone)]
pub struct CompiledRule {
    /// Name for logs and metrics.
    pub name: String,
    /// The compiled match.
    pub matcher: CompiledMatch,
}

/// All rules, in order.
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    rules: Vec<CompiledRule>,
}

impl RuleSet {
    /// Compile the config's rules.
    pub fn compile(rules: &[Rule]) -> Result<RuleSet, ConfigError> {
        let rules = rules
            .iter()
            .enumerate()
            .map(|(i, r)| {
                Ok(CompiledRule {
                    name: r.name.clone().unwrap_or_else(|| format!("rules[{i}]")),
                    matcher: CompiledMatch::compile(&r.route, &format!("rules[{i}].match"))?,
                })
            })
            .collect::<Result<Vec<_>, ConfigError>>()?;
        Ok(RuleSet { rules })
    }

    /// Index of the first rule matching `req`.
    pub fn find(&self, req: &RequestView) -> Option<usize> {
        self.rules.iter().position(|r| r.matcher.matches(req))
    }

    /// The rule at `index`.
    pub fn get(&self, index: usize) -> Option<&CompiledRule> {
        self.rules.get(index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::request::{ConnectionInfo, RequestView};

    fn req(method: &str, path: &str, host: &str) -> RequestView {
        RequestView::new(
            method,
            "https",
            host,
            path,
            vec![("x-env".into(), "canary".into())],
            ConnectionInfo::default(),
        )
        .unwrap()
    }

    fn rules(json: &str) -> RuleSet {
        let c = Config::from_json(json.as_bytes()).unwrap();
        RuleSet::compile(&c.rules).unwrap()
    }

    #[test]
    fn first_match_wins_on_normalized_path() {
        let rs = rules(r#"{"rules":[{"match":{"prefix":"/admin"}},{"match":{"prefix":"/"}}]}"#);
        for p in [
            "/admin",
            "/%61dmin",
            "//admin/x",
            "/public/../admin",
            "/./admin",
        ] {
            assert_eq!(rs.find(&req("GET", p, "a.com")), Some(0), "{p}");
        }
        assert_eq!(rs.find(&req("GET", "/public", "a.com")), Some(1));
    }

    #[test]
    fn methods_hosts_headers_narrow() {
        let rs = rules(
            r#"{"rules":[
              {"match":{"path":"/x","methods":["POST"]}},
              {"match":{"path":"/x","hosts":["*.example.com"]}},
              {"match":{"regex":"/x|/y","headers":[{"name":"X-Env","exact":"canary"}]}}]}"#,
        );
        assert_eq!(rs.find(&req("POST", "/x", "a.com")), Some(0));
        assert_eq!(rs.find(&req("GET", "/x", "api.example.com:443")), Some(1));
        assert_eq!(rs.find(&req("GET", "/x", "example.com")), Some(2));
        assert_eq!(rs.find(&req("GET", "/y", "example.com")), Some(2));
        assert_eq!(rs.find(&req("GET", "/yy", "example.com")), None);
    }

    #[test]
    fn wildcard_hosts_need_a_subdomain() {
        assert!(host_matches("*.example.com", "a.example.com"));
        assert!(!host_matches("*.example.com", "example.com"));
        assert!(!host_matches("*.example.com", "badexample.com"));
    }
}
