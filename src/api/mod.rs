//! The HTTP side: an HTTP/1.1 server (hyper) that answers from the sampler's published
//! snapshot, never from the kernel.
//!
//! [`run`] takes a bound listener and a shutdown future, so tests start the real server on
//! `127.0.0.1:0` and the binary wires it to SIGTERM/SIGINT.

mod metrics;
pub mod openapi;
mod system;

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{ALLOW, CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;

use crate::sampler::Shared;

/// How long shutdown waits for requests in flight before dropping them.
pub const SHUTDOWN_GRACE: Duration = Duration::from_millis(800);

/// A client has this long to send its request headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

pub type Body = Full<Bytes>;

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    pub sampler: Arc<Shared>,
}

/// Serves `listener` until `shutdown` completes, then stops accepting, lets requests in flight
/// finish for at most [`SHUTDOWN_GRACE`] and returns.
pub async fn run(listener: TcpListener, state: AppState, shutdown: impl Future<Output = ()>) {
    let graceful = GracefulShutdown::new();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(HEADER_TIMEOUT);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // out of file descriptors and the like: back off instead of spinning
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let state = state.clone();
        let service = hyper::service::service_fn(move |req| {
            let response = route(&state, &req);
            async move { Ok::<_, Infallible>(response) }
        });
        let conn = builder.serve_connection(TokioIo::new(stream), service);
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown()).await.is_err() {
        tracing::info!("shutdown: requests still in flight after {SHUTDOWN_GRACE:?} were dropped");
    }
}

/// The routes: path first, then method, so a known path with a wrong method is a 405.
pub fn route(state: &AppState, req: &Request<Incoming>) -> Response<Body> {
    let path = req.uri().path();
    let handler: fn(&AppState) -> Response<Body> = match path {
        "/system" => system::system,
        "/health" => system::health,
        "/openapi.json" => openapi::openapi_json,
        "/docs" => openapi::docs,
        "/metrics" => {
            return match *req.method() {
                Method::GET | Method::HEAD => metrics::metrics(state, req.headers()),
                ref m => not_allowed(m, path),
            };
        }
        _ => {
            return error(
                StatusCode::NOT_FOUND,
                &format!("no such endpoint: {path} (try /system, /metrics, /health or /docs)"),
            );
        }
    };
    match *req.method() {
        Method::GET | Method::HEAD => handler(state),
        ref m => not_allowed(m, path),
    }
}

fn not_allowed(method: &Method, path: &str) -> Response<Body> {
    let mut r = error(StatusCode::METHOD_NOT_ALLOWED, &format!("method {method} is not allowed on {path}; use GET"));
    r.headers_mut().insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
    r
}

/// A JSON response.
pub fn json(status: StatusCode, body: Bytes) -> Response<Body> {
    with_type(status, "application/json", body)
}

/// A response of the given content type, never cached.
pub fn with_type(status: StatusCode, content_type: &'static str, body: Bytes) -> Response<Body> {
    let mut r = Response::new(Full::new(body));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// `{"error": message}` with `status`.
pub fn error(status: StatusCode, message: &str) -> Response<Body> {
    json(status, Bytes::from(serde_json::json!({ "error": message }).to_string()))
}
