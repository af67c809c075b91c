//! `GET /openapi.json`, generated from the Rust types (`utoipa`), so the document cannot drift
//! from what the service serves; and `GET /docs`, a self-contained page that renders it (no
//! scripts or fonts from anywhere else: it works with no internet).

use std::sync::LazyLock;

use bytes::Bytes;
use hyper::{Response, StatusCode};
use utoipa::OpenApi;

use super::types::{ErrorBody, HealthDown, HealthOk, HistoryDoc, HistorySeries};
use super::{AppState, Body, json, with_type};

/// Schemas whose optional keys are left out rather than `null`.
const LOOSE: &[&str] = &["HistorySeries"];

/// The keys left out while unknown, as the Python service leaves them out (schema, key).
const OPTIONAL: &[(&str, &str)] = &[("OsUpdate", "count")];

#[derive(OpenApi)]
#[openapi(
    info(
        title = "system-stats",
        description = "A snapshot of this host (CPU, memory, swap, disk, network, uptime, sensors), \
                       sampled in the background and served as JSON and as Prometheus metrics.",
        license(name = "MIT OR Apache-2.0")
    ),
    paths(
        super::system::system,
        super::system::health,
        super::metrics::metrics,
        super::live::page,
        super::live::events,
        super::live::history,
        openapi_json,
        docs
    ),
    components(schemas(crate::snapshot::Snapshot, HealthOk, HealthDown, ErrorBody, HistoryDoc, HistorySeries))
)]
pub(crate) struct ApiDoc;

static DOCUMENT: LazyLock<Bytes> = LazyLock::new(|| {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).expect("the OpenAPI document serialises");
    strict_objects(&mut doc);
    Bytes::from(serde_json::to_vec_pretty(&doc).expect("JSON"))
});

/// Every key of every object is always present (`null` when unknown, never left out; the
/// [`OPTIONAL`] ones aside) and no other key appears: says so in the schemas (`required` = all properties,
/// `additionalProperties: false`), so that a validator catches a missing or undocumented key.
fn strict_objects(doc: &mut serde_json::Value) {
    let Some(schemas) = doc.pointer_mut("/components/schemas").and_then(|s| s.as_object_mut()) else { return };
    for (name, schema) in schemas.iter_mut() {
        if LOOSE.contains(&name.as_str()) {
            continue;
        }
        let Some(props) = schema.get("properties").and_then(|p| p.as_object()) else { continue };
        let keys: Vec<serde_json::Value> = props
            .keys()
            .filter(|k| !OPTIONAL.contains(&(name.as_str(), k.as_str())))
            .map(|k| k.clone().into())
            .collect();
        schema["required"] = keys.into();
        schema["additionalProperties"] = false.into();
    }
}

/// This document.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "meta",
    responses((status = 200, description = "The OpenAPI 3.1 document of this service", content_type = "application/json"))
)]
pub(crate) fn openapi_json(_: &AppState) -> Response<Body> {
    json(StatusCode::OK, DOCUMENT.clone())
}

/// A page that renders this document, for people.
#[utoipa::path(
    get,
    path = "/docs",
    tag = "meta",
    responses((status = 200, description = "HTML", content_type = "text/html"))
)]
pub(crate) fn docs(_: &AppState) -> Response<Body> {
    with_type(StatusCode::OK, "text/html; charset=utf-8", Bytes::from_static(include_bytes!("docs.html")))
}
