//! `GET /metrics`: the last sample as Prometheus text, or OpenMetrics when the `Accept`
//! header asks for it. Rendered once per sample, by the first scrape after it.

use hyper::header::{ACCEPT, HeaderMap};
use hyper::{Response, StatusCode};

use super::{AppState, Body, with_type};
use crate::metrics::text::{OPENMETRICS_CONTENT_TYPE, TEXT_CONTENT_TYPE, wants_openmetrics};

pub fn metrics(state: &AppState, headers: &HeaderMap) -> Response<Body> {
    let latest = state.sampler.latest();
    let accept = headers.get(ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
    if wants_openmetrics(accept) {
        with_type(StatusCode::OK, OPENMETRICS_CONTENT_TYPE, latest.metrics_openmetrics())
    } else {
        with_type(StatusCode::OK, TEXT_CONTENT_TYPE, latest.metrics_text())
    }
}
