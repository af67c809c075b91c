//! The shapes of the answers other than the snapshot (which is [`crate::snapshot`]): what
//! the handlers build and what the OpenAPI document describes, in a module of their own so
//! that neither imports the other.

use serde::Serialize;
use utoipa::ToSchema;

/// `GET /health` while samples keep coming.
#[derive(Serialize, ToSchema)]
pub(crate) struct HealthOk {
    /// Always `ok`.
    pub status: String,
}

/// `GET /health` once no sample came for three intervals.
#[derive(Serialize, ToSchema)]
pub(crate) struct HealthDown {
    /// Always `unavailable`.
    pub status: String,
    /// Why, e.g. `no sample for 3.4 s; the sampler should take one every 1 s`.
    pub error: String,
}

/// Every error answer (404, 405).
#[derive(Serialize, ToSchema)]
pub(crate) struct ErrorBody {
    pub error: String,
}

/// `GET /history`: a window of the page's figures.
#[derive(Serialize, ToSchema)]
pub(crate) struct HistoryDoc {
    /// Seconds asked for.
    pub window: u64,
    /// Seconds between points: 1 (or the sampling interval, when longer) up to an hour, 60
    /// beyond.
    pub resolution: u64,
    /// Each point's time, unix seconds.
    pub times: Vec<f64>,
    /// Each series by name (`cpu`, `core/0`, `memory`, `fs//`, `net.rx/eth0`, ...): one value
    /// per time.
    pub series: std::collections::BTreeMap<String, HistorySeries>,
}

/// One series of `/history`: the values (for minute points, their means), and for minute
/// points the minima and maxima. `null` where it had no value.
#[derive(Serialize, ToSchema)]
pub(crate) struct HistorySeries {
    pub mean: Vec<Option<f64>>,
    pub min: Option<Vec<Option<f64>>>,
    pub max: Option<Vec<Option<f64>>>,
}
