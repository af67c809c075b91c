//! One destination's sender: takes the oldest spooled sample, delivers it, and removes it
//! only after a 2xx, so samples leave in order and none is lost while the server is down.
//!
//! What each answer does to the sample ([`classify`]):
//! - 2xx, whatever its body: delivered, removed; the next one goes out, no faster than the
//!   rate limit while a backlog drains.
//! - 307/308 to the same origin, or to the `https://` form of the same host: followed.
//! - connection errors, timeouts, 408, 425, 429 and 5xx: kept and retried after an
//!   exponential backoff with full jitter (`Retry-After` honoured, up to [`MAX_RETRY_AFTER`]).
//! - 400, 409, 413, 422: the server refuses *this sample* and always will: dropped, counted,
//!   the server's answer logged.
//! - any other answer (other redirects, 401, 403, 404, 405, 410, other 4xx): the destination
//!   is set up wrong, not the sample: kept, retried with the same backoff, and one ERROR says
//!   what the server answered and what to set.
//!
//! A spooled entry that cannot be encoded (not a snapshot) is removed with its own counter
//! and log line: never retried, never reported as refused. A spool that cannot be read or
//! written is reported as such, never as the destination being down.
//!
//! Logs: one line when a destination's state changes (down, misconfigured, spool fault, back
//! up), a summary every [`SUMMARY_EVERY`] while it lasts; never a line per retry.

use crate::sync::Locked;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::{Notify, watch};

use super::pace::Pace;
use super::payload::{Sample, SampleError};
use super::spool::{Spool, SpoolError};
use crate::config::{Destination, Format};
use crate::web::client::{Body, Client, Reply, RequestError};

/// First retry delay (before jitter); it doubles per failed attempt up to the cap.
pub(crate) const BACKOFF_BASE: Duration = Duration::from_millis(250);
/// Longest `Retry-After` obeyed.
pub(crate) const MAX_RETRY_AFTER: Duration = Duration::from_secs(600);
/// How often a destination that stays down is summarised in the log.
pub(crate) const SUMMARY_EVERY: Duration = Duration::from_secs(300);
/// Redirects followed for one delivery.
const MAX_REDIRECTS: usize = 3;

pub(crate) type SharedSpool = Arc<Mutex<Spool>>;

/// Runs a spool operation on the blocking pool (each commit is an fsync).
pub(crate) async fn with_spool<T: Send + 'static>(
    spool: &SharedSpool,
    f: impl FnOnce(&mut Spool) -> T + Send + 'static,
) -> T {
    let spool = Arc::clone(spool);
    let job = tokio::task::spawn_blocking(move || f(&mut spool.locked()));
    match job.await {
        Ok(v) => v,
        // the spool catches redb's panics; anything else is a bug worth the process
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

/// Counters and state of one destination, shared with the poller's log line.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub up: AtomicBool,
    /// Answered with a 2xx.
    pub delivered: AtomicU64,
    /// Refused by the server (400, 409, 413, 422): dropped.
    pub rejected: AtomicU64,
    /// Spooled entries that were not a snapshot: dropped.
    pub undecodable: AtomicU64,
    /// Dropped from a full spool (`SYSTEM_STATS_SPOOL_MAX_BYTES`).
    pub evicted: AtomicU64,
    /// Could not be spooled (the spool's disk failed or was full).
    pub not_spooled: AtomicU64,
    pub retries: AtomicU64,
    pub backlog: AtomicU64,
    /// 429s without `Retry-After` (the pace was lowered).
    pub throttled: AtomicU64,
    /// Whether `details` had to be trimmed (logged once).
    pub trimmed: AtomicBool,
    /// When a sample was last delivered, unix milliseconds (0: not yet).
    pub last_success_ms: AtomicU64,
    /// The HTTP status of the last answer (0: none yet).
    pub last_status: AtomicU64,
    /// The wait before the next attempt while failing, milliseconds (0: not failing).
    pub backoff_ms: AtomicU64,
    /// The drain pace now, thousandths of a sample per second (0: no limit).
    pub pace_milli: AtomicU64,
}

/// Now, unix milliseconds.
pub(crate) fn unix_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// What one delivery attempt came to.
#[derive(Debug, PartialEq)]
pub(crate) enum Outcome {
    Delivered,
    /// The server or the network failed: try again later. `throttled`: a 429 that did not
    /// say how long to wait.
    Retry {
        reason: String,
        after: Option<Duration>,
        throttled: bool,
    },
    /// The server refuses this sample and always will: drop it.
    Refused {
        reason: String,
    },
    /// The destination is set up wrong: keep the sample, try again later, say what to fix.
    Misconfigured {
        reason: String,
    },
}

/// The statuses that refuse the sample itself (its content), not the way it was sent.
pub(crate) const REFUSING: [u16; 4] = [400, 409, 413, 422];

/// Sorts a reply (or a transport error) into deliver / retry / refuse / misconfigured.
pub(crate) fn classify(result: Result<Reply, RequestError>) -> Outcome {
    let reply = match result {
        Ok(r) => r,
        Err(e) => return Outcome::Retry { reason: e.to_string(), after: None, throttled: false },
    };
    let status = reply.status;
    let body = String::from_utf8_lossy(&reply.body[..reply.body.len().min(500)]).trim().to_string();
    let code = status.as_u16();
    if status.is_success() {
        Outcome::Delivered
    } else if matches!(code, 408 | 425 | 429) || status.is_server_error() {
        let after = reply.retry_after.map(|d| d.min(MAX_RETRY_AFTER));
        Outcome::Retry { reason: format!("HTTP {status}: {body}"), after, throttled: code == 429 }
    } else if REFUSING.contains(&code) {
        Outcome::Refused { reason: format!("HTTP {status}: {body}") }
    } else if status.is_redirection() {
        let to = reply.location.as_deref().unwrap_or("nowhere (no Location header)");
        Outcome::Misconfigured {
            reason: format!(
                "HTTP {status} pointing to {to}; if that is where samples should go, set MONITORING_SERVER_METRICS_URL \
                 to it (only 307/308 to the same origin or its https:// form are followed)"
            ),
        }
    } else {
        let hint = match code {
            401 | 403 => "check the destination's credentials",
            404 | 405 | 410 => "check the destination's URL and path",
            _ => "check the destination's settings",
        };
        Outcome::Misconfigured { reason: format!("HTTP {status}: {body}; {hint}") }
    }
}

/// Where a 307/308 may be followed: the same origin, or the `https://` form of the same host.
pub(crate) fn follow(from: &http::Uri, location: &str) -> Option<http::Uri> {
    let to: http::Uri = match location.parse::<http::Uri>() {
        Ok(u) if u.scheme().is_some() => u,
        Ok(relative) => {
            // a path on the same origin
            let path = relative.path_and_query()?.as_str();
            if !path.starts_with('/') {
                return None;
            }
            let mut parts = from.clone().into_parts();
            parts.path_and_query = Some(path.parse().ok()?);
            http::Uri::from_parts(parts).ok()?
        }
        Err(_) => return None,
    };
    let port = |u: &http::Uri| u.port_u16().unwrap_or(if u.scheme_str() == Some("https") { 443 } else { 80 });
    let same_host = to.host().map(str::to_ascii_lowercase) == from.host().map(str::to_ascii_lowercase);
    let same_origin = same_host && to.scheme() == from.scheme() && port(&to) == port(from);
    let upgrade = same_host && from.scheme_str() == Some("http") && to.scheme_str() == Some("https");
    (same_origin || upgrade).then_some(to)
}

/// The delay before retry number `attempt` (1-based): full jitter over
/// `min(cap, BACKOFF_BASE × 2^(attempt-1))`, never less than a `Retry-After`.
pub(crate) fn backoff(attempt: u32, cap: Duration, retry_after: Option<Duration>) -> Duration {
    let ceiling = BACKOFF_BASE.saturating_mul(1 << attempt.saturating_sub(1).min(20)).min(cap);
    let jittered = ceiling.mul_f64(fastrand::f64());
    jittered.max(retry_after.unwrap_or_default())
}

/// The `job` label of remote-written series.
pub(crate) const JOB: &str = "system-stats";

/// Why a spooled entry cannot be sent.
#[derive(Debug, thiserror::Error)]
pub(crate) enum EncodeError {
    #[error(transparent)]
    Sample(#[from] SampleError),
    #[error("not a system-stats snapshot: {0}")]
    Snapshot(serde_json::Error),
    #[error(transparent)]
    Entry(#[from] super::entry::EntryError),
    #[error("a scrape whose text is not Prometheus text: {0}")]
    Text(#[from] crate::metrics::parse::ParseError),
    #[error("a scrape spooled for a JSON destination (the JSON payload is built from /system)")]
    ScrapeForJson,
    #[error("a sample spooled for a notification destination, or a notice for a sample destination")]
    WrongKind,
}

/// A request body, and what was left out of `details` to keep it under the newest
/// server's limit (JSON payloads only).
#[derive(Debug)]
pub(crate) struct Encoded {
    pub body: Body,
    pub left_out: Vec<String>,
    pub still_too_big: bool,
    /// Remote-write: the series of this request, for the next one's staleness markers once
    /// this one is delivered.
    pub series: Option<rw::Series>,
}

use crate::metrics::remote_write as rw;

/// Builds the request for a destination from a spooled entry. `previous`: the series of the
/// last remote-write request delivered (to mark those gone from this one stale).
pub(crate) fn encode(
    format: Format,
    entry: &[u8],
    previous: Option<&rw::Series>,
    chat: Option<&crate::config::Chat>,
) -> Result<Encoded, EncodeError> {
    let plain = |body| Encoded { body, left_out: Vec::new(), still_too_big: false, series: None };
    let json = |value: serde_json::Value| Body {
        bytes: Bytes::from(serde_json::to_vec(&value).unwrap_or_default()),
        headers: vec![("content-type", "application/json")],
    };
    let (families, instance, ms) = match super::entry::Entry::decode(entry)? {
        super::entry::Entry::Notice(n) => {
            return match format {
                Format::Alertmanager => Ok(plain(json(super::notify::alertmanager_body(&n, chrono::Utc::now())))),
                Format::Webhook => Ok(plain(json(super::notify::webhook_body(&n)))),
                Format::Chat | Format::Email => {
                    Ok(plain(json(super::notify::chat_body(&n, chat.unwrap_or(&Default::default())))))
                }
                _ => Err(EncodeError::WrongKind),
            };
        }
        _ if format.notifies() => return Err(EncodeError::WrongKind),
        super::entry::Entry::Snapshot(body) => {
            let sample = Sample::parse(body)?;
            if format == Format::Json {
                let p = sample.payload(body);
                return Ok(Encoded {
                    body: Body { bytes: Bytes::from(p.bytes), headers: vec![("content-type", "application/json")] },
                    left_out: p.left_out,
                    still_too_big: p.still_too_big,
                    series: None,
                });
            }
            // spooled for a metric destination before scrapes were: the series a snapshot has
            let typed: crate::snapshot::Snapshot = serde_json::from_slice(body).map_err(EncodeError::Snapshot)?;
            let ms = i64::try_from(sample.collected_at_us / 1000).unwrap_or(i64::MAX);
            (crate::collect::snapshot_families(&typed, &[], None), sample.hostname, ms)
        }
        super::entry::Entry::Scrape(scrape) => {
            if format == Format::Json {
                return Err(EncodeError::ScrapeForJson);
            }
            (crate::metrics::parse::parse(&scrape.text)?.families, scrape.instance, scrape.collected_at_ms)
        }
    };
    Ok(match format {
        Format::RemoteWrite => {
            let req = rw::write_request(&families, JOB, &instance, ms, previous);
            let body = Body {
                bytes: Bytes::from(rw::encode(&req)),
                headers: vec![
                    ("content-type", rw::CONTENT_TYPE),
                    ("content-encoding", rw::CONTENT_ENCODING),
                    (rw::VERSION_HEADER.0, rw::VERSION_HEADER.1),
                ],
            };
            Encoded { series: Some(rw::series(req)), ..plain(body) }
        }
        Format::Influx | Format::Json | Format::Alertmanager | Format::Webhook | Format::Chat | Format::Email => {
            plain(Body {
                bytes: Bytes::from(crate::metrics::influx::lines(&families, &instance, ms.saturating_mul(1_000_000))),
                headers: vec![("content-type", "text/plain; charset=utf-8")],
            })
        }
    })
}

#[derive(Clone)]
pub(crate) struct Sender {
    pub dest: Destination,
    pub spool: SharedSpool,
    /// The spool's count of damaged files set aside, read without its lock.
    pub set_aside: Arc<std::sync::atomic::AtomicU64>,
    pub wake: Arc<Notify>,
    pub stats: Arc<Stats>,
    pub client: Client,
    /// Credentials and extra headers sent with every request (to redirects too: they are
    /// only followed to the same host).
    pub headers: Vec<(http::HeaderName, http::HeaderValue)>,
    /// Longest backoff between retries.
    pub backoff_cap: Duration,
    /// How long a delivery may take (`SYSTEM_STATS_FORWARD_TIMEOUT`; the HTTP client has it
    /// too): an SMTP conversation's bound.
    pub timeout: Duration,
    /// Least time between two deliveries while a backlog drains.
    pub min_gap: Option<Duration>,
    /// Remote-write: the series of the last request delivered (staleness markers).
    pub previous: Arc<Mutex<Option<rw::Series>>>,
    /// The refused samples, for the log: the first said, then a count now and then.
    pub refusals: Arc<Mutex<super::Summarised>>,
}

/// A destination's state, for the log.
#[derive(Debug, Clone, PartialEq)]
enum State {
    Up,
    Down,
    Misconfigured,
    SpoolFault,
}

/// Tracks the destination's state for the log: lines on changes, summaries while it lasts.
struct Health {
    state: State,
    since: Instant,
    reason: String,
    attempts: u64,
    last_summary: Instant,
}

/// What one step of the sender did.
enum Step {
    /// The spool is empty.
    Idle,
    /// A sample was attempted.
    Attempted(u64, Outcome),
    /// An entry that is not a snapshot was dropped.
    Undecodable,
    /// The spool could not be read.
    Spool(SpoolError),
}

impl Sender {
    fn label(&self) -> &str {
        &self.dest.label
    }

    async fn oldest(&self) -> Result<Option<(u64, Vec<u8>)>, SpoolError> {
        with_spool(&self.spool, |s| s.oldest()).await
    }

    /// Removes a delivered or dropped sample. A removal that cannot be written is remembered
    /// by the spool (the sample is not sent again) and written when the disk allows.
    async fn remove(&self, seq: u64) {
        let (removed, len) = with_spool(&self.spool, move |s| (s.remove(seq), s.samples())).await;
        self.stats.backlog.store(len, Ordering::Relaxed);
        if let Err(e) = removed {
            tracing::warn!(destination = self.label(), "{e}; the sample will not be sent again");
        }
    }

    /// POSTs `body`, following 307/308 to the same origin or its https:// form.
    async fn post(&self, body: Body) -> Result<Reply, RequestError> {
        let mut url = self.dest.url.clone();
        for _ in 0..MAX_REDIRECTS {
            let reply = self.client.post(&url, body.clone(), &self.headers).await?;
            let code = reply.status.as_u16();
            match (code, reply.location.as_deref().and_then(|l| follow(&url, l))) {
                (307 | 308, Some(next)) => {
                    tracing::debug!(destination = self.label(), "{code} to {next}: following");
                    url = next;
                }
                _ => return Ok(reply),
            }
        }
        self.client.post(&url, body, &self.headers).await
    }

    /// One step: the oldest sample attempted, or an undecodable entry dropped.
    async fn step(&self) -> Step {
        let (seq, entry) = match self.oldest().await {
            Ok(Some(next)) => next,
            Ok(None) => return Step::Idle,
            Err(e) => return Step::Spool(e),
        };
        let encoded = {
            let previous = self.previous.locked();
            encode(self.dest.format, &entry, previous.as_ref(), self.dest.chat.as_ref())
        };
        match encoded {
            Ok(encoded) => {
                if !encoded.left_out.is_empty() && !self.stats.trimmed.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        destination = self.label(),
                        "details are over the server's 64 KiB as Python writes them: left out {} (keys the \
                         dashboard does not read){}; logged once",
                        encoded.left_out.join(", "),
                        if encoded.still_too_big { ", and still too big: the server will drop them" } else { "" }
                    );
                }
                let outcome = if self.dest.format == Format::Email {
                    super::email::deliver(&self.dest, &encoded.body.bytes, self.timeout).await
                } else {
                    let result = self.post(encoded.body).await;
                    if let Ok(reply) = &result {
                        self.stats.last_status.store(u64::from(reply.status.as_u16()), Ordering::Relaxed);
                    }
                    classify(result)
                };
                if outcome == Outcome::Delivered && encoded.series.is_some() {
                    *self.previous.locked() = encoded.series;
                }
                Step::Attempted(seq, outcome)
            }
            Err(e) => {
                let n = self.stats.undecodable.fetch_add(1, Ordering::Relaxed) + 1;
                let head = String::from_utf8_lossy(&entry[..entry.len().min(60)]).into_owned();
                tracing::error!(
                    destination = self.label(),
                    "spooled entry {seq} is not a snapshot or a scrape it can send ({e}; it begins {head:?}): removed \
                     without sending, {n} so far"
                );
                self.remove(seq).await;
                Step::Undecodable
            }
        }
    }

    /// Records a refused sample and drops it; the log says the first of an episode, then how
    /// many more at most every [`SUMMARY_EVERY`] (a receiver refusing a long backlog as too
    /// old refuses every sample of it).
    async fn reject(&self, seq: u64, reason: &str) {
        self.stats.rejected.fetch_add(1, Ordering::Relaxed);
        if let Some(n) = self.refusals.locked().note() {
            tracing::warn!(
                destination = self.label(),
                "{n} sample(s) dropped, the server refused them (last: {reason}); counted in \
                 system_stats_forwarder_dropped_total{{reason=\"refused\"}}"
            );
        }
        self.remove(seq).await;
    }

    /// Delivers until stopped: waits for samples, retries failures with backoff.
    pub(crate) async fn run(self, mut stop: watch::Receiver<bool>) {
        let now = Instant::now();
        let mut health = Health { state: State::Up, since: now, reason: String::new(), attempts: 0, last_summary: now };
        let mut failures: u32 = 0;
        let mut pace = Pace::new(self.min_gap.map(|g| 1.0 / g.as_secs_f64()));
        let gap = |d: Duration| (!d.is_zero()).then_some(d);
        loop {
            if *stop.borrow() {
                return;
            }
            let pause = match self.step().await {
                Step::Idle => {
                    tokio::select! {
                        () = self.wake.notified() => continue,
                        _ = stop.changed() => return,
                    }
                }
                Step::Undecodable => None,
                Step::Attempted(seq, Outcome::Delivered) => {
                    failures = 0;
                    let wait = pace.delivered(Instant::now());
                    self.stats.delivered.fetch_add(1, Ordering::Relaxed);
                    self.stats.last_success_ms.store(unix_ms(), Ordering::Relaxed);
                    self.remove(seq).await;
                    self.enter(&mut health, State::Up, String::new());
                    gap(wait)
                }
                Step::Attempted(seq, Outcome::Refused { reason }) => {
                    failures = 0;
                    self.reject(seq, &reason).await;
                    self.enter(&mut health, State::Up, String::new());
                    self.min_gap
                }
                Step::Attempted(_, Outcome::Retry { throttled: true, after, .. }) => {
                    // the server's pace, not an outage: its Retry-After to the letter, else
                    // the limit it is found to keep (see pace)
                    let was_full_speed = !pace.is_slowed();
                    self.stats.retries.fetch_add(1, Ordering::Relaxed);
                    self.stats.throttled.fetch_add(1, Ordering::Relaxed);
                    let wait = match after {
                        Some(after) => after,
                        None => pace.throttled(Instant::now()),
                    };
                    if was_full_speed && after.is_none() {
                        tracing::info!(
                            destination = self.label(),
                            "the server throttles (429 without Retry-After): delivering at the pace it allows, which \
                             is being learned"
                        );
                    }
                    gap(wait)
                }
                Step::Attempted(_, Outcome::Retry { reason, after, .. }) => {
                    failures = failures.saturating_add(1);
                    self.stats.retries.fetch_add(1, Ordering::Relaxed);
                    self.enter(&mut health, State::Down, reason);
                    Some(backoff(failures, self.backoff_cap, after))
                }
                Step::Attempted(_, Outcome::Misconfigured { reason }) => {
                    failures = failures.saturating_add(1);
                    self.stats.retries.fetch_add(1, Ordering::Relaxed);
                    self.enter(&mut health, State::Misconfigured, reason);
                    Some(backoff(failures, self.backoff_cap, None))
                }
                Step::Spool(e) => {
                    failures = failures.saturating_add(1);
                    let after = match &e {
                        SpoolError::Closed { retry_in, .. } => Some(*retry_in),
                        _ => None,
                    };
                    self.enter(&mut health, State::SpoolFault, e.to_string());
                    Some(backoff(failures, self.backoff_cap, after))
                }
            };
            let failing = failures > 0;
            self.stats
                .backoff_ms
                .store(if failing { pause.map_or(0, |p| p.as_millis() as u64) } else { 0 }, Ordering::Relaxed);
            self.stats.pace_milli.store(pace.rate().map_or(0, |r| (r * 1000.0).round() as u64), Ordering::Relaxed);
            if let Some(pause) = pause {
                tokio::select! {
                    () = tokio::time::sleep(pause) => {}
                    _ = stop.changed() => return,
                }
            }
        }
    }

    /// Delivers the whole spool with one attempt per sample; `true` when it ends empty.
    pub(crate) async fn run_once(&self) -> bool {
        loop {
            match self.step().await {
                Step::Idle => return true,
                Step::Undecodable => {}
                Step::Attempted(seq, Outcome::Delivered) => {
                    self.stats.delivered.fetch_add(1, Ordering::Relaxed);
                    self.stats.last_success_ms.store(unix_ms(), Ordering::Relaxed);
                    self.remove(seq).await;
                }
                Step::Attempted(seq, Outcome::Refused { reason }) => {
                    self.reject(seq, &reason).await;
                    return false;
                }
                Step::Attempted(_, Outcome::Retry { reason, .. } | Outcome::Misconfigured { reason }) => {
                    let backlog = self.stats.backlog.load(Ordering::Relaxed);
                    tracing::warn!(
                        destination = self.label(),
                        "not delivered: {reason}; {backlog} sample(s) stay spooled for the next run"
                    );
                    return false;
                }
                Step::Spool(e) => {
                    tracing::error!(destination = self.label(), "{e}");
                    return false;
                }
            }
        }
    }

    /// Logs a change of state once; while a bad state lasts, a summary every [`SUMMARY_EVERY`].
    fn enter(&self, health: &mut Health, state: State, reason: String) {
        self.stats.up.store(state == State::Up, Ordering::Relaxed);
        let backlog = self.stats.backlog.load(Ordering::Relaxed);
        let label = self.label();
        if state == health.state {
            if state != State::Up {
                health.attempts += 1;
                if health.last_summary.elapsed() >= SUMMARY_EVERY {
                    health.last_summary = Instant::now();
                    tracing::warn!(
                        destination = label,
                        "still {} after {:.0} s: {} attempts, last: {reason}; {backlog} sample(s) spooled",
                        match state {
                            State::Down => "down",
                            State::Misconfigured => "refusing samples as misconfigured",
                            _ => "unable to use its spool",
                        },
                        health.since.elapsed().as_secs_f64(),
                        health.attempts
                    );
                }
                health.reason = reason;
            }
            return;
        }
        let was = std::mem::replace(
            health,
            Health {
                state: state.clone(),
                since: Instant::now(),
                reason: reason.clone(),
                attempts: 1,
                last_summary: Instant::now(),
            },
        );
        match state {
            State::Up => tracing::info!(
                destination = label,
                "reachable again after {:.0} s and {} attempts (last: {}); delivering {backlog} spooled sample(s)",
                was.since.elapsed().as_secs_f64(),
                was.attempts,
                was.reason
            ),
            State::Down => tracing::warn!(
                destination = label,
                "cannot deliver: {reason}; samples stay spooled ({backlog} now) and are retried"
            ),
            State::Misconfigured => tracing::error!(
                destination = label,
                "the destination is misconfigured: {reason}. Samples stay spooled ({backlog} now) and are retried"
            ),
            State::SpoolFault => tracing::error!(
                destination = label,
                "{reason}; delivery waits for the spool (the server is not at fault)"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(status: u16, retry_after: Option<u64>) -> Result<Reply, RequestError> {
        Ok(Reply {
            status: hyper::StatusCode::from_u16(status).unwrap(),
            retry_after: retry_after.map(Duration::from_secs),
            location: None,
            headers: Default::default(),
            body: Bytes::from_static(br#"{"error": "missing key: cpu"}"#),
        })
    }

    #[test]
    fn replies_are_sorted_into_deliver_retry_refuse_misconfigured() {
        assert_eq!(classify(reply(200, None)), Outcome::Delivered);
        assert_eq!(classify(reply(204, None)), Outcome::Delivered);
        for status in [408, 425, 429, 500, 502, 503] {
            assert!(matches!(classify(reply(status, None)), Outcome::Retry { .. }), "{status}");
        }
        assert!(matches!(
            classify(reply(429, Some(7))),
            Outcome::Retry { after: Some(d), .. } if d == Duration::from_secs(7)
        ));
        assert!(matches!(
            classify(reply(503, Some(86_400))),
            Outcome::Retry { after: Some(d), .. } if d == MAX_RETRY_AFTER
        ));
        for status in REFUSING {
            match classify(reply(status, None)) {
                Outcome::Refused { reason } => assert!(reason.contains("missing key: cpu"), "{reason}"),
                other => panic!("{status}: {other:?}"),
            }
        }
        for status in [301, 302, 303, 307, 308, 401, 403, 404, 405, 410, 418, 451] {
            assert!(matches!(classify(reply(status, None)), Outcome::Misconfigured { .. }), "{status}");
        }
        let Outcome::Misconfigured { reason } = classify(reply(401, None)) else { unreachable!() };
        assert!(reason.contains("credentials"), "{reason}");
        let mut moved = reply(301, None).unwrap();
        moved.location = Some("https://elsewhere.example/m".into());
        let Outcome::Misconfigured { reason } = classify(Ok(moved)) else { unreachable!() };
        assert!(reason.contains("https://elsewhere.example/m") && reason.contains("MONITORING_SERVER_METRICS_URL"));
        assert!(matches!(classify(Err(RequestError::Transport("refused".into()))), Outcome::Retry { .. }));
    }

    #[test]
    fn redirects_followed_only_to_the_same_origin_or_its_https_form() {
        let from: http::Uri = "http://monitor.lan:5050/metrics".parse().unwrap();
        assert_eq!(follow(&from, "/api/metrics").unwrap(), "http://monitor.lan:5050/api/metrics");
        assert_eq!(follow(&from, "http://MONITOR.lan:5050/v2").unwrap(), "http://MONITOR.lan:5050/v2");
        assert_eq!(follow(&from, "https://monitor.lan/metrics").unwrap(), "https://monitor.lan/metrics");
        assert_eq!(follow(&from, "https://monitor.lan:8443/metrics").unwrap(), "https://monitor.lan:8443/metrics");
        assert!(follow(&from, "http://monitor.lan:6060/metrics").is_none());
        assert!(follow(&from, "http://evil.example/metrics").is_none());
        assert!(follow(&from, "relative/path").is_none());
        assert!(follow(&from, "::garbage").is_none());
        let https: http::Uri = "https://monitor.lan/metrics".parse().unwrap();
        // no downgrade
        assert!(follow(&https, "http://monitor.lan/metrics").is_none());
    }

    #[test]
    fn backoff_grows_is_capped_and_honours_retry_after() {
        let cap = Duration::from_secs(10);
        for _ in 0..200 {
            assert!(backoff(1, cap, None) <= BACKOFF_BASE);
            assert!(backoff(3, cap, None) <= BACKOFF_BASE * 4);
            assert!(backoff(30, cap, None) <= cap);
            assert!(backoff(1, cap, Some(Duration::from_secs(5))) >= Duration::from_secs(5));
        }
        // full jitter: spread over the whole range, not pinned to the ceiling
        let samples: Vec<Duration> = (0..200).map(|_| backoff(10, cap, None)).collect();
        assert!(samples.iter().any(|d| *d < cap / 4) && samples.iter().any(|d| *d > cap * 3 / 4));
    }
}
