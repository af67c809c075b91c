//! `GET /system` (the snapshot, serialised once per sample by its first reader) and `GET /health`.

use std::time::Instant;

use bytes::Bytes;
use hyper::{Response, StatusCode};

use super::{AppState, Body, json};

/// The latest snapshot of the host.
///
/// Served from the last sample (taken every `SYSTEM_STATS_SAMPLE_INTERVAL`, 1 s by default):
/// a request never reads the kernel. `collected_at` says when the sample was taken.
#[utoipa::path(
    get,
    path = "/system",
    tag = "snapshot",
    responses((status = 200, description = "The snapshot", body = crate::snapshot::Snapshot,
        headers(
            ("System-Stats-Sample" = String, description = "The sample's name, unique across restarts: two answers that carry the same sample have the same name, whatever the clock said"),
            ("System-Stats-Collected-At" = String, description = "When the sample was taken (RFC 3339), as its collected_at")
        )))
)]
pub(super) fn system(state: &AppState) -> Response<Body> {
    if let Some(waiting) = no_sample_yet(state) {
        return waiting;
    }
    let (body, named) = state.sampler.with_latest(|p| (p.json(), state.sampler.sample_id(p)));
    super::named_sample(json(StatusCode::OK, body), named)
}

/// 503 with the reason while the first sample has not finished (stuck in the kernel at
/// start-up).
pub(super) fn no_sample_yet(state: &AppState) -> Option<Response<Body>> {
    if state.sampler.has_sample() {
        return None;
    }
    let reason = state.sampler.health(Instant::now()).err().unwrap_or_default();
    Some(super::error(StatusCode::SERVICE_UNAVAILABLE, &reason))
}

/// Whether the sampler is alive.
///
/// 200 while samples keep coming; 503 with the reason once none has been published for three
/// intervals (the sampler is stuck in the kernel: a hung mount, a wedged driver).
#[utoipa::path(
    get,
    path = "/health",
    tag = "meta",
    responses(
        (status = 200, description = "Samples keep coming", body = super::types::HealthOk),
        (status = 503, description = "No sample for three intervals", body = super::types::HealthDown)
    )
)]
pub(super) fn health(state: &AppState) -> Response<Body> {
    match state.sampler.health(Instant::now()) {
        Ok(()) => json(StatusCode::OK, Bytes::from_static(br#"{"status":"ok"}"#)),
        Err(reason) => json(
            StatusCode::SERVICE_UNAVAILABLE,
            Bytes::from(serde_json::json!({ "status": "unavailable", "error": reason }).to_string()),
        ),
    }
}
