//! Masking of sensitive fields in JSON response bodies.
//!
//! On a rule with masking on: the request loses `accept-encoding` (so the origin answers
//! uncompressed); a JSON response (by `content_type`) has its `content-length` removed and its
//! body buffered up to `max_body_bytes`; at the end of the body (or from the trailers
//! callback) the [`rewriter`] masks it in one pass. Oversized, compressed or malformed bodies
//! are blocked with a 502 JSON error by default (an unmasked leak is worse than an error) or
//! passed unmasked with a metric and a log line when the config says `pass`.
//!
//! When the block is decided matters. A compressed body or a declared `content-length` over
//! the limit is known from the headers: the engine returns the 502 with the header decision,
//! and the proxy-wasm adapter sends it before the headers leave, so the client sees a real 502.
//! A malformed body, or a chunked one that grows past the limit, is only found in the body;
//! in Envoy the status and headers have gone out by then, so the adapter replaces the body
//! with the same JSON error (`{"error": ..., "status": 502}`) under the original status and
//! drops the rest: nothing unmasked leaks, but the status stays. The size is checked on every
//! chunk ([`Masker::on_response_body_progress`]), so no more than `max_body_bytes` is held.
//!
//! Metrics: `edgeguard_masking_bodies_total` (bodies masked or inspected),
//! `edgeguard_masking_values_total` (values replaced), `edgeguard_masking_blocked_total`, and
//! `edgeguard_masking_{oversize,malformed,compressed}_total` (each block or pass).

pub mod config;
pub mod detectors;
pub mod media;
pub mod policy;
pub mod rewriter;
pub mod selector;
pub mod strategies;

use crate::config::{Config, ConfigError};
use crate::decision::{HeaderMutations, LocalReply, ResponseBodyAction};
use crate::engine::RequestContext;
use crate::host::{Host, LogLevel};
use crate::request::RequestView;
use config::{Fallback, MaskingConfig, RuleMasking};
use policy::Policy;
use rewriter::Rewritten;
use serde_json::json;

/// Compiled masking policies, one per rule (rules without masking have none).
#[derive(Debug, Default)]
pub struct Masker {
    policies: Vec<Policy>,
    /// For each rule index, the index into `policies`.
    by_rule: Vec<Option<usize>>,
}

/// Where one response is in the masking flow.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Not masked (no rule, non-JSON, passed, or finished).
    #[default]
    Off,
    /// Buffering the body for masking.
    Buffering,
    /// Decided at headers time to block; not yet counted or answered.
    Blocked(BlockReason),
    /// Blocked at headers time and already counted: the body callback (for hosts that did
    /// not answer at header time) answers the same 502.
    Answered(BlockReason),
}

/// Why a body cannot be masked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BlockReason {
    Oversize,
    Compressed,
    Malformed,
}

impl BlockReason {
    /// Short name for logs.
    fn name(self) -> &'static str {
        match self {
            BlockReason::Oversize => "oversize",
            BlockReason::Compressed => "compressed",
            BlockReason::Malformed => "malformed",
        }
    }

    /// Reply reason and the message clients see.
    fn reply(self) -> (&'static str, &'static str) {
        match self {
            BlockReason::Oversize => (
                "masking_oversize",
                "response body is too large to be masked",
            ),
            BlockReason::Compressed => (
                "masking_compressed",
                "compressed response body cannot be masked",
            ),
            BlockReason::Malformed => ("masking_malformed", "response body is not valid JSON"),
        }
    }
}

/// Per-response masking state: the chosen policy and the buffered body.
#[derive(Debug, Default)]
pub struct MaskingStream {
    policy: Option<usize>,
    phase: Phase,
    buffer: Vec<u8>,
    /// `content-length` of the response, used to size the buffer once.
    declared: Option<usize>,
}

impl Masker {
    /// Compile the section and every rule's `masking` switch. A rule with masking on and no
    /// `masking` section uses the section's defaults (heuristics and all detectors).
    pub fn compile(config: &Config) -> Result<Masker, ConfigError> {
        let section = config.masking.clone().unwrap_or_default();
        let mut masker = Masker::default();
        let mut shared: Option<usize> = None;
        for (i, rule) in config.rules.iter().enumerate() {
            let slot = match &rule.masking {
                None | Some(RuleMasking::Enabled(false)) => None,
                Some(RuleMasking::Enabled(true)) => match shared {
                    Some(idx) => Some(idx),
                    None => {
                        masker
                            .policies
                            .push(Policy::compile(&section, None, "masking")?);
                        let idx = masker.policies.len() - 1;
                        shared = Some(idx);
                        Some(idx)
                    }
                },
                Some(RuleMasking::Overrides(extra)) => {
                    let p = Policy::compile(&section, Some(extra), "masking").map_err(|e| {
                        if e.path.starts_with("masking.paths.")
                            && !section_has_path(&section, &e.path)
                        {
                            ConfigError::new(
                                e.path
                                    .replacen("masking.", &format!("rules[{i}].masking."), 1),
                                e.reason,
                            )
                        } else {
                            e
                        }
                    })?;
                    masker.policies.push(p);
                    Some(masker.policies.len() - 1)
                }
            };
            masker.by_rule.push(slot);
        }
        Ok(masker)
    }

    fn policy_for(&self, rule: Option<usize>) -> Option<(usize, &Policy)> {
        let idx = (*self.by_rule.get(rule?)?)?;
        Some((idx, self.policies.get(idx)?))
    }

    /// Request side: on a masked rule, drop `accept-encoding` so the origin answers uncompressed.
    pub fn on_request(&self, ctx: &mut RequestContext<'_>, stream: &mut MaskingStream) {
        if let Some((idx, _)) = self.policy_for(ctx.rule) {
            stream.policy = Some(idx);
            ctx.upstream.remove.push("accept-encoding".to_string());
        }
    }

    /// Decide whether this response's body must be buffered and masked; returns true to buffer.
    pub fn on_response_headers(
        &self,
        _req: &RequestView,
        rule: Option<usize>,
        headers: &[(String, String)],
        stream: &mut MaskingStream,
        mutations: &mut HeaderMutations,
        host: &dyn Host,
    ) -> bool {
        stream.phase = Phase::Off;
        stream.buffer.clear();
        let Some((idx, policy)) = self.policy_for(rule) else {
            return false;
        };
        stream.policy = Some(idx);
        let header = |name: &str| {
            headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        };
        let Some(content_type) = header("content-type") else {
            return false;
        };
        if !policy.is_json(content_type) {
            return false;
        }
        let encoded = header("content-encoding")
            .map(|e| {
                e.split(',')
                    .any(|c| !c.trim().eq_ignore_ascii_case("identity"))
            })
            .unwrap_or(false);
        if encoded {
            host.count("edgeguard_masking_compressed_total", 1);
            if policy.on_compressed == Fallback::Pass {
                log_event(host, LogLevel::Warn, "masking_passed", "compressed", None);
                return false;
            }
            stream.phase = Phase::Blocked(BlockReason::Compressed);
            mutations.remove.push("content-length".to_string());
            return true;
        }
        let declared = header("content-length").and_then(|v| v.trim().parse::<u64>().ok());
        if declared.is_some_and(|n| n > policy.max_body_bytes as u64) {
            host.count("edgeguard_masking_oversize_total", 1);
            if policy.on_oversize == Fallback::Pass {
                log_event(host, LogLevel::Warn, "masking_passed", "oversize", None);
                return false;
            }
            stream.phase = Phase::Blocked(BlockReason::Oversize);
            mutations.remove.push("content-length".to_string());
            return true;
        }
        stream.phase = Phase::Buffering;
        stream.declared = declared.and_then(|n| usize::try_from(n).ok());
        mutations.remove.push("content-length".to_string());
        true
    }

    /// A block decided at headers time (compressed, declared oversize): count and log it once
    /// and return the 502 to send before the headers go out.
    pub fn header_reply(&self, stream: &mut MaskingStream, host: &dyn Host) -> Option<LocalReply> {
        let Phase::Blocked(reason) = stream.phase else {
            return None;
        };
        stream.phase = Phase::Answered(reason);
        match block(host, reason, None) {
            ResponseBodyAction::Respond(reply) => Some(reply),
            _ => None,
        }
    }

    /// The body is still arriving and `buffered` bytes are held so far: over `max_body_bytes`
    /// the oversize fallback applies now (`Respond`: block; `Continue`: pass unmasked), so a
    /// host never buffers more than the limit. Otherwise `Buffer`.
    pub fn on_response_body_progress(
        &self,
        stream: &mut MaskingStream,
        buffered: usize,
        host: &dyn Host,
    ) -> ResponseBodyAction {
        let Some(policy) = stream.policy.and_then(|i| self.policies.get(i)) else {
            return ResponseBodyAction::Continue;
        };
        match stream.phase {
            Phase::Buffering if buffered > policy.max_body_bytes => {
                stream.phase = Phase::Off;
                stream.buffer = Vec::new();
                oversize(policy, host)
            }
            Phase::Buffering => ResponseBodyAction::Buffer,
            Phase::Blocked(_) | Phase::Answered(_) => ResponseBodyAction::Buffer,
            Phase::Off => ResponseBodyAction::Continue,
        }
    }

    /// Buffer/mask the body. Chunks are appended; the last call has `end_of_stream` (the
    /// adapter also calls with an empty final chunk from the trailers callback). A body that
    /// arrives whole in one final call is masked without being copied.
    pub fn on_response_body(
        &self,
        stream: &mut MaskingStream,
        chunk: &[u8],
        end_of_stream: bool,
        host: &dyn Host,
    ) -> ResponseBodyAction {
        let Some(policy) = stream.policy.and_then(|i| self.policies.get(i)) else {
            return ResponseBodyAction::Continue;
        };
        match stream.phase {
            Phase::Off => ResponseBodyAction::Continue,
            Phase::Blocked(reason) => {
                stream.phase = Phase::Off;
                stream.buffer = Vec::new();
                block(host, reason, None)
            }
            Phase::Answered(reason) => {
                stream.phase = Phase::Off;
                stream.buffer = Vec::new();
                let (reason, message) = reason.reply();
                ResponseBodyAction::Respond(LocalReply::error(502, reason, message))
            }
            Phase::Buffering => {
                if stream.buffer.len().saturating_add(chunk.len()) > policy.max_body_bytes {
                    stream.phase = Phase::Off;
                    stream.buffer = Vec::new();
                    return oversize(policy, host);
                }
                if !end_of_stream {
                    if stream.buffer.capacity() == 0 {
                        // Size the buffer once when the length is known (peak stays ~2x).
                        let hint = stream.declared.unwrap_or(chunk.len()).max(chunk.len());
                        stream.buffer.reserve_exact(hint);
                    }
                    stream.buffer.extend_from_slice(chunk);
                    return ResponseBodyAction::Buffer;
                }
                stream.phase = Phase::Off;
                let owned;
                let body: &[u8] = if stream.buffer.is_empty() {
                    chunk
                } else {
                    stream.buffer.extend_from_slice(chunk);
                    owned = std::mem::take(&mut stream.buffer);
                    &owned
                };
                host.count("edgeguard_masking_bodies_total", 1);
                match rewriter::rewrite(policy, body) {
                    Ok(Rewritten::Unchanged) => ResponseBodyAction::Continue,
                    Ok(Rewritten::Masked { body, values }) => {
                        host.count("edgeguard_masking_values_total", values as i64);
                        ResponseBodyAction::Replace(body)
                    }
                    Err(e) => {
                        host.count("edgeguard_masking_malformed_total", 1);
                        let detail = e.message();
                        match policy.on_malformed {
                            Fallback::Block => block(host, BlockReason::Malformed, Some(&detail)),
                            Fallback::Pass => {
                                log_event(
                                    host,
                                    LogLevel::Warn,
                                    "masking_passed",
                                    "malformed",
                                    Some(&detail),
                                );
                                ResponseBodyAction::Continue
                            }
                        }
                    }
                }
            }
        }
    }
}

fn section_has_path(section: &MaskingConfig, err_path: &str) -> bool {
    section
        .paths
        .keys()
        .any(|p| err_path == format!("masking.paths.{p}"))
}

fn log_event(host: &dyn Host, level: LogLevel, event: &str, reason: &str, detail: Option<&str>) {
    crate::log::event(
        host,
        level,
        event,
        &[("reason", json!(reason)), ("detail", json!(detail))],
    );
}

/// A body over `max_body_bytes` found while buffering: count it, then block or pass.
fn oversize(policy: &Policy, host: &dyn Host) -> ResponseBodyAction {
    host.count("edgeguard_masking_oversize_total", 1);
    match policy.on_oversize {
        Fallback::Block => block(host, BlockReason::Oversize, None),
        Fallback::Pass => {
            log_event(host, LogLevel::Warn, "masking_passed", "oversize", None);
            ResponseBodyAction::Continue
        }
    }
}

/// The 502 that replaces a response whose body cannot be masked.
fn block(host: &dyn Host, why: BlockReason, detail: Option<&str>) -> ResponseBodyAction {
    host.count("edgeguard_masking_blocked_total", 1);
    log_event(host, LogLevel::Warn, "masking_blocked", why.name(), detail);
    let (reason, message) = why.reply();
    ResponseBodyAction::Respond(LocalReply::error(502, reason, message))
}
