//! The HTTP floor for `scripts/bench-http.sh`: a minimal hyper server that answers every
//! request with a fixed JSON body of a given size, on the same runtime (two workers) and
//! HTTP/1.1 settings as the service. The service cannot be faster than this; the benchmark
//! reports how close it comes.
//!
//!     cargo run --release --example floor -- 127.0.0.1:5098 2100

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

fn main() {
    let mut args = std::env::args().skip(1);
    let addr: std::net::SocketAddr = args.next().expect("usage: floor ADDR BODY_BYTES").parse().unwrap();
    let size: usize = args.next().expect("usage: floor ADDR BODY_BYTES").parse().unwrap();
    let body = Bytes::from(format!("{{\"pad\":\"{}\"}}", "x".repeat(size.saturating_sub(10))));
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get().min(2));
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(workers).enable_all().build().unwrap();
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        eprintln!("floor listening on http://{} ({} byte body)", listener.local_addr().unwrap(), body.len());
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let _ = stream.set_nodelay(true);
            let body = body.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |_req: Request<hyper::body::Incoming>| {
                    let mut r = Response::new(Full::new(body.clone()));
                    r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                    async move { Ok::<_, Infallible>(r) }
                });
                let _ =
                    hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
            });
        }
    });
}
