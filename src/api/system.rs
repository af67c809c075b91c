//! `GET /system` (the snapshot, as serialised by the sampler) and `GET /health`.

use std::time::Instant;

use bytes::Bytes;
use hyper::{Response, StatusCode};

use super::{AppState, Body, json};

pub fn system(state: &AppState) -> Response<Body> {
    json(StatusCode::OK, state.sampler.latest().json.clone())
}

/// 200 `{"status":"ok"}` while samples keep coming; 503 with the reason once none has been
/// published for three intervals.
pub fn health(state: &AppState) -> Response<Body> {
    match state.sampler.health(Instant::now()) {
        Ok(()) => json(StatusCode::OK, Bytes::from_static(br#"{"status":"ok"}"#)),
        Err(reason) => json(
            StatusCode::SERVICE_UNAVAILABLE,
            Bytes::from(serde_json::json!({ "status": "unavailable", "error": reason }).to_string()),
        ),
    }
}
