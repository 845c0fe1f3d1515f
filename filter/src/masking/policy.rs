//! A compiled masking policy: the `masking` section (plus a rule's additions) turned into the
//! matchers the rewriter and the stage use at request time.

use super::config::{
    default_key_heuristics, Fallback, MaskingConfig, RuleMaskingOverrides, Strategy,
};
use super::detectors::DetectorSet;
use super::media::MediaPattern;
use super::selector::{JsonPath, KeyRules};
use crate::config::ConfigError;

/// Everything needed to mask one response body, compiled once at load.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Exact key names and heuristic words.
    pub keys: KeyRules,
    /// JSONPath selectors with their strategies, in config order.
    pub paths: Vec<(JsonPath, Strategy)>,
    /// Value detectors.
    pub detectors: DetectorSet,
    /// HMAC key of the `hash` strategy.
    pub hash_key: Option<Vec<u8>>,
    /// Largest body buffered and masked.
    pub max_body_bytes: usize,
    /// Oversized bodies: block or pass.
    pub on_oversize: Fallback,
    /// Malformed JSON: block or pass.
    pub on_malformed: Fallback,
    /// Compressed bodies: block or pass.
    pub on_compressed: Fallback,
    /// JSON media types.
    pub content_types: Vec<MediaPattern>,
}

impl Policy {
    /// Compile `cfg` (already validated) plus a rule's additions; `path` names the section
    /// in errors.
    pub fn compile(
        cfg: &MaskingConfig,
        extra: Option<&RuleMaskingOverrides>,
        path: &str,
    ) -> Result<Policy, ConfigError> {
        let mut keys = cfg.keys.clone();
        let mut path_map = cfg.paths.clone();
        let mut uses_hash = cfg.uses_hash();
        if let Some(x) = extra {
            keys.extend(x.keys.iter().map(|(k, s)| (k.clone(), *s)));
            path_map.extend(x.paths.iter().map(|(k, s)| (k.clone(), *s)));
            uses_hash |= x
                .keys
                .values()
                .chain(x.paths.values())
                .any(|s| *s == Strategy::Hash);
        }
        let words = cfg
            .key_heuristics
            .clone()
            .unwrap_or_else(default_key_heuristics);
        let mut paths = Vec::with_capacity(path_map.len());
        for (p, s) in &path_map {
            let parsed =
                JsonPath::parse(p).map_err(|e| ConfigError::new(format!("{path}.paths.{p}"), e))?;
            paths.push((parsed, *s));
        }
        let hash_key = match &cfg.hash_key {
            Some(src) => Some(src.resolve(&format!("{path}.hash_key"))?),
            None if uses_hash => {
                return Err(ConfigError::new(
                    format!("{path}.hash_key"),
                    "required: a selector or detector uses the hash strategy",
                ))
            }
            None => None,
        };
        let mut content_types = Vec::with_capacity(cfg.content_types.len());
        for (i, ct) in cfg.content_types.iter().enumerate() {
            content_types.push(MediaPattern::parse(ct).ok_or_else(|| {
                ConfigError::new(
                    format!("{path}.content_types[{i}]"),
                    format!("{ct:?} is not a media type pattern"),
                )
            })?);
        }
        Ok(Policy {
            keys: KeyRules::compile(&keys, &words),
            paths,
            detectors: DetectorSet::compile(&cfg.detectors),
            hash_key,
            max_body_bytes: cfg.max_body_bytes,
            on_oversize: cfg.on_oversize,
            on_malformed: cfg.on_malformed,
            on_compressed: cfg.on_compressed,
            content_types,
        })
    }

    /// Is a response with this `content-type` JSON that this policy masks?
    pub fn is_json(&self, content_type: &str) -> bool {
        self.content_types.iter().any(|p| p.matches(content_type))
    }
}
