//! A monitoring server for tests, validating payloads the way the existing Flask server does:
//! 400 `{"error": ...}` when `hostname`, `cpu`, `ram`, `disk` or `timestamp` is missing or one
//! of the numbers is not a number, else 200 `{"status":"ok"}`. It can be switched to answer
//! 500, 429, 400, to be slow, or to be down entirely (port closed, connections cut).
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::task::JoinSet;

#[derive(Debug, Clone, PartialEq)]
pub enum Mode {
    Accept,
    /// Accept any JSON body (a webhook's), with no payload validation.
    AnyJson,
    /// Answer this status with an error body (and `Retry-After` when given).
    Fail(u16, Option<u64>),
    /// Accept, after this long.
    Slow(Duration),
    /// Answer this redirect status pointing to this location (a path, or a full URL).
    Redirect(u16, String),
    /// Accept, answering with a body of this many bytes.
    Huge(usize),
    /// Accept only requests to this path; answer 404 to the others.
    OnlyPath(String),
    /// Accept, sending the status and headers at once, then a body of this many bytes, one
    /// a second.
    Trickle(usize),
    /// Like the newest monitoring server: at most `limit` POSTs per sliding `window` (429
    /// without `Retry-After` beyond), every number but `load*` must convert to a float (a
    /// `null` is a 400), hostnames over 253 characters are a 400, bodies over 512 KiB a 413,
    /// and `details` over 64 KiB as Python's `json.dumps` writes them are silently dropped.
    Newest {
        limit: usize,
        window: Duration,
        /// Answer `Retry-After` (whole seconds until a slot frees) with the 429s.
        retry_after: bool,
    },
}

#[derive(Default)]
struct State {
    mode: Option<Mode>,
    /// Payloads answered with a 2xx, in arrival order.
    accepted: Vec<Value>,
    /// Every request: when, and the status answered.
    requests: Vec<(Instant, u16)>,
    /// Every request's path, in arrival order.
    paths: Vec<String>,
    /// Every request's headers, in arrival order.
    headers: Vec<Vec<(String, String)>>,
    /// `Newest`: when the requests counted by the rate limit came.
    window: std::collections::VecDeque<Instant>,
    /// `Newest`: payloads whose `details` were dropped for being too big.
    details_dropped: usize,
}

pub struct Receiver {
    rt: tokio::runtime::Runtime,
    state: Arc<Mutex<State>>,
    pub addr: SocketAddr,
    serving: Option<tokio::task::JoinHandle<()>>,
    tls: Option<tokio_rustls::TlsAcceptor>,
}

impl Receiver {
    pub fn start(mode: Mode) -> Receiver {
        Receiver::start_at(mode, "127.0.0.1:0")
    }

    /// The same on a given address (e.g. `127.0.0.1:443`).
    pub fn start_at(mode: Mode, bind: &str) -> Receiver {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let listener = rt.block_on(tokio::net::TcpListener::bind(bind)).unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State { mode: Some(mode), ..Default::default() }));
        let mut r = Receiver { rt, state, addr, serving: None, tls: None };
        r.serve(listener);
        r
    }

    /// The same over TLS, with a fresh self-signed certificate for `localhost`; returns the
    /// certificate (PEM) a client must trust.
    pub fn start_tls(mode: Mode) -> (Receiver, String) {
        Receiver::start_tls_for(mode, &["localhost"], "127.0.0.1:0")
    }

    /// Over TLS on `bind`, with a self-signed certificate for `names` (a chat service's host
    /// that the test's /etc/hosts points here); returns the certificate to trust.
    pub fn start_tls_for(mode: Mode, names: &[&str], bind: &str) -> (Receiver, String) {
        let key = rcgen::generate_simple_self_signed(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
        let cert_pem = key.cert.pem();
        let der = rustls::pki_types::CertificateDer::from(key.cert.der().to_vec());
        let private = rustls::pki_types::PrivateKeyDer::Pkcs8(key.signing_key.serialize_der().into());
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![der], private)
            .unwrap();
        let mut r = Receiver::start_at(mode, bind);
        r.go_down();
        r.tls = Some(tokio_rustls::TlsAcceptor::from(Arc::new(config)));
        let mode = r.state.lock().unwrap().mode.clone().unwrap();
        r.come_back(mode);
        (r, cert_pem)
    }

    pub fn url(&self) -> String {
        match self.tls {
            Some(_) => format!("https://localhost:{}/metrics", self.addr.port()),
            None => format!("http://{}/metrics", self.addr),
        }
    }

    fn serve(&mut self, listener: tokio::net::TcpListener) {
        let state = Arc::clone(&self.state);
        let tls = self.tls.clone();
        self.serving = Some(self.rt.spawn(async move {
            let mut conns = JoinSet::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                let state = Arc::clone(&state);
                let tls = tls.clone();
                conns.spawn(async move {
                    let service = hyper::service::service_fn(move |req| handle(Arc::clone(&state), req));
                    let http = hyper::server::conn::http1::Builder::new();
                    match tls {
                        None => {
                            let _ = http.serve_connection(TokioIo::new(stream), service).await;
                        }
                        Some(acceptor) => {
                            if let Ok(stream) = acceptor.accept(stream).await {
                                let _ = http.serve_connection(TokioIo::new(stream), service).await;
                            }
                        }
                    }
                });
            }
            // dropping the task drops the listener and the JoinSet, which aborts every connection
        }));
    }

    pub fn set_mode(&self, mode: Mode) {
        self.state.lock().unwrap().mode = Some(mode);
    }

    /// Closes the port and cuts every connection: connection refused from now on.
    pub fn go_down(&mut self) {
        if let Some(task) = self.serving.take() {
            task.abort();
            let _ = self.rt.block_on(task);
        }
    }

    /// Listens again on the same port.
    pub fn come_back(&mut self, mode: Mode) {
        self.set_mode(mode);
        let deadline = Instant::now() + Duration::from_secs(10);
        let listener = loop {
            match self.rt.block_on(tokio::net::TcpListener::bind(self.addr)) {
                Ok(l) => break l,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(e) => panic!("re-binding {}: {e}", self.addr),
            }
        };
        self.serve(listener);
    }

    pub fn accepted(&self) -> Vec<Value> {
        self.state.lock().unwrap().accepted.clone()
    }

    pub fn requests(&self) -> Vec<(Instant, u16)> {
        self.state.lock().unwrap().requests.clone()
    }

    /// The headers of every request, in arrival order.
    pub fn headers(&self) -> Vec<Vec<(String, String)>> {
        self.state.lock().unwrap().headers.clone()
    }

    pub fn paths(&self) -> Vec<String> {
        self.state.lock().unwrap().paths.clone()
    }

    /// `Newest`: how many payloads had their `details` dropped for being over 64 KiB.
    pub fn details_dropped(&self) -> usize {
        self.state.lock().unwrap().details_dropped
    }

    /// Waits until `n` payloads were accepted; panics after `limit`.
    pub fn wait_accepted(&self, n: usize, limit: Duration) -> Vec<Value> {
        let deadline = Instant::now() + limit;
        loop {
            let got = self.accepted();
            if got.len() >= n {
                return got;
            }
            assert!(Instant::now() < deadline, "only {} of {n} payloads accepted within {limit:?}", got.len());
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// A body sent a byte a second.
pub struct TrickleBody {
    left: usize,
    sleep: std::pin::Pin<Box<tokio::time::Sleep>>,
}

impl hyper::body::Body for TrickleBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Self::Error>>> {
        use std::future::Future;
        if self.left == 0 {
            return std::task::Poll::Ready(None);
        }
        match self.sleep.as_mut().poll(cx) {
            std::task::Poll::Pending => std::task::Poll::Pending,
            std::task::Poll::Ready(()) => {
                self.left -= 1;
                let next = tokio::time::Instant::now() + Duration::from_secs(1);
                self.sleep.as_mut().reset(next);
                std::task::Poll::Ready(Some(Ok(hyper::body::Frame::data(Bytes::from_static(b" ")))))
            }
        }
    }
}

/// The newest server's validation: every number but `load*` converted to a float (`null`
/// refused), `cpu_cores` a list of them, the hostname at most 253 characters.
pub fn validate_newest(payload: &Value) -> Result<(), String> {
    validate(payload)?;
    let obj = payload.as_object().ok_or("payload is not a JSON object")?;
    let host = obj["hostname"].as_str().ok_or("hostname must be a string")?;
    if host.len() > 253 {
        return Err("hostname too long".into());
    }
    for (k, v) in obj {
        match k.as_str() {
            "hostname" | "details" | "timestamp" => {}
            "load1" | "load5" | "load15" => {
                if !(v.is_null() || v.is_number()) {
                    return Err(format!("{k} must be numeric or null"));
                }
            }
            "cpu_cores" => {
                if !v.as_array().is_some_and(|a| a.iter().all(Value::is_number)) {
                    return Err("cpu_cores must be a list of numbers".into());
                }
            }
            _ => {
                if !v.is_number() {
                    return Err(format!("float() argument must be a number, not {v} ({k})"));
                }
            }
        }
    }
    Ok(())
}

/// The length of `details` as Python's `json.dumps` writes it (the real Python).
fn python_details_len(body: &[u8]) -> usize {
    use std::io::Write;
    let mut child = std::process::Command::new("python3")
        .args(["-c", "import json, sys; print(len(json.dumps(json.load(sys.stdin).get('details'))))"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    child.stdin.take().unwrap().write_all(body).unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8(out.stdout).unwrap().trim().parse().unwrap()
}

/// A remote-write request (snappy, protobuf), as a receiver reads it, made a record the
/// tests read as they read a JSON payload: `details.collected_at` is the samples' time (as
/// the forwarder's log writes it), `series` the sample's series (staleness markers apart),
/// `stale` the markers, `instance` and `job` their labels, `names` the metric names.
pub fn remote_write_record(body: &[u8]) -> Result<Value, String> {
    use prost::Message;
    use system_stats::metrics::remote_write::{STALE_NAN, WriteRequest};
    let raw = snap::raw::Decoder::new().decompress_vec(body).map_err(|e| format!("not snappy: {e}"))?;
    let req = WriteRequest::decode(raw.as_slice()).map_err(|e| format!("not a WriteRequest: {e}"))?;
    let mut at = None;
    let (mut series, mut stale) = (0, 0);
    let mut names = std::collections::BTreeSet::new();
    let mut instance = String::new();
    for ts in &req.timeseries {
        let label = |n: &str| ts.labels.iter().find(|l| l.name == n).map(|l| l.value.clone());
        if !ts.labels.windows(2).all(|w| w[0].name < w[1].name) {
            return Err(format!("labels not sorted: {:?}", ts.labels));
        }
        let name = label("__name__").ok_or("a series without __name__")?;
        instance = label("instance").ok_or("a series without instance")?;
        if label("job").is_none() {
            return Err("a series without job".into());
        }
        let [sample] = &ts.samples[..] else { return Err(format!("{name}: not one sample")) };
        if *at.get_or_insert(sample.timestamp) != sample.timestamp {
            return Err(format!("{name}: another timestamp"));
        }
        if sample.value.to_bits() == STALE_NAN {
            stale += 1;
        } else {
            series += 1;
            names.insert(name);
        }
    }
    let at = chrono::DateTime::from_timestamp_millis(at.ok_or("no series")?).ok_or("a timestamp out of range")?;
    Ok(json!({
        "details": {"collected_at": at.to_rfc3339_opts(chrono::SecondsFormat::Micros, false)},
        "hostname": instance, "instance": instance, "series": series, "stale": stale, "names": names,
        "metadata": req.metadata.len(),
    }))
}

/// What a request carries: a JSON payload validated as the Flask server does, or a
/// remote-write request ([`remote_write_record`]).
fn read_payload(content_type: &str, body: &[u8], validate: fn(&Value) -> Result<(), String>) -> Result<Value, String> {
    if content_type == "application/x-protobuf" {
        return remote_write_record(body);
    }
    serde_json::from_slice::<Value>(body).map_err(|e| e.to_string()).and_then(|p| validate(&p).map(|()| p))
}

/// The Flask server's validation.
pub fn validate(payload: &Value) -> Result<(), String> {
    let obj = payload.as_object().ok_or("payload is not a JSON object")?;
    for key in ["hostname", "cpu", "ram", "disk", "timestamp"] {
        if !obj.contains_key(key) {
            return Err(format!("missing key: {key}"));
        }
    }
    for key in ["cpu", "ram", "disk", "timestamp"] {
        if !obj[key].is_number() {
            return Err(format!("{key} must be numeric"));
        }
    }
    Ok(())
}

async fn handle(
    state: Arc<Mutex<State>>,
    req: Request<hyper::body::Incoming>,
) -> Result<Response<http_body_util::Either<Full<Bytes>, TrickleBody>>, hyper::Error> {
    let path = req.uri().path().to_string();
    let headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
        .collect();
    let content_type = headers.iter().find(|(k, _)| k == "content-type").map(|(_, v)| v.clone()).unwrap_or_default();
    state.lock().unwrap().headers.push(headers);
    let body = req.into_body().collect().await?.to_bytes();
    let mode = state.lock().unwrap().mode.clone().unwrap_or(Mode::Accept);
    state.lock().unwrap().paths.push(path.clone());
    let mut location = None;
    let mut huge = None;
    let (status, reply, retry_after) = match mode.clone() {
        Mode::Fail(code, retry_after) => {
            (code, json!({"error": format!("failing with {code} on purpose")}), retry_after)
        }
        // a redirect to a path of this receiver is answered like Accept there
        Mode::Redirect(code, to) if to != path => {
            location = Some(to);
            (code, json!({"error": "moved"}), None)
        }
        Mode::OnlyPath(only) if only != path => (404, json!({"error": format!("no route {path}")}), None),
        Mode::Newest { limit, window, retry_after } => {
            let now = Instant::now();
            let throttled = {
                let mut st = state.lock().unwrap();
                while st.window.front().is_some_and(|t| now.duration_since(*t) > window) {
                    st.window.pop_front();
                }
                let full = st.window.len() >= limit;
                if !full {
                    st.window.push_back(now);
                }
                // until the oldest counted request leaves the window
                full.then(|| st.window.front().map_or(window, |t| window.saturating_sub(now.duration_since(*t))))
            };
            if let Some(free_in) = throttled {
                let after = retry_after.then(|| free_in.as_secs_f64().ceil() as u64);
                (429, json!({"error": "rate limit exceeded"}), after)
            } else if body.len() > 512 * 1024 {
                (413, json!({"error": "payload too large"}), None)
            } else {
                match read_payload(&content_type, &body, validate_newest) {
                    Ok(mut payload) => {
                        let mut st = state.lock().unwrap();
                        let json = payload.get("series").is_none();
                        if json && body.len() > 40_000 && python_details_len(&body) > 64 * 1024 {
                            payload.as_object_mut().unwrap().remove("details");
                            st.details_dropped += 1;
                        }
                        st.accepted.push(payload);
                        (200, json!({"status": "ok"}), None)
                    }
                    Err(e) => (400, json!({"error": e}), None),
                }
            }
        }
        Mode::Accept
        | Mode::AnyJson
        | Mode::Slow(_)
        | Mode::Huge(_)
        | Mode::OnlyPath(_)
        | Mode::Redirect(..)
        | Mode::Trickle(_) => {
            if let Mode::Slow(d) = mode {
                tokio::time::sleep(d).await;
            }
            if let Mode::Huge(n) = mode {
                huge = Some(n);
            }
            let check: fn(&Value) -> Result<(), String> = if mode == Mode::AnyJson { |_| Ok(()) } else { validate };
            let read = read_payload(&content_type, &body, check).or_else(|e| match mode {
                Mode::AnyJson => Ok(Value::String(String::from_utf8_lossy(&body).into_owned())),
                _ => Err(e),
            });
            match read {
                Ok(payload) => {
                    state.lock().unwrap().accepted.push(payload);
                    (200, json!({"status": "ok"}), None)
                }
                Err(e) => (400, json!({"error": e}), None),
            }
        }
    };
    state.lock().unwrap().requests.push((Instant::now(), status));
    let body = match huge {
        Some(n) if status == 200 => Bytes::from(vec![b' '; n]),
        _ => Bytes::from(reply.to_string()),
    };
    let body = match mode {
        Mode::Trickle(n) if status == 200 => http_body_util::Either::Right(TrickleBody {
            left: n,
            sleep: Box::pin(tokio::time::sleep(Duration::from_secs(1))),
        }),
        _ => http_body_util::Either::Left(Full::new(body)),
    };
    let mut resp = Response::new(body);
    *resp.status_mut() = StatusCode::from_u16(status).unwrap();
    if let Some(secs) = retry_after {
        resp.headers_mut().insert("retry-after", secs.to_string().parse().unwrap());
    }
    if let Some(to) = location {
        resp.headers_mut().insert("location", to.parse().unwrap());
    }
    Ok(resp)
}
