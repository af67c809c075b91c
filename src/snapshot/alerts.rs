//! The alerts the service evaluates on every sample (`alerts`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One alert of a rule: one series of the rule's quantity (a mount point, a unit, a sensor...)
/// whose condition holds (`pending` until it has held for the rule's `for`, then `firing`), or
/// that stopped holding a short while ago (`resolved`, kept 15 minutes so that a forwarder that
/// polls less often than the service samples still sees the episode).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Alert {
    /// The rule's name (Prometheus's `alertname`), e.g. `FilesystemAlmostOutOfSpace`.
    pub name: String,
    /// `pending`, `firing` or `resolved`.
    pub state: AlertState,
    /// `info`, `warning` or `critical`.
    pub severity: String,
    /// What the alert is about (`mountpoint`, `device`, `unit`, `sensor`, `container`...): with
    /// `name`, the alert's identity. Empty for a host-wide quantity such as `cpu.percent`.
    pub labels: BTreeMap<String, String>,
    /// The quantity the rule compares, from the documented list, e.g. `filesystem.used_percent`.
    pub quantity: String,
    /// The quantity's value at the last evaluation (for a resolved alert, the one that cleared it).
    pub value: f64,
    /// `>`, `>=`, `<`, `<=`, `==` or `!=`: the condition is `value <comparison> threshold`.
    pub comparison: String,
    pub threshold: f64,
    /// The level the value must cross back over for a firing alert to resolve (the threshold
    /// itself when the rule has no hysteresis).
    pub clear: f64,
    /// When the condition started to hold (UTC, RFC 3339).
    pub since: String,
    /// When the alert started firing; `null` while pending.
    pub fired_at: Option<String>,
    /// When it resolved; `null` unless resolved.
    pub resolved_at: Option<String>,
    /// The rule's summary with the alert's labels and value filled in.
    pub summary: String,
    /// The live page's chart the alert concerns and where its threshold lies on it (`null` for
    /// quantities without a chart).
    pub chart: Option<AlertChart>,
}

/// An alert's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AlertState {
    Pending,
    Firing,
    Resolved,
}

impl AlertState {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Pending => "pending",
            AlertState::Firing => "firing",
            AlertState::Resolved => "resolved",
        }
    }
}

/// Where an alert's threshold lies on a chart of the live page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AlertChart {
    /// The `/history` series, e.g. `cpu`, `memory`, `fs//`, `temp/coretemp/Package id 0`.
    pub series: String,
    /// The threshold in that series' unit.
    pub threshold: f64,
}
