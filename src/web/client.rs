//! The forwarder's HTTP client: hyper over plain TCP or rustls (the system's root
//! certificates), one pool shared by the source poll and every destination. Every request is
//! bounded by the configured timeout, connection included; errors are one readable line.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::header::{HeaderName, HeaderValue, LOCATION, RETRY_AFTER, USER_AGENT};
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::Client as Hyper;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

#[cfg(feature = "tls")]
type Connector = hyper_rustls::HttpsConnector<HttpConnector>;
#[cfg(not(feature = "tls"))]
type Connector = HttpConnector;

/// The most of a `/system` body read: a snapshot is a few KiB, a big host's a few hundred.
const SNAPSHOT_LIMIT: usize = 8 << 20;

/// The most of a destination's answer read: what a server says about a sample fits in this;
/// the rest (a server answering 2xx with a page of 50 MiB) is not read, the connection closed.
const REPLY_LIMIT: usize = 64 << 10;

/// A request that got no usable answer.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RequestError {
    /// No connection (refused, unreachable, DNS, TLS handshake), or it broke before the
    /// answer's head.
    #[error("{0}")]
    Transport(String),
    /// No answer within the timeout.
    #[error("no answer within {} s", .0.as_secs_f64())]
    Timeout(Duration),
    /// The answer's body broke off, or (for a snapshot) was larger than the limit.
    #[error("reading the response: {0}")]
    Body(String),
}

#[derive(Clone)]
pub(crate) struct Client {
    inner: Hyper<Connector, Full<Bytes>>,
    timeout: Duration,
}

/// A request body and its headers.
#[derive(Debug, Clone)]
pub(crate) struct Body {
    pub bytes: Bytes,
    pub headers: Vec<(&'static str, &'static str)>,
}

/// A response: its head, and its body (whole for a `GET`, at most [`REPLY_LIMIT`] of it for
/// a `POST`).
#[derive(Debug)]
pub(crate) struct Reply {
    pub status: StatusCode,
    /// `Retry-After` as a duration (delta-seconds or an HTTP date).
    pub retry_after: Option<Duration>,
    /// `Location`, for redirects.
    pub location: Option<String>,
    /// Every header of the answer.
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

impl Client {
    /// A client; the system's root certificates are loaded only when `https` is needed.
    pub(crate) fn new(timeout: Duration, https: bool) -> Client {
        let connector = Self::connector(Self::http(timeout), https);
        Self::from_connector(connector, timeout)
    }

    /// A client that trusts only the certificates of a PEM file (a private CA, a
    /// self-signed service), as Prometheus's `tls_config.ca_file` does.
    #[cfg(feature = "tls")]
    pub(crate) fn with_ca(timeout: Duration, ca_file: &std::path::Path) -> Result<Client, String> {
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject;
        let mut roots = rustls::RootCertStore::empty();
        let certs = CertificateDer::pem_file_iter(ca_file).map_err(|e| format!("{}: {e}", ca_file.display()))?;
        for cert in certs {
            let cert = cert.map_err(|e| format!("{}: {e}", ca_file.display()))?;
            roots.add(cert).map_err(|e| format!("{}: {e}", ca_file.display()))?;
        }
        if roots.is_empty() {
            return Err(format!("{}: no certificate in it (a PEM file is expected)", ca_file.display()));
        }
        let config =
            rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .map_err(|e| e.to_string())?
                .with_root_certificates(roots)
                .with_no_client_auth();
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(config)
            .https_or_http()
            .enable_http1()
            .wrap_connector(Self::http(timeout));
        Ok(Self::from_connector(connector, timeout))
    }

    #[cfg(not(feature = "tls"))]
    pub(crate) fn with_ca(_: Duration, ca_file: &std::path::Path) -> Result<Client, String> {
        Err(format!("{}: this build has no TLS (rebuild with the `tls` feature)", ca_file.display()))
    }

    fn http(timeout: Duration) -> HttpConnector {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(timeout));
        http
    }

    fn from_connector(connector: Connector, timeout: Duration) -> Client {
        let inner = Hyper::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(2)
            .build(connector);
        Client { inner, timeout }
    }

    #[cfg(not(feature = "tls"))]
    fn connector(http: HttpConnector, _https: bool) -> Connector {
        http
    }

    #[cfg(feature = "tls")]
    fn connector(http: HttpConnector, https: bool) -> Connector {
        let no_roots = || {
            let empty = rustls::ClientConfig::builder()
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth();
            hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(empty)
        };
        let tls = if https {
            hyper_rustls::HttpsConnectorBuilder::new().with_native_roots().unwrap_or_else(|e| {
                tracing::warn!("no system root certificates ({e}): https servers cannot be verified");
                no_roots()
            })
        } else {
            no_roots()
        };
        tls.https_or_http().enable_http1().wrap_connector(http)
    }

    /// GETs `uri` with `headers` (credentials), reading the whole body (up to 8 MiB: more is
    /// an error).
    pub(crate) async fn get(
        &self,
        uri: &http::Uri,
        headers: &[(HeaderName, HeaderValue)],
    ) -> Result<Reply, RequestError> {
        self.send(Method::GET, uri, None, headers).await
    }

    /// POSTs `body` with its headers (content type first) and `headers` (credentials). Of
    /// the answer's body, only the first 64 KiB are read: a 2xx is a delivery whatever
    /// follows.
    pub(crate) async fn post(
        &self,
        uri: &http::Uri,
        body: Body,
        headers: &[(HeaderName, HeaderValue)],
    ) -> Result<Reply, RequestError> {
        self.send(Method::POST, uri, Some(body), headers).await
    }

    async fn send(
        &self,
        method: Method,
        uri: &http::Uri,
        body: Option<Body>,
        extra: &[(HeaderName, HeaderValue)],
    ) -> Result<Reply, RequestError> {
        let whole = method == Method::GET;
        let (bytes, headers) = match body {
            Some(b) => (b.bytes, b.headers),
            None => (Bytes::new(), Vec::new()),
        };
        let mut req = Request::new(Full::new(bytes));
        *req.method_mut() = method;
        *req.uri_mut() = uri.clone();
        let h = req.headers_mut();
        h.insert(USER_AGENT, HeaderValue::from_static(concat!("system-stats-forwarder/", env!("CARGO_PKG_VERSION"))));
        for (k, v) in headers {
            h.insert(k, HeaderValue::from_static(v));
        }
        for (k, v) in extra {
            h.insert(k.clone(), v.clone());
        }
        let head = async { self.inner.request(req).await.map_err(|e| RequestError::Transport(describe(&e))) };
        let started = tokio::time::Instant::now();
        let resp = match tokio::time::timeout(self.timeout, head).await {
            Ok(result) => result?,
            Err(_) => return Err(RequestError::Timeout(self.timeout)),
        };
        let (parts, body) = resp.into_parts();
        let body = if whole {
            let left = self.timeout.saturating_sub(started.elapsed());
            match tokio::time::timeout(left, Limited::new(body, SNAPSHOT_LIMIT).collect()).await {
                Ok(collected) => collected.map_err(|e| RequestError::Body(e.to_string()))?.to_bytes(),
                Err(_) => return Err(RequestError::Timeout(self.timeout)),
            }
        } else {
            // the status is the answer: a 2xx is a delivery whatever its body does; the body
            // is read while it comes promptly (for an error's reason, and to keep the
            // connection for the next request), and not waited for beyond that
            let grace = BODY_GRACE.min(self.timeout.saturating_sub(started.elapsed()));
            read_at_most(body, REPLY_LIMIT, tokio::time::Instant::now() + grace).await
        };
        let header = |name| parts.headers.get(name).and_then(|v: &HeaderValue| v.to_str().ok());
        let retry_after = header(RETRY_AFTER).and_then(parse_retry_after);
        let location = header(LOCATION).map(str::to_string);
        Ok(Reply { status: parts.status, retry_after, location, headers: parts.headers, body })
    }
}

/// How long the body of an answer to a POST is read after its head: what comes by then.
pub(crate) const BODY_GRACE: Duration = Duration::from_millis(500);

/// The first `limit` bytes of a body (less if it ends or breaks first, or `deadline` passes);
/// the rest is not read.
async fn read_at_most(mut body: hyper::body::Incoming, limit: usize, deadline: tokio::time::Instant) -> Bytes {
    let mut out = bytes::BytesMut::new();
    while out.len() < limit {
        let Ok(frame) = tokio::time::timeout_at(deadline, body.frame()).await else { break };
        match frame {
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    out.extend_from_slice(&data[..data.len().min(limit - out.len())]);
                }
            }
            // a body that breaks off after the status was sent does not undo the status
            Some(Err(_)) | None => break,
        }
    }
    out.freeze()
}

/// The error and its causes on one line: "connection refused", not "client error (Connect)".
fn describe(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}

/// `Retry-After`: delta-seconds, or an HTTP date (then the time left until it).
pub(crate) fn parse_retry_after(v: &str) -> Option<Duration> {
    let v = v.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    let left = when.timestamp() - chrono::Utc::now().timestamp();
    Some(Duration::from_secs(left.max(0) as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_forms() {
        assert_eq!(parse_retry_after("120"), Some(Duration::from_secs(120)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), Some(Duration::ZERO));
        let soon = (chrono::Utc::now() + chrono::Duration::seconds(30)).to_rfc2822();
        let d = parse_retry_after(&soon).unwrap();
        assert!(d >= Duration::from_secs(28) && d <= Duration::from_secs(30), "{d:?}");
        assert_eq!(parse_retry_after("soon"), None);
    }
}
