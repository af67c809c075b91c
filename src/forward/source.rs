//! The service, polled: `/system` for the JSON destinations, `/metrics` for the remote-write
//! and InfluxDB ones, each at most once a tick and only when a destination needs it; the
//! name each sample is spooled once by; the source's health, for the log.

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::entry::Scrape;
use super::payload::Sample;
use crate::config::ForwarderConfig;
use crate::web::client::Client;

/// The service polled: its two URLs, the client (its own when it has a CA file), the token.
pub(crate) struct Source {
    pub system: http::Uri,
    pub scrape: http::Uri,
    client: Client,
    headers: Vec<(http::HeaderName, http::HeaderValue)>,
}

impl Source {
    pub(crate) fn new(cfg: &ForwarderConfig, shared: &Client) -> Result<Source, String> {
        Ok(Source {
            system: cfg.source.clone(),
            scrape: cfg.scrape.clone(),
            client: client_for(&cfg.source_access, shared, cfg.timeout)
                .map_err(|e| format!("the source's CA file: {e}"))?,
            headers: cfg.source_access.request_headers(),
        })
    }

    /// One poll of `/system`: the parsed sample, the body as received (what is spooled) and
    /// the sample's name ([`sample_name`]).
    pub(crate) async fn snapshot(&self) -> Result<(Sample, Bytes, u64), String> {
        let reply = self.get(&self.system, &self.headers).await?;
        let sample = Sample::parse(&reply.body).map_err(|e| format!("not a system-stats snapshot: {e}"))?;
        let name = sample_name(&reply.headers, &reply.body);
        Ok((sample, reply.body, name))
    }

    /// One poll of `/metrics`: the text checked to be Prometheus text format, with the time
    /// its sample was taken (the service's `System-Stats-Collected-At`, else now) and its
    /// host's name (`node_uname_info`'s `nodename`, else this machine's); and its name.
    pub(crate) async fn scrape(&self) -> Result<(Scrape, u64), String> {
        let mut headers = self.headers.clone();
        headers.push((http::header::ACCEPT, http::HeaderValue::from_static("text/plain;version=0.0.4")));
        let reply = self.get(&self.scrape, &headers).await?;
        let text = String::from_utf8(reply.body.to_vec()).map_err(|_| "not text: the body is not UTF-8".to_string())?;
        let parsed = crate::metrics::parse::parse(&text).map_err(|e| format!("not Prometheus text format: {e}"))?;
        let instance = nodename(&parsed.families).unwrap_or_else(own_hostname);
        let collected_at_ms = reply
            .headers
            .get(crate::web::COLLECTED_AT_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| chrono::DateTime::parse_from_rfc3339(v).ok())
            .map_or_else(|| chrono::Utc::now().timestamp_millis(), |t| t.timestamp_millis());
        let name = sample_name(&reply.headers, &reply.body);
        Ok((Scrape { collected_at_ms, instance, text }, name))
    }

    async fn get(
        &self,
        url: &http::Uri,
        headers: &[(http::HeaderName, http::HeaderValue)],
    ) -> Result<crate::web::client::Reply, String> {
        let reply = self.client.get(url, headers).await.map_err(|e| e.to_string())?;
        if !reply.status.is_success() {
            let body = String::from_utf8_lossy(&reply.body[..reply.body.len().min(200)]).into_owned();
            return Err(format!("HTTP {}: {}", reply.status, body.trim()));
        }
        Ok(reply)
    }
}

/// The shared client, or one that trusts only `access`'s CA file.
pub(crate) fn client_for(access: &crate::config::Access, shared: &Client, timeout: Duration) -> Result<Client, String> {
    match &access.ca_file {
        Some(ca) => Client::with_ca(timeout, ca),
        None => Ok(shared.clone()),
    }
}

/// The name a polled sample is spooled once by: the service's `System-Stats-Sample` header
/// (unique across its restarts), or, from a source that sends none (the Python original, a
/// proxy that drops it, node_exporter), the body itself: the same sample polled twice is the
/// same bytes. Never its time: a clock that steps back would make new samples look like old
/// ones.
pub(crate) fn sample_name(headers: &http::HeaderMap, body: &[u8]) -> u64 {
    match headers.get(crate::web::SAMPLE_HEADER) {
        Some(id) => super::spool::stable_hash(&[b"header:", id.as_bytes()]),
        None => super::spool::stable_hash(&[b"body:", body]),
    }
}

/// The host a scrape describes: `node_uname_info`'s `nodename`, as `/system`'s hostname is.
fn nodename(families: &[crate::metrics::Family]) -> Option<String> {
    let uname = families.iter().find(|f| f.name == "node_uname_info")?;
    let sample = uname.samples.first()?;
    sample.labels.iter().find(|(k, _)| &**k == "nodename").map(|(_, v)| v.to_string()).filter(|n| !n.is_empty())
}

fn own_hostname() -> String {
    nix::unistd::gethostname().ok().and_then(|h| h.into_string().ok()).unwrap_or_else(|| "localhost".into())
}

/// The source's state, logged when it changes and summarised while it stays down.
#[derive(Default)]
pub(crate) struct SourceHealth {
    down: Option<(Instant, u64)>,
    last_summary: Option<Instant>,
}

impl SourceHealth {
    pub(crate) fn ok(&mut self) {
        if let Some((since, misses)) = self.down.take() {
            tracing::info!(
                "service answering again after {:.0} s ({misses} missed poll(s))",
                since.elapsed().as_secs_f64()
            );
        }
    }

    pub(crate) fn failed(&mut self, source: &http::Uri, e: String) {
        match &mut self.down {
            None => {
                tracing::warn!("no sample this tick: {source}: {e}");
                self.down = Some((Instant::now(), 1));
                self.last_summary = Some(Instant::now());
            }
            Some((since, misses)) => {
                *misses += 1;
                if self.last_summary.is_none_or(|t| t.elapsed() >= super::sender::SUMMARY_EVERY) {
                    self.last_summary = Some(Instant::now());
                    tracing::warn!(
                        "still no sample from {source} after {:.0} s ({misses} missed poll(s)): {e}",
                        since.elapsed().as_secs_f64()
                    );
                }
            }
        }
    }
}
