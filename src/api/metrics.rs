//! `GET /metrics`: the last sample as Prometheus text, or OpenMetrics when the `Accept`
//! header asks for it. Rendered once per sample, by the first scrape after it.

use hyper::header::{ACCEPT, HeaderMap};
use hyper::{Response, StatusCode};

use super::{AppState, Body, with_type};
use crate::metrics::text::{OPENMETRICS_CONTENT_TYPE, TEXT_CONTENT_TYPE, wants_openmetrics};

/// The latest snapshot as metrics.
///
/// Prometheus text format 0.0.4, or OpenMetrics 1.0 when `Accept` asks for
/// `application/openmetrics-text`. The core families carry node_exporter's names, labels,
/// types and units (`node_cpu_seconds_total`, `node_memory_*_bytes`, `node_filesystem_*`,
/// `node_disk_*`, `node_network_*`, ...); `system_stats_*` families add utilisation, rates,
/// sampler and collector health.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "snapshot",
    params(("Accept" = Option<String>, Header, description = "`application/openmetrics-text` for OpenMetrics")),
    responses(
        (status = 200, description = "Prometheus text format 0.0.4", content_type = "text/plain; version=0.0.4; charset=utf-8",
            headers(
                ("System-Stats-Sample" = String, description = "The sample's name, as on /system"),
                ("System-Stats-Collected-At" = String, description = "When the sample was taken (RFC 3339)")
            )),
        (status = 200, description = "OpenMetrics 1.0", content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8")
    )
)]
pub(super) fn metrics(state: &AppState, headers: &HeaderMap) -> Response<Body> {
    if let Some(waiting) = super::system::no_sample_yet(state) {
        return waiting;
    }
    let accept = headers.get(ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
    let openmetrics = wants_openmetrics(accept);
    let (body, named) = state.sampler.with_latest(|p| {
        let body = if openmetrics { p.metrics_openmetrics() } else { p.metrics_text() };
        (body, state.sampler.sample_id(p))
    });
    let content_type = if openmetrics { OPENMETRICS_CONTENT_TYPE } else { TEXT_CONTENT_TYPE };
    super::named_sample(with_type(StatusCode::OK, content_type, body), named)
}
