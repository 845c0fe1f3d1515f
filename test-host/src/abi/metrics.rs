//! Metrics: define (same name = same stat across VMs, as in Envoy), increment, record, get.

use super::{read_string, write_u32, write_u64, Ctx};
use crate::state::{lock, status, HostState, Metric, MetricKind};
use wasmtime::Linker;

/// Register the metrics host functions.
pub fn add_to_linker(l: &mut Linker<HostState>) -> anyhow::Result<()> {
    l.func_wrap(
        "env",
        "proxy_define_metric",
        |mut c: Ctx<'_>, kind: i32, np: i32, ns: i32, ret: i32| -> i32 {
            if !c.data_mut().check_allowed("metrics", "proxy_define_metric") {
                return status::UNIMPLEMENTED;
            }
            let kind = match kind {
                0 => MetricKind::Counter,
                1 => MetricKind::Gauge,
                2 => MetricKind::Histogram,
                _ => {
                    c.data_mut()
                        .abi_error("proxy_define_metric", format!("unknown metric type {kind}"));
                    return status::BAD_ARGUMENT;
                }
            };
            let name = match read_string(&mut c, np, ns) {
                Ok(n) => n,
                Err(e) => return e,
            };
            let id = {
                let mut metrics = lock(&c.data().shared.metrics);
                match metrics.iter().position(|m| m.name == name) {
                    Some(i) => i + 1,
                    None => {
                        metrics.push(Metric {
                            name,
                            kind,
                            value: 0,
                            samples: 0,
                        });
                        metrics.len()
                    }
                }
            };
            match write_u32(&mut c, ret, id as u32) {
                Ok(()) => status::OK,
                Err(e) => e,
            }
        },
    )?;
    l.func_wrap(
        "env",
        "proxy_increment_metric",
        |mut c: Ctx<'_>, id: i32, delta: i64| -> i32 {
            let shared = c.data().shared.clone();
            let mut metrics = lock(&shared.metrics);
            let Some(m) = (id as usize)
                .checked_sub(1)
                .and_then(|i| metrics.get_mut(i))
            else {
                drop(metrics);
                c.data_mut()
                    .abi_error("proxy_increment_metric", format!("unknown metric id {id}"));
                return status::NOT_FOUND;
            };
            match m.kind {
                MetricKind::Counter if delta < 0 => status::BAD_ARGUMENT,
                MetricKind::Counter | MetricKind::Gauge => {
                    m.value = m.value.saturating_add(delta);
                    status::OK
                }
                MetricKind::Histogram => status::BAD_ARGUMENT,
            }
        },
    )?;
    l.func_wrap(
        "env",
        "proxy_record_metric",
        |mut c: Ctx<'_>, id: i32, value: i64| -> i32 {
            let shared = c.data().shared.clone();
            let mut metrics = lock(&shared.metrics);
            let Some(m) = (id as usize)
                .checked_sub(1)
                .and_then(|i| metrics.get_mut(i))
            else {
                drop(metrics);
                c.data_mut()
                    .abi_error("proxy_record_metric", format!("unknown metric id {id}"));
                return status::NOT_FOUND;
            };
            match m.kind {
                MetricKind::Counter => m.value = m.value.saturating_add(value),
                MetricKind::Gauge => m.value = value,
                MetricKind::Histogram => {
                    m.value = m.value.saturating_add(value);
                    m.samples += 1;
                }
            }
            status::OK
        },
    )?;
    l.func_wrap(
        "env",
        "proxy_get_metric",
        |mut c: Ctx<'_>, id: i32, ret: i32| -> i32 {
            let found = {
                let metrics = lock(&c.data().shared.metrics);
                (id as usize)
                    .checked_sub(1)
                    .and_then(|i| metrics.get(i))
                    .map(|m| (m.kind, m.value))
            };
            match found {
                None => status::NOT_FOUND,
                Some((MetricKind::Histogram, _)) => status::BAD_ARGUMENT,
                Some((_, v)) => match write_u64(&mut c, ret, v as u64) {
                    Ok(()) => status::OK,
                    Err(e) => e,
                },
            }
        },
    )?;
    Ok(())
}
