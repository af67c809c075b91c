//! The forwarder's HTTP client: hyper over plain TCP or rustls (the system's root
//! certificates), one pool shared by the source poll and every destination. Every request is
//! bounded by the configured timeout, connection included; errors are one readable line.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::header::{HeaderValue, RETRY_AFTER, USER_AGENT};
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::Client as Hyper;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

#[cfg(feature = "tls")]
type Connector = hyper_rustls::HttpsConnector<HttpConnector>;
#[cfg(not(feature = "tls"))]
type Connector = HttpConnector;

/// The most of a response body read: a `/system` snapshot is a few KiB, an error body less.
const BODY_LIMIT: usize = 8 << 20;

#[derive(Clone)]
pub struct Client {
    inner: Hyper<Connector, Full<Bytes>>,
    timeout: Duration,
}

/// A request body and its headers.
#[derive(Debug, Clone)]
pub struct Body {
    pub bytes: Bytes,
    pub headers: Vec<(&'static str, &'static str)>,
}

/// A response, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    /// `Retry-After` as a duration (delta-seconds or an HTTP date).
    pub retry_after: Option<Duration>,
    pub body: Bytes,
}

impl Client {
    /// A client; the system's root certificates are loaded only when `https` is needed.
    pub fn new(timeout: Duration, https: bool) -> Client {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(timeout));
        let connector = Self::connector(http, https);
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

    pub async fn get(&self, uri: &http::Uri) -> Result<Reply, String> {
        self.send(Method::GET, uri, None).await
    }

    /// POSTs `body` with the given headers (content type first).
    pub async fn post(&self, uri: &http::Uri, body: Body) -> Result<Reply, String> {
        self.send(Method::POST, uri, Some(body)).await
    }

    async fn send(&self, method: Method, uri: &http::Uri, body: Option<Body>) -> Result<Reply, String> {
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
        let exchange = async {
            let resp = self.inner.request(req).await.map_err(|e| describe(&e))?;
            let (parts, body) = resp.into_parts();
            let body = Limited::new(body, BODY_LIMIT)
                .collect()
                .await
                .map_err(|e| format!("reading the response: {e}"))?
                .to_bytes();
            let retry_after = parts.headers.get(RETRY_AFTER).and_then(|v| v.to_str().ok()).and_then(parse_retry_after);
            Ok(Reply { status: parts.status, retry_after, body })
        };
        match tokio::time::timeout(self.timeout, exchange).await {
            Ok(result) => result,
            Err(_) => Err(format!("no answer within {} s", self.timeout.as_secs_f64())),
        }
    }
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
pub fn parse_retry_after(v: &str) -> Option<Duration> {
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
