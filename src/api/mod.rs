//! The service's endpoints: `/system` and `/health` ([`system`]), `/metrics`, the live page,
//! `/events` and `/history`, `/openapi.json` and `/docs`, answered from the sampler's published
//! snapshot, never from the kernel. The server they run on is [`crate::web`]'s.

mod live;
mod metrics;
pub(crate) mod openapi;
mod system;
pub(crate) mod types;

use std::net::IpAddr;
use std::sync::Arc;

use hyper::body::Incoming;
use hyper::header::{AUTHORIZATION, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};

use crate::sampler::Shared;
use crate::web::server::{Access, App, HostHeader, Waiting, error, host_header, not_allowed};
pub(crate) use crate::web::server::{Body, json, with_type};

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    pub sampler: Arc<Shared>,
    pub access: Arc<Access>,
    /// The subscribers of `/events`.
    pub events: Arc<live::Subscribers>,
}

impl AppState {
    /// `max_event_clients`: `SYSTEM_STATS_MAX_EVENT_CLIENTS`.
    pub fn new(sampler: Arc<Shared>, access: Access, max_event_clients: usize) -> AppState {
        AppState { sampler, access: Arc::new(access), events: Arc::new(live::Subscribers::new(max_event_clients)) }
    }
}

/// Paths answered without the token: the probe, and the page (it holds no data; its script
/// sends the token with its own requests).
const OPEN_PATHS: &[&str] = &["/health", "/"];

impl App for AppState {
    fn access(&self) -> &Access {
        &self.access
    }

    fn open_paths(&self) -> &'static [&'static str] {
        OPEN_PATHS
    }

    fn dispatch(&self, req: &Request<Incoming>) -> Response<Body> {
        dispatch(self, req)
    }

    /// A request for `/system`, `/metrics` or the page's data keeps the families it reads
    /// running, and waits for them when the latest sample was taken without them.
    fn ready(&self, req: &Request<Incoming>, _peer: IpAddr) -> Option<Waiting> {
        use crate::collect::Asked;
        if !matches!(*req.method(), Method::GET | Method::HEAD) {
            return None;
        }
        let need = match req.uri().path() {
            "/system" | "/events" | "/history" => Asked::SNAPSHOT,
            "/metrics" => Asked::METRICS,
            _ => return None,
        };
        let allowed = || {
            let host = match host_header(req) {
                HostHeader::One(h) => self.access.hosts.allows(h),
                HostHeader::Absent => true,
                HostHeader::Missing | HostHeader::Several => false,
            };
            host && self.access.auth.as_ref().is_none_or(|auth| auth.accepts(req.headers().get(AUTHORIZATION)))
        };
        self.sampler.fresh(need, allowed).map(|waiting| Box::pin(waiting) as Waiting)
    }
}

fn dispatch(state: &AppState, req: &Request<Incoming>) -> Response<Body> {
    let path = req.uri().path();
    let get = matches!(*req.method(), Method::GET | Method::HEAD);
    let handler: fn(&AppState) -> Response<Body> = match path {
        "/" => live::page,
        "/history" if get => return live::history(state, req.uri().query()),
        "/events" if get => return live::events(state, req.headers()),
        "/history" | "/events" => return not_allowed(req.method(), path),
        "/system" => system::system,
        "/health" => system::health,
        "/openapi.json" => openapi::openapi_json,
        "/docs" => openapi::docs,
        "/metrics" => {
            return match *req.method() {
                Method::GET | Method::HEAD => metrics::metrics(state, req.headers()),
                ref m => not_allowed(m, path),
            };
        }
        _ => {
            return error(
                StatusCode::NOT_FOUND,
                &format!("no such endpoint: {path} (try /, /system, /metrics, /health or /docs)"),
            );
        }
    };
    match *req.method() {
        Method::GET | Method::HEAD => handler(state),
        ref m => not_allowed(m, path),
    }
}

/// `response` with the name of the sample it carries and the time it was taken.
fn named_sample(mut response: Response<Body>, (id, at): (HeaderValue, HeaderValue)) -> Response<Body> {
    const SAMPLE: hyper::header::HeaderName = hyper::header::HeaderName::from_static(crate::web::SAMPLE_HEADER);
    const COLLECTED_AT: hyper::header::HeaderName =
        hyper::header::HeaderName::from_static(crate::web::COLLECTED_AT_HEADER);
    let h = response.headers_mut();
    h.insert(SAMPLE, id);
    h.insert(COLLECTED_AT, at);
    response
}
