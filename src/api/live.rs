//! The live page (`GET /`), its event stream (`GET /events`, Server-Sent Events) and the
//! history behind its charts (`GET /history`).

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Frame, SizeHint};
use hyper::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderMap, HeaderValue, RETRY_AFTER};
use hyper::{Response, StatusCode};
use tokio::sync::mpsc;

use super::{AppState, Body, with_type};
use crate::live::SUBSCRIBER_BUFFER;

/// A comment line sent when no sample came for this long, so that proxies, the browser and
/// the connection's idle timeout see the stream alive.
pub(super) const HEARTBEAT: Duration = Duration::from_secs(15);

/// How long a browser waits before it reconnects (the `retry:` field).
const RETRY_MS: u64 = 2000;

/// The page: one document, its script and style inline, nothing loaded from elsewhere.
const PAGE: &str = include_str!("page.html");

/// The live page.
///
/// One self-contained HTML document (no script, style or font from elsewhere): cards and
/// charts of every family this service reads, live from `/events`, over 5 minutes, an hour or
/// a day from `/history`. Served without a token: it holds no data, and asks for the token
/// when the service needs one (kept in the browser's session storage, sent in an
/// `Authorization` header, never in a URL).
#[utoipa::path(
    get,
    path = "/",
    tag = "page",
    responses((status = 200, description = "The page", content_type = "text/html; charset=utf-8"))
)]
pub(super) fn page(_: &AppState) -> Response<Body> {
    let mut r = with_type(StatusCode::OK, "text/html; charset=utf-8", Bytes::from_static(PAGE.as_bytes()));
    // nothing but itself: no other origin for scripts, styles, images, fonts or connections
    r.headers_mut().insert(
        "content-security-policy",
        HeaderValue::from_static(
            "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; \
             img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        ),
    );
    r.headers_mut().insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    r.headers_mut().insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    r
}

/// The history of the page's figures.
///
/// `window`: `5m`, `1h`, `24h` or a number of seconds up to 86400 (default 5m). An hour or
/// less comes at full resolution (one point per second, or per sample when sampling is
/// slower); more comes as one point per minute with its `min`, `mean` and `max`. Series are
/// named `cpu`, `core/<n>`, `load1`, `load5`, `load15`, `memory`, `swap` (percent),
/// `fs/<mount point>` (percent), `disk.read/<device>`, `disk.write/<device>`,
/// `net.rx/<interface>`, `net.tx/<interface>` (bytes per second), `temp/<chip>/<label>` (°C),
/// `container.cpu/<name>` (percent), `container.memory/<name>` (bytes). `null` where a series
/// had no value.
#[utoipa::path(
    get,
    path = "/history",
    tag = "page",
    params(("window" = Option<String>, Query, description = "5m, 1h, 24h, or seconds (1 to 86400)")),
    responses(
        (status = 200, description = "The window", body = super::types::HistoryDoc),
        (status = 400, description = "A window that is not one", body = super::types::ErrorBody)
    )
)]
pub(super) fn history(state: &AppState, query: Option<&str>) -> Response<Body> {
    let mut window = 300;
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "window" => match crate::live::history::parse_window(value) {
                Ok(w) => window = w,
                Err(e) => return super::error(StatusCode::BAD_REQUEST, &e),
            },
            other => {
                return super::error(
                    StatusCode::BAD_REQUEST,
                    &format!("unknown parameter {other:?} (try window=5m, 1h or 24h)"),
                );
            }
        }
    }
    let json = state.sampler.live.history_json(window);
    super::json(StatusCode::OK, json)
}

/// The subscribers of `/events` at a time.
#[derive(Debug)]
pub struct Subscribers {
    max: usize,
    count: Arc<AtomicUsize>,
}

impl Subscribers {
    pub fn new(max: usize) -> Subscribers {
        Subscribers { max, count: Arc::new(AtomicUsize::new(0)) }
    }

    /// Subscribers now.
    pub fn count(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    fn join(&self) -> Option<Subscribed> {
        let mut now = self.count.load(Ordering::Relaxed);
        loop {
            if now >= self.max {
                return None;
            }
            match self.count.compare_exchange(now, now + 1, Ordering::AcqRel, Ordering::Relaxed) {
                Ok(_) => return Some(Subscribed(Arc::clone(&self.count))),
                Err(actual) => now = actual,
            }
        }
    }
}

/// One subscriber counted until dropped.
#[derive(Debug)]
struct Subscribed(Arc<AtomicUsize>);

impl Drop for Subscribed {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Each sample as it is taken.
///
/// Server-Sent Events (`text/event-stream`): an `event: sample` per sample whose `data:` is
/// the figures the page draws (one JSON line) and whose `id:` is the sample's time in unix
/// milliseconds; a `: heartbeat` comment when no sample came for 15 s. A client that comes
/// back with `Last-Event-ID` gets the samples it missed, from the last 64 kept; a client that
/// does not read fast enough is dropped. At most `SYSTEM_STATS_MAX_EVENT_CLIENTS` at a time:
/// beyond, 503.
#[utoipa::path(
    get,
    path = "/events",
    tag = "page",
    params(("Last-Event-ID" = Option<String>, Header, description = "The last id received, to resume from it")),
    responses(
        (status = 200, description = "The stream", content_type = "text/event-stream"),
        (status = 503, description = "Too many subscribers", body = super::types::ErrorBody)
    )
)]
pub(super) fn events(state: &AppState, headers: &HeaderMap) -> Response<Body> {
    let Some(subscribed) = state.events.join() else {
        let mut r = super::error(
            StatusCode::SERVICE_UNAVAILABLE,
            &format!(
                "{} subscribers to /events already (SYSTEM_STATS_MAX_EVENT_CLIENTS); try again later",
                state.events.max
            ),
        );
        r.headers_mut().insert(RETRY_AFTER, HeaderValue::from_static("10"));
        return r;
    };
    let after = headers.get("last-event-id").and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<u64>().ok());
    let (tx, rx) = mpsc::channel(SUBSCRIBER_BUFFER);
    let sampler = Arc::clone(&state.sampler);
    tokio::spawn(async move {
        let behind = feed(&sampler, after, &tx).await;
        // the place is given back before the log says so
        drop(subscribed);
        if behind {
            tracing::debug!("an /events subscriber fell {SUBSCRIBER_BUFFER} samples behind: dropped");
        }
    });
    let mut r = Response::new(http_body_util::Either::Right(http_body_util::BodyExt::boxed(EventBody { rx })));
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    r
}

/// Sends one subscriber its frames until it goes away or falls behind (`true`).
async fn feed(sampler: &crate::sampler::Shared, after: Option<u64>, tx: &mpsc::Sender<Bytes>) -> bool {
    let live = &sampler.live;
    if tx.send(Bytes::from(format!("retry: {RETRY_MS}\n\n"))).await.is_err() {
        return false;
    }
    let mut last = after;
    loop {
        let woken = live.new_frame.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        let (frames, gap) = live.frames_after(last);
        if gap {
            let note = format!(": samples after {} are no longer kept; /history has them\n\n", last.unwrap_or(0));
            if tx.try_send(Bytes::from(note)).is_err() {
                return false;
            }
        }
        // a subscriber keeps the processes in the samples it is sent
        sampler.note(crate::collect::Asked::SNAPSHOT);
        for (id, frame) in frames {
            match tx.try_send(frame) {
                Ok(()) => last = Some(id),
                Err(mpsc::error::TrySendError::Full(_)) => return true,
                Err(mpsc::error::TrySendError::Closed(_)) => return false,
            }
        }
        tokio::select! {
            () = &mut woken => {}
            () = tokio::time::sleep(HEARTBEAT) => {
                if tx.try_send(Bytes::from_static(b": heartbeat\n\n")).is_err() {
                    return false;
                }
            }
            () = tx.closed() => return false,
        }
    }
}

/// The body of `/events`: the frames its feeder sends, until the feeder stops.
#[derive(Debug)]
pub(super) struct EventBody {
    rx: mpsc::Receiver<Bytes>,
}

impl hyper::body::Body for EventBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.rx.poll_recv(cx).map(|frame| frame.map(|b| Ok(Frame::data(b))))
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}
