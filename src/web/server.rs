//! The HTTP/1.1 server both programs serve with (hyper): the service's endpoints and the
//! forwarder's metrics listener are each an [`App`] (who may ask, and the routes); the
//! listener, the connection limits ([`super::conn`]), TLS ([`super::tls`]) and the checks
//! (`Host`, CORS, the token: [`super::guard`]) are this code for both.
//!
//! [`run`] takes a bound listener and a shutdown future, so tests start the real server on
//! `127.0.0.1:0` and the binaries wire it to SIGTERM/SIGINT.

use std::convert::Infallible;
use std::future::Future;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_MAX_AGE,
    ALLOW, AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, HOST, HeaderValue, ORIGIN, RETRY_AFTER, VARY, WWW_AUTHENTICATE,
};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
#[cfg(feature = "tls")]
use tokio::net::TcpStream;

use super::conn::{self, Registry, Timed};
use super::guard::{Auth, Cors, HostCheck, Refusal};
use crate::sync::Locked;

/// How long shutdown waits for requests in flight before dropping them.
pub(crate) const SHUTDOWN_GRACE: Duration = Duration::from_millis(800);

/// A client has this long to send its request headers (and, on HTTPS, to finish the
/// handshake).
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// Request line and headers larger than this get 431 (the largest browser requests, cookies
/// included, stay well under it). No endpoint reads a body.
pub(crate) const MAX_HEADER_BYTES: usize = 16 * 1024;

/// A whole answer, or a stream (the service's `/events`).
pub(crate) type Body = http_body_util::Either<Full<Bytes>, http_body_util::combinators::BoxBody<Bytes, Infallible>>;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What an HTTP server of ours serves: who may ask ([`Access`]: host names, token, CORS) and
/// its routes. The service ([`crate::api::AppState`]) and the forwarder's metrics listener are two; the
/// listener, the connection limits, TLS and the checks are the same code for both.
pub trait App: Clone + Send + Sync + 'static {
    fn access(&self) -> &Access;
    /// Paths answered without the token.
    fn open_paths(&self) -> &'static [&'static str];
    /// The answer to a request that passed the checks.
    fn dispatch(&self, req: &Request<Incoming>) -> Response<Body>;

    /// What to await before answering `req`, if anything (the service: a sample with what
    /// the request reads, when the latest has not). Called for every request: cheap when
    /// there is nothing to wait for.
    fn ready(&self, _req: &Request<Incoming>, _peer: IpAddr) -> Option<Waiting> {
        None
    }
}

/// What a request awaits before it is answered.
pub(crate) type Waiting = std::pin::Pin<Box<dyn Future<Output = ()> + Send>>;

/// Who may ask: the `Host` names answered, the token, the CORS origins.
#[derive(Debug)]
pub struct Access {
    pub hosts: HostCheck,
    pub auth: Option<Auth>,
    pub cors: Cors,
    /// When a refused `Host` was last logged (one line a minute at most).
    misdirected_logged: Mutex<Option<Instant>>,
}

impl Access {
    pub fn new(hosts: HostCheck, auth: Option<Auth>, cors: Cors) -> Access {
        Access { hosts, auth, cors, misdirected_logged: Mutex::new(None) }
    }

    /// Any client on localhost, no token, no CORS (the tests' and the benchmarks').
    pub fn open() -> Access {
        Access::new(HostCheck::new(&["*".to_string()]), None, Cors::default())
    }
}

/// How the listener serves connections.
#[derive(Clone)]
pub struct ServeOptions {
    /// At most this many connections at a time (see [`conn`]).
    pub max_connections: usize,
    #[cfg(feature = "tls")]
    pub tls: Option<Arc<super::tls::Tls>>,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            max_connections: 256,
            #[cfg(feature = "tls")]
            tls: None,
        }
    }
}

/// Serves `listener` until `shutdown` completes, then stops accepting, lets requests in flight
/// finish for at most [`SHUTDOWN_GRACE`] and returns.
pub async fn run<A: App>(listener: TcpListener, state: A, options: ServeOptions, shutdown: impl Future<Output = ()>) {
    let graceful = GracefulShutdown::new();
    let registry = Registry::new(options.max_connections);
    let housekeeping = tokio::spawn(housekeeping(Arc::clone(&registry)));
    tokio::pin!(shutdown);
    loop {
        // a flood of connections waits in the kernel's queue while those accepted are read
        tokio::select! {
            () = registry.backlog_room() => {}
            () = &mut shutdown => break,
        }
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
        let admitted = registry.admit();
        let _ = stream.set_nodelay(true);
        limit_unsent(&stream);
        let state = state.clone();
        let watcher = graceful.watcher();
        let options = options.clone();
        tokio::spawn(async move {
            let conn = Arc::clone(&admitted.conn);
            let peer_ip = peer.ip();
            let work = async move {
                #[cfg(feature = "tls")]
                if let Some(tls) = &options.tls {
                    return serve_tls(stream, admitted, tls, state, peer_ip, watcher).await;
                }
                let _ = &options;
                Ok::<(), BoxError>(serve(Timed::new(stream, admitted), state, peer_ip, watcher).await?)
            };
            tokio::select! {
                result = work => if let Err(e) = result {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                },
                () = conn.evicted.notified() => tracing::debug!(%peer, "closed for a new connection {}", conn.id()),
            }
        });
    }
    drop(listener);
    housekeeping.abort();
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown()).await.is_err() {
        tracing::info!("shutdown: requests still in flight after {SHUTDOWN_GRACE:?} were dropped");
    }
}

/// Serves HTTP/1.1 on one connection.
async fn serve<I, A: App>(io: I, state: A, peer: IpAddr, watcher: Watcher) -> Result<(), hyper::Error>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(HEADER_TIMEOUT).max_buf_size(MAX_HEADER_BYTES);
    let service = hyper::service::service_fn(move |req| {
        // answered at once, unless the app has something to await first
        let answer = match state.ready(&req, peer) {
            None => Ok(route(&state, &req, peer)),
            Some(waiting) => Err((waiting, state.clone(), req)),
        };
        async move {
            Ok::<_, Infallible>(match answer {
                Ok(response) => response,
                Err((waiting, state, req)) => {
                    waiting.await;
                    route(&state, &req, peer)
                }
            })
        }
    });
    watcher.watch(builder.serve_connection(TokioIo::new(io), service)).await
}

/// What a client speaking plain HTTP to the HTTPS port reads before the connection closes.
#[cfg(feature = "tls")]
fn plain_http_refusal() -> Vec<u8> {
    let body = r#"{"error":"this port speaks HTTPS: ask https:// instead of http://"}"#;
    format!(
        "HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncache-control: no-store\r\nconnection: \
         close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// The TLS handshake, then HTTP; a first byte that does not start a TLS handshake is plain
/// HTTP, answered with a clear 400.
#[cfg(feature = "tls")]
async fn serve_tls<A: App>(
    stream: TcpStream,
    admitted: conn::Admitted,
    tls: &super::tls::Tls,
    state: A,
    peer: IpAddr,
    watcher: Watcher,
) -> Result<(), BoxError> {
    use tokio::io::AsyncWriteExt;
    let mut first = [0u8; 1];
    match tokio::time::timeout(HEADER_TIMEOUT, stream.peek(&mut first)).await {
        Ok(Ok(1)) if first[0] == 0x16 => {}
        Ok(Ok(1)) => {
            tracing::debug!(%peer, "plain HTTP on the HTTPS port: refused");
            let mut io = Timed::new(stream, admitted);
            io.write_all(&plain_http_refusal()).await?;
            io.shutdown().await?;
            return Ok(());
        }
        Ok(Ok(_)) => return Ok(()),
        Ok(Err(e)) => return Err(e.into()),
        Err(_) => return Err("no TLS handshake within 10 s".into()),
    }
    let io = Timed::new(stream, admitted);
    let stream = tokio::time::timeout(HEADER_TIMEOUT, tls.acceptor().accept(io))
        .await
        .map_err(|_| "TLS handshake not finished within 10 s")??;
    Ok(serve(stream, state, peer, watcher).await?)
}

/// At most this many bytes written and not yet sent wait in the kernel for one connection: a
/// client that stops reading blocks the writer within this (then the write timeout and the
/// event stream's own limit apply) instead of after the kernel's autotuned buffer of up to
/// 4 MiB. Large answers are unaffected: the writer is woken as the queue drains.
#[cfg(target_os = "linux")]
pub(crate) const UNSENT_LIMIT: libc::c_int = 128 * 1024;

fn limit_unsent(stream: &tokio::net::TcpStream) {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        // SAFETY: setsockopt on a socket we own, with a valid int.
        unsafe {
            libc::setsockopt(
                stream.as_raw_fd(),
                libc::IPPROTO_TCP,
                libc::TCP_NOTSENT_LOWAT,
                (&UNSENT_LIMIT as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = stream;
}

/// While the connection limit is being hit or a burst of connections is open, once a second:
/// ends quiet episodes of the limit, and hands memory back to the system once the burst is
/// over. Otherwise it sleeps until the registry wakes it (an idle service has no timer
/// for it).
async fn housekeeping(registry: Arc<Registry>) {
    let mut peak = 0usize;
    loop {
        let open = registry.len();
        if peak < conn::BURST && open < conn::BURST && !registry.in_episode() {
            registry.busy.notified().await;
            // a burst may be over before this runs: trim after it all the same
            peak = conn::BURST;
            continue;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        registry.tick();
        let open = registry.len();
        peak = peak.max(open);
        if peak >= conn::BURST && open <= peak / 8 {
            trim_memory();
            peak = 0;
        }
    }
}

/// Returns freed heap to the kernel (glibc keeps it in its arenas otherwise).
fn trim_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim has no preconditions.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// What a request says of its host (RFC 9112, section 3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HostHeader<'a> {
    /// One `Host` header.
    One(&'a str),
    /// None, as HTTP/1.0 may send.
    Absent,
    /// An HTTP/1.1 request without one: refused.
    Missing,
    /// More than one: refused, whatever they say (a proxy and the server could each read
    /// another one).
    Several,
}

impl HostHeader<'_> {
    /// The refusal (400) of a request whose `Host` headers break RFC 9112.
    fn refusal(self) -> Option<&'static str> {
        match self {
            HostHeader::Missing => Some("an HTTP/1.1 request needs a Host header (RFC 9112, section 3.2)"),
            HostHeader::Several => Some("a request has one Host header, not several (RFC 9112, section 3.2)"),
            HostHeader::One(_) | HostHeader::Absent => None,
        }
    }
}

pub(crate) fn host_header(req: &Request<Incoming>) -> HostHeader<'_> {
    let mut all = req.headers().get_all(HOST).iter();
    match (all.next(), all.next()) {
        (Some(_), Some(_)) => HostHeader::Several,
        (Some(h), None) => HostHeader::One(h.to_str().unwrap_or("\u{fffd}")),
        (None, _) if req.version() == hyper::Version::HTTP_11 => HostHeader::Missing,
        (None, _) => HostHeader::Absent,
    }
}

/// The routes, behind the checks: `Host` (required of HTTP/1.1, RFC 9112), then CORS
/// preflight, then the token (all but the app's open paths), then path and method, so a known
/// path with a wrong method is a 405.
pub(crate) fn route<A: App>(state: &A, req: &Request<Incoming>, peer: IpAddr) -> Response<Body> {
    let access = state.access();
    let headers = req.headers();
    let host = host_header(req);
    if let Some(why) = host.refusal() {
        return error(StatusCode::BAD_REQUEST, why);
    }
    if let HostHeader::One(host) = host
        && !access.hosts.allows(host)
    {
        return misdirected(access, host, peer);
    }
    let cors = access.cors.allow(headers.get(ORIGIN));
    let mut response = if let (Some(_), &Method::OPTIONS) = (&cors, req.method()) {
        preflight()
    } else if let Some(refused) = access
        .auth
        .as_ref()
        .filter(|_| !state.open_paths().contains(&req.uri().path()))
        .and_then(|auth| auth.check(peer, headers.get(AUTHORIZATION)).err())
    {
        unauthorized(refused)
    } else {
        state.dispatch(req)
    };
    if let Some(origin) = cors {
        let h = response.headers_mut();
        h.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        h.insert(VARY, HeaderValue::from_static("Origin"));
    }
    response
}

/// 421 for a `Host` this service does not answer to (DNS rebinding, or a name to add).
pub(crate) fn misdirected(access: &Access, host: &str, peer: IpAddr) -> Response<Body> {
    let message = format!(
        "this service does not answer to the host name {host:?}; add it to SYSTEM_STATS_ALLOWED_HOSTS (a comma \
         list, * for any) if it is one of this machine's"
    );
    let mut logged = access.misdirected_logged.locked();
    if logged.is_none_or(|at| at.elapsed() >= Duration::from_secs(60)) {
        *logged = Some(Instant::now());
        tracing::warn!(%peer, "refused (421) a request for Host {host:?}: not a name of this machine (SYSTEM_STATS_ALLOWED_HOSTS; logged once a minute)");
    }
    error(StatusCode::MISDIRECTED_REQUEST, &message)
}

/// The answer to a CORS preflight from an allowed origin.
fn preflight() -> Response<Body> {
    let mut r = Response::new(http_body_util::Either::Left(Full::new(Bytes::new())));
    *r.status_mut() = StatusCode::NO_CONTENT;
    let h = r.headers_mut();
    h.insert(ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("GET, HEAD"));
    h.insert(ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static("Authorization, Accept"));
    h.insert(ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
    r
}

/// 401 with the scheme to use, or 429 with how long to wait.
fn unauthorized(refused: Refusal) -> Response<Body> {
    match refused {
        Refusal::Unauthorized(why) => {
            let mut r = error(
                StatusCode::UNAUTHORIZED,
                &format!("{why}: send Authorization: Bearer <the token in SYSTEM_STATS_AUTH_TOKEN_FILE>"),
            );
            r.headers_mut().insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"system-stats\""));
            r
        }
        Refusal::TooMany(wait) => {
            let secs = wait.as_secs().max(1);
            let mut r = error(
                StatusCode::TOO_MANY_REQUESTS,
                &format!("too many failed attempts from this address: try again in {secs} s"),
            );
            r.headers_mut().insert(RETRY_AFTER, HeaderValue::from(secs));
            r
        }
    }
}

pub fn not_allowed(method: &Method, path: &str) -> Response<Body> {
    let mut r = error(StatusCode::METHOD_NOT_ALLOWED, &format!("method {method} is not allowed on {path}; use GET"));
    r.headers_mut().insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
    r
}

/// A JSON response.
pub(crate) fn json(status: StatusCode, body: Bytes) -> Response<Body> {
    with_type(status, "application/json", body)
}

/// A response of the given content type, never cached.
pub(crate) fn with_type(status: StatusCode, content_type: &'static str, body: Bytes) -> Response<Body> {
    let mut r = Response::new(http_body_util::Either::Left(Full::new(body)));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// `{"error": message}` with `status`.
pub(crate) fn error(status: StatusCode, message: &str) -> Response<Body> {
    json(status, Bytes::from(serde_json::json!({ "error": message }).to_string()))
}
