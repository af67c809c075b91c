//! A monitoring-server stand-in for `scripts/bench-forwarder.sh` and `scripts/bench-push.sh`:
//! validates each POSTed payload as the existing Flask server does (400 on a missing or
//! non-numeric key), or decodes a remote-write request (snappy, protobuf; 400 when it does
//! not decode or holds no series), and counts the accepted ones; `GET /count` answers the
//! count.
//!
//!     cargo run --release --example receiver -- 127.0.0.1:5050

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

/// A remote-write request with at least one series.
fn remote_write(body: &[u8]) -> Result<(), String> {
    use prost::Message;
    let raw = snap::raw::Decoder::new().decompress_vec(body).map_err(|e| e.to_string())?;
    let req = system_stats::metrics::remote_write::WriteRequest::decode(raw.as_slice()).map_err(|e| e.to_string())?;
    if req.timeseries.is_empty() { Err("no series".into()) } else { Ok(()) }
}

fn validate(body: &[u8]) -> Result<(), String> {
    let v: serde_json::Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    for key in ["hostname", "cpu", "ram", "disk", "timestamp"] {
        match v.get(key) {
            None => return Err(format!("missing key: {key}")),
            Some(x) if key != "hostname" && !x.is_number() => return Err(format!("{key} must be numeric")),
            _ => {}
        }
    }
    Ok(())
}

async fn handle(
    count: Arc<AtomicU64>,
    req: Request<hyper::body::Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (status, body) = if req.method() == Method::GET {
        (StatusCode::OK, count.load(Ordering::Relaxed).to_string())
    } else {
        let protobuf = req.headers().get("content-type").is_some_and(|t| t == "application/x-protobuf");
        let bytes = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
        match if protobuf { remote_write(&bytes) } else { validate(&bytes) } {
            Ok(()) => {
                count.fetch_add(1, Ordering::Relaxed);
                (StatusCode::OK, r#"{"status":"ok"}"#.to_string())
            }
            Err(e) => (StatusCode::BAD_REQUEST, serde_json::json!({ "error": e }).to_string()),
        }
    };
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    Ok(r)
}

fn main() {
    let addr: std::net::SocketAddr = std::env::args().nth(1).expect("usage: receiver ADDR").parse().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        let count = Arc::new(AtomicU64::new(0));
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let count = Arc::clone(&count);
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| handle(Arc::clone(&count), req));
                let _ =
                    hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
            });
        }
    });
}
