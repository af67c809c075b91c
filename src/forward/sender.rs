//! One destination's sender: takes the oldest spooled sample, delivers it, and removes it
//! only after a 2xx, so samples leave in order and none is lost while the server is down.
//!
//! - 2xx: removed; the next one goes out, no faster than the rate limit while a backlog drains.
//! - connection errors, timeouts, 408, 429 and 5xx: kept and retried after an exponential
//!   backoff with full jitter (`Retry-After` honoured, up to [`MAX_RETRY_AFTER`]).
//! - any other 4xx: the server will never take that sample; it is dropped, counted and the
//!   server's answer logged.
//!
//! Logs: one warning when a destination goes down, one line when it is back, a summary every
//! [`SUMMARY_EVERY`] while it stays down; never a line per retry.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::{Notify, watch};

use super::http::{Body, Client, Reply};
use super::payload::Sample;
use super::spool::{Spool, SpoolError};
use crate::config::{Destination, Format};

/// First retry delay (before jitter); it doubles per failed attempt up to the cap.
pub const BACKOFF_BASE: Duration = Duration::from_millis(250);
/// Longest `Retry-After` obeyed.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(600);
/// How often a destination that stays down is summarised in the log.
pub const SUMMARY_EVERY: Duration = Duration::from_secs(300);

pub type SharedSpool = Arc<Mutex<Spool>>;

/// Runs a spool operation on the blocking pool (each commit is an fsync).
pub async fn with_spool<T: Send + 'static>(spool: &SharedSpool, f: impl FnOnce(&mut Spool) -> T + Send + 'static) -> T {
    let spool = Arc::clone(spool);
    tokio::task::spawn_blocking(move || f(&mut spool.lock().unwrap_or_else(|p| p.into_inner())))
        .await
        .expect("spool operations do not panic")
}

/// Counters and state of one destination, shared with the poller's log line.
#[derive(Debug, Default)]
pub struct Stats {
    pub up: AtomicBool,
    pub delivered: AtomicU64,
    pub rejected: AtomicU64,
    pub evicted: AtomicU64,
    pub retries: AtomicU64,
    pub backlog: AtomicU64,
}

/// What one delivery attempt came to.
#[derive(Debug, PartialEq)]
pub enum Outcome {
    Delivered,
    Retry { reason: String, after: Option<Duration> },
    Rejected { reason: String },
}

/// Sorts a reply (or a transport error) into deliver / retry / reject.
pub fn classify(result: Result<Reply, String>) -> Outcome {
    let reply = match result {
        Ok(r) => r,
        Err(reason) => return Outcome::Retry { reason, after: None },
    };
    let status = reply.status;
    let body = String::from_utf8_lossy(&reply.body[..reply.body.len().min(500)]).trim().to_string();
    if status.is_success() {
        Outcome::Delivered
    } else if status.as_u16() == 408 || status.as_u16() == 429 || status.is_server_error() {
        let after = reply.retry_after.map(|d| d.min(MAX_RETRY_AFTER));
        Outcome::Retry { reason: format!("HTTP {status}: {body}"), after }
    } else {
        Outcome::Rejected { reason: format!("HTTP {status}: {body}") }
    }
}

/// The delay before retry number `attempt` (1-based): full jitter over
/// `min(cap, BACKOFF_BASE × 2^(attempt-1))`, never less than a `Retry-After`.
pub fn backoff(attempt: u32, cap: Duration, retry_after: Option<Duration>) -> Duration {
    let ceiling = BACKOFF_BASE.saturating_mul(1 << attempt.saturating_sub(1).min(20)).min(cap);
    let jittered = ceiling.mul_f64(fastrand::f64());
    jittered.max(retry_after.unwrap_or_default())
}

/// The `job` label of remote-written series.
pub const JOB: &str = "system-stats";

/// Builds the request for a destination from a spooled snapshot.
pub fn encode(format: Format, snapshot: &[u8]) -> Result<Body, String> {
    let sample = Sample::parse(snapshot)?;
    if format == Format::Json {
        return Ok(Body {
            bytes: Bytes::from(sample.payload_bytes(snapshot)),
            headers: vec![("content-type", "application/json")],
        });
    }
    let typed: crate::snapshot::Snapshot =
        serde_json::from_slice(snapshot).map_err(|e| format!("not a system-stats snapshot: {e}"))?;
    let families = crate::metrics::families(&typed, &[], None);
    let at = chrono::DateTime::parse_from_rfc3339(&typed.collected_at).map_err(|e| e.to_string())?;
    Ok(match format {
        Format::RemoteWrite => {
            use crate::metrics::remote_write as rw;
            let req = rw::write_request(&families, JOB, &sample.hostname, at.timestamp_millis());
            Body {
                bytes: Bytes::from(rw::encode(&req)),
                headers: vec![
                    ("content-type", rw::CONTENT_TYPE),
                    ("content-encoding", rw::CONTENT_ENCODING),
                    (rw::VERSION_HEADER.0, rw::VERSION_HEADER.1),
                ],
            }
        }
        Format::Influx => {
            let ns = at.timestamp_nanos_opt().ok_or("collected_at out of range")?;
            Body {
                bytes: Bytes::from(crate::metrics::influx::lines(&families, &sample.hostname, ns)),
                headers: vec![("content-type", "text/plain; charset=utf-8")],
            }
        }
        Format::Json => unreachable!("handled above"),
    })
}

#[derive(Clone)]
pub struct Sender {
    pub dest: Destination,
    pub spool: SharedSpool,
    pub wake: Arc<Notify>,
    pub stats: Arc<Stats>,
    pub client: Client,
    /// Longest backoff between retries.
    pub backoff_cap: Duration,
    /// Least time between two deliveries while a backlog drains.
    pub min_gap: Option<Duration>,
}

/// Tracks down / up for the log.
struct Health {
    down: Option<(Instant, String)>,
    attempts: u64,
    last_summary: Instant,
}

impl Sender {
    fn label(&self) -> &str {
        &self.dest.label
    }

    async fn oldest(&self) -> Result<Option<(u64, Vec<u8>)>, SpoolError> {
        with_spool(&self.spool, |s| s.oldest()).await
    }

    async fn remove(&self, seq: u64) {
        let removed = with_spool(&self.spool, move |s| s.remove(seq).map(|_| s.len())).await;
        match removed {
            Ok(len) => self.stats.backlog.store(len, Ordering::Relaxed),
            Err(e) => tracing::error!(destination = self.label(), "{e}"),
        }
    }

    /// One attempt at the oldest sample. `None` when the spool is empty.
    async fn attempt(&self) -> Option<(u64, Outcome)> {
        let (seq, snapshot) = match self.oldest().await {
            Ok(Some(next)) => next,
            Ok(None) => return None,
            Err(e) => return Some((u64::MAX, Outcome::Retry { reason: e.to_string(), after: None })),
        };
        let body = match encode(self.dest.format, &snapshot) {
            Ok(body) => body,
            Err(e) => return Some((seq, Outcome::Rejected { reason: format!("unreadable spooled sample: {e}") })),
        };
        Some((seq, classify(self.client.post(&self.dest.url, body).await)))
    }

    /// Records a rejected sample and drops it.
    async fn reject(&self, seq: u64, reason: &str) {
        self.stats.rejected.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(destination = self.label(), "sample dropped, the server refused it: {reason}");
        self.remove(seq).await;
    }

    /// Delivers until stopped: waits for samples, retries failures with backoff.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let mut health = Health { down: None, attempts: 0, last_summary: Instant::now() };
        let mut failures: u32 = 0;
        loop {
            if *stop.borrow() {
                return;
            }
            let Some((seq, outcome)) = self.attempt().await else {
                tokio::select! {
                    () = self.wake.notified() => continue,
                    _ = stop.changed() => return,
                }
            };
            let pause = match outcome {
                Outcome::Delivered => {
                    failures = 0;
                    self.stats.delivered.fetch_add(1, Ordering::Relaxed);
                    self.remove(seq).await;
                    self.mark_up(&mut health);
                    self.min_gap
                }
                Outcome::Rejected { reason } => {
                    failures = 0;
                    self.reject(seq, &reason).await;
                    self.mark_up(&mut health);
                    self.min_gap
                }
                Outcome::Retry { reason, after } => {
                    failures = failures.saturating_add(1);
                    self.stats.retries.fetch_add(1, Ordering::Relaxed);
                    self.mark_down(&mut health, reason);
                    Some(backoff(failures, self.backoff_cap, after))
                }
            };
            if let Some(pause) = pause {
                tokio::select! {
                    () = tokio::time::sleep(pause) => {}
                    _ = stop.changed() => return,
                }
            }
        }
    }

    /// Delivers the whole spool with one attempt per sample; `true` when it ends empty.
    pub async fn run_once(&self) -> bool {
        loop {
            match self.attempt().await {
                None => return true,
                Some((seq, Outcome::Delivered)) => {
                    self.stats.delivered.fetch_add(1, Ordering::Relaxed);
                    self.remove(seq).await;
                }
                Some((seq, Outcome::Rejected { reason })) => {
                    self.reject(seq, &reason).await;
                    return false;
                }
                Some((_, Outcome::Retry { reason, .. })) => {
                    let backlog = self.stats.backlog.load(Ordering::Relaxed);
                    tracing::warn!(
                        destination = self.label(),
                        "not delivered: {reason}; {backlog} sample(s) stay spooled for the next run"
                    );
                    return false;
                }
            }
        }
    }

    fn mark_up(&self, health: &mut Health) {
        self.stats.up.store(true, Ordering::Relaxed);
        if let Some((since, reason)) = health.down.take() {
            tracing::info!(
                destination = self.label(),
                "reachable again after {:.0} s and {} attempts (last error: {reason}); delivering {} spooled sample(s)",
                since.elapsed().as_secs_f64(),
                health.attempts,
                self.stats.backlog.load(Ordering::Relaxed)
            );
        }
        health.attempts = 0;
    }

    fn mark_down(&self, health: &mut Health, reason: String) {
        self.stats.up.store(false, Ordering::Relaxed);
        health.attempts += 1;
        let backlog = self.stats.backlog.load(Ordering::Relaxed);
        match &mut health.down {
            None => {
                tracing::warn!(
                    destination = self.label(),
                    "cannot deliver: {reason}; samples stay spooled ({backlog} now) and are retried"
                );
                health.down = Some((Instant::now(), reason));
                health.last_summary = Instant::now();
            }
            Some((since, last)) => {
                *last = reason;
                if health.last_summary.elapsed() >= SUMMARY_EVERY {
                    health.last_summary = Instant::now();
                    tracing::warn!(
                        destination = self.label(),
                        "still down after {:.0} s: {} attempts, last error: {last}; {backlog} sample(s) spooled",
                        since.elapsed().as_secs_f64(),
                        health.attempts
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(status: u16, retry_after: Option<u64>) -> Result<Reply, String> {
        Ok(Reply {
            status: hyper::StatusCode::from_u16(status).unwrap(),
            retry_after: retry_after.map(Duration::from_secs),
            body: Bytes::from_static(br#"{"error": "missing key: cpu"}"#),
        })
    }

    #[test]
    fn replies_are_sorted_into_deliver_retry_reject() {
        assert_eq!(classify(reply(200, None)), Outcome::Delivered);
        assert_eq!(classify(reply(204, None)), Outcome::Delivered);
        for status in [408, 429, 500, 502, 503] {
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
        match classify(reply(400, None)) {
            Outcome::Rejected { reason } => assert!(reason.contains("missing key: cpu"), "{reason}"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(classify(reply(404, None)), Outcome::Rejected { .. }));
        assert!(matches!(classify(Err("connection refused".into())), Outcome::Retry { .. }));
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
