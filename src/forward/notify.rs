//! Notifications: the alerts the service reports (its `/system`'s `alerts`), turned into
//! notices for the notification destinations (`SYSTEM_STATS_NOTIFY_URLS`), spooled and
//! delivered like samples: in order, retried, never lost.
//!
//! Each destination's spool keeps what it has been told ([`Told`]) in the same transaction as
//! the notices made from a sample, so that after `kill -9` or a restart an alert is neither
//! told twice nor forgotten. From one sample to the next:
//! - an alert firing that the destination has not been told of: a *firing* notice; for a
//!   webhook at most one per alert per cooldown (`SYSTEM_STATS_ALERT_COOLDOWN`, statix's
//!   rule: a flapping alert does not storm), for Alertmanager always (its grouping, inhibition
//!   and repeat intervals do that job);
//! - an alert it was told of that is no longer firing (resolved, or gone from the list: its
//!   series went away, or the service restarted): a *resolved* notice. An alert whose firing
//!   was held back by the cooldown is never told resolved;
//! - Alertmanager forgets an alert not re-sent within its `endsAt`: while an alert fires and
//!   the spool is empty, it is sent again every [`REFRESH`], as Prometheus re-sends.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::Format;
use crate::snapshot::{Alert, AlertState};

/// What marks a spooled notice (a sample is JSON, a scrape starts with its own magic).
pub(crate) const MAGIC: &[u8; 5] = b"\0ssn\x01";

/// The key the spool keeps a destination's [`Told`] under.
pub(crate) const STATE_KEY: &str = "told";

/// How often a firing alert is sent to Alertmanager again (Prometheus's `resend-delay`).
pub(crate) const REFRESH: Duration = Duration::from_secs(60);

/// `endsAt` of a firing alert sent to Alertmanager: four re-sends ahead, as Prometheus sets.
pub(crate) const ENDS_AFTER: Duration = Duration::from_secs(4 * 60);

/// One notice: an alert firing or resolved, on a host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Notice {
    pub alert: Alert,
    /// `firing` or `resolved` (the alert's own state may say `firing` for a resolved notice
    /// made because it went away).
    pub event: AlertState,
    pub hostname: String,
    /// The service's live page (Alertmanager's `generatorURL`).
    pub page: String,
    /// A re-send of a firing alert already told (Alertmanager only).
    #[serde(default)]
    pub refresh: bool,
}

impl Notice {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        // a Notice always serialises (strings, numbers, a map of strings)
        out.extend(serde_json::to_vec(self).unwrap_or_default());
        out
    }

    pub(crate) fn decode(body: &[u8]) -> Result<Notice, serde_json::Error> {
        serde_json::from_slice(body)
    }

    /// When it happened: the alert's firing or resolution time.
    pub(crate) fn at(&self) -> &str {
        match self.event {
            AlertState::Resolved => self.alert.resolved_at.as_deref().unwrap_or(&self.alert.since),
            _ => self.alert.fired_at.as_deref().unwrap_or(&self.alert.since),
        }
    }
}

/// What a destination has been told of one alert.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Told1 {
    /// The episode it was told of (the alert's `fired_at`).
    fired_at: Option<String>,
    /// Whether its firing was told (and not yet its resolution).
    firing: bool,
    /// When a firing notice was last made (Unix seconds): the cooldown runs from it.
    last_firing: f64,
    /// When it was last sent to Alertmanager (first time or re-send).
    last_sent: f64,
    /// The alert as last told, for a resolved notice when it has gone from the list.
    alert: Option<Alert>,
}

/// What a destination has been told, by alert (name, severity, labels).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Told {
    alerts: BTreeMap<String, Told1>,
}

impl Told {
    pub(crate) fn decode(bytes: Option<&[u8]>) -> Told {
        // a state that does not decode (written by a newer forwarder, damaged) is started
        // afresh: at worst an alert is told again
        bytes.and_then(|b| serde_json::from_slice(b).ok()).unwrap_or_default()
    }

    pub(crate) fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}

fn key(a: &Alert) -> String {
    let labels: Vec<String> = a.labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{}|{}|{}", a.name, a.severity, labels.join(","))
}

/// What a sample's alerts tell a destination of `format`, given what it was told; updates
/// `told`. `now`: Unix seconds; `backlog`: whether its spool still holds notices (no re-sends
/// then: they would only queue behind).
pub(crate) fn notices(
    told: &mut Told,
    alerts: &[Alert],
    format: Format,
    (now, now_text): (f64, &str),
    cooldown: Duration,
    backlog: bool,
) -> Vec<(Alert, AlertState, bool)> {
    let mut out = Vec::new();
    let cooldown = cooldown.as_secs_f64();
    let manager = format == Format::Alertmanager;
    let mut firing_now = std::collections::HashSet::new();
    for a in alerts.iter().filter(|a| a.state == AlertState::Firing) {
        let k = key(a);
        firing_now.insert(k.clone());
        let t = told.alerts.entry(k).or_default();
        if t.fired_at != a.fired_at {
            t.fired_at = a.fired_at.clone();
            if t.firing {
                // a new episode without the end of the last one seen (a poll missed it)
                if let Some(old) = t.alert.take() {
                    out.push((old, AlertState::Resolved, false));
                }
                t.firing = false;
            }
        }
        if !t.firing {
            if manager || t.last_firing == 0.0 || now - t.last_firing >= cooldown {
                t.firing = true;
                t.last_firing = now;
                t.last_sent = now;
                t.alert = Some(a.clone());
                out.push((a.clone(), AlertState::Firing, false));
            }
        } else if manager && !backlog && now - t.last_sent >= REFRESH.as_secs_f64() {
            t.last_sent = now;
            t.alert = Some(a.clone());
            out.push((a.clone(), AlertState::Firing, true));
        }
    }
    for (k, t) in told.alerts.iter_mut() {
        if t.firing && !firing_now.contains(k) {
            t.firing = false;
            let listed = alerts.iter().find(|a| key(a) == *k);
            let mut a = match (listed, t.alert.take()) {
                (Some(a), _) => a.clone(),
                (None, Some(a)) => a,
                (None, None) => continue,
            };
            if a.resolved_at.is_none() {
                // gone from the list (its series went away, or the service restarted)
                a.resolved_at = Some(now_text.to_string());
            }
            a.state = AlertState::Resolved;
            out.push((a, AlertState::Resolved, false));
        }
    }
    // forget what no longer matters: not firing, and its cooldown over
    told.alerts.retain(|k, t| t.firing || firing_now.contains(k) || now - t.last_firing < cooldown);
    out
}

/// Alertmanager's API v2 body (`POST /api/v2/alerts`): one alert, with `instance` and the
/// service's labels, the summary and figures as annotations; `endsAt` the resolution time,
/// or [`ENDS_AFTER`] from `now` while it fires.
pub(crate) fn alertmanager_body(n: &Notice, now: chrono::DateTime<chrono::Utc>) -> serde_json::Value {
    let a = &n.alert;
    let mut labels = serde_json::Map::new();
    for (k, v) in &a.labels {
        labels.insert(k.clone(), v.clone().into());
    }
    labels.insert("alertname".into(), a.name.clone().into());
    labels.insert("severity".into(), a.severity.clone().into());
    labels.insert("instance".into(), n.hostname.clone().into());
    labels.insert("job".into(), "system-stats".into());
    let ends = match n.event {
        AlertState::Resolved => a.resolved_at.clone().unwrap_or_else(|| rfc3339(now)),
        _ => rfc3339(now + chrono::TimeDelta::from_std(ENDS_AFTER).unwrap_or_default()),
    };
    serde_json::json!([{
        "labels": labels,
        "annotations": {
            "summary": a.summary,
            "quantity": a.quantity,
            "value": crate::alerts::rules::round(a.value),
            "threshold": format!("{} {}", a.comparison, crate::alerts::rules::round(a.threshold)),
        },
        "startsAt": a.fired_at.clone().unwrap_or_else(|| a.since.clone()),
        "endsAt": ends,
        "generatorURL": n.page,
    }])
}

/// statix's alert webhook body (`hostname`, `metric`, `value` with two decimals, `threshold`,
/// `timestamp` in Unix seconds), and ours beside it: `alertname`, `state`, `severity`,
/// `labels`, `summary`, `since`, `fired_at`, `resolved_at`.
pub(crate) fn webhook_body(n: &Notice) -> serde_json::Value {
    let a = &n.alert;
    let metric = match a.quantity.as_str() {
        "cpu.percent" => "cpu",
        "memory.used_percent" => "ram",
        q => q,
    };
    let timestamp = crate::metrics::unix_seconds(n.at()).unwrap_or_default();
    serde_json::json!({
        "hostname": n.hostname,
        "metric": metric,
        "value": (a.value * 100.0).round() / 100.0,
        "threshold": a.threshold,
        "timestamp": timestamp,
        "alertname": a.name,
        "state": n.event.as_str(),
        "severity": a.severity,
        "labels": a.labels,
        "summary": a.summary,
        "since": a.since,
        "fired_at": a.fired_at,
        "resolved_at": a.resolved_at,
    })
}

/// A chat message's text: `[FIRING] name on host: summary (severity)`.
fn text(n: &Notice) -> String {
    let a = &n.alert;
    let word = if n.event == AlertState::Resolved { "RESOLVED" } else { "FIRING" };
    format!("[{word}] {} on {}: {} ({})", a.name, n.hostname, a.summary, a.severity)
}

/// A chat service's body (JSON) for a notice.
pub(crate) fn chat_body(n: &Notice, chat: &crate::config::Chat) -> serde_json::Value {
    use crate::config::ChatService;
    let resolved = n.event == AlertState::Resolved;
    let text = text(n);
    let title = chat.title.clone().unwrap_or_else(|| format!("{}: {}", n.hostname, n.alert.name));
    let severe = match (resolved, n.alert.severity.as_str()) {
        (true, _) | (false, "info") => 0,
        (false, "critical") => 2,
        _ => 1,
    };
    match chat.service {
        Some(ChatService::Ntfy) => {
            let priority = match chat.priority.as_deref() {
                Some("min" | "1") => 1,
                Some("low" | "2") => 2,
                Some("default" | "3") => 3,
                Some("high" | "4") => 4,
                Some("max" | "urgent" | "5") => 5,
                _ => [3, 4, 5][severe],
            };
            let mut tags = vec![
                if resolved { "white_check_mark" } else { ["information_source", "warning", "rotating_light"][severe] }
                    .to_string(),
            ];
            tags.extend(chat.tags.iter().flat_map(|t| t.split(',').map(str::to_string)));
            serde_json::json!({"topic": chat.channel, "title": title, "message": text, "priority": priority, "tags": tags})
        }
        Some(ChatService::Gotify) => {
            let priority = chat.priority.as_deref().and_then(|p| p.parse::<u32>().ok()).unwrap_or([2, 5, 8][severe]);
            serde_json::json!({"title": title, "message": text, "priority": priority})
        }
        Some(ChatService::SlackBot) => serde_json::json!({"channel": chat.channel, "text": text}),
        Some(ChatService::Mattermost) => {
            let mut body = serde_json::json!({"text": text});
            if let Some(u) = &chat.username {
                body["username"] = u.clone().into();
            }
            if let Some(c) = &chat.channel {
                body["channel"] = c.clone().into();
            }
            body
        }
        Some(ChatService::Discord) => serde_json::json!({"content": text.chars().take(2000).collect::<String>()}),
        Some(ChatService::Telegram) => serde_json::json!({"chat_id": chat.channel, "text": text}),
        Some(ChatService::Email) => {
            let word = if resolved { "RESOLVED" } else { "FIRING" };
            let subject = match &chat.title {
                Some(t) => format!("[{word}] {t}"),
                None => format!("[{word}] {} on {}", n.alert.name, n.hostname),
            };
            let a = &n.alert;
            let mut body = format!("{text}\n\n");
            for (k, v) in [
                ("host", n.hostname.clone()),
                ("alert", a.name.clone()),
                ("severity", a.severity.clone()),
                ("state", n.event.as_str().to_string()),
                ("value", crate::alerts::rules::round(a.value)),
                ("condition", format!("{} {} {}", a.quantity, a.comparison, crate::alerts::rules::round(a.threshold))),
                ("since", a.since.clone()),
                ("fired at", a.fired_at.clone().unwrap_or_default()),
                ("resolved at", a.resolved_at.clone().unwrap_or_default()),
                ("page", n.page.clone()),
            ] {
                if !v.is_empty() {
                    body.push_str(&format!("{k}: {v}\n"));
                }
            }
            for (k, v) in &a.labels {
                body.push_str(&format!("{k}: {v}\n"));
            }
            serde_json::json!({"subject": subject, "text": body})
        }
        Some(ChatService::SlackWebhook) | None => serde_json::json!({"text": text}),
    }
}

fn rfc3339(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(name: &str, state: AlertState, fired_at: Option<&str>) -> Alert {
        Alert {
            name: name.into(),
            state,
            severity: "warning".into(),
            labels: [("mountpoint".to_string(), "/".to_string())].into(),
            quantity: "cpu.percent".into(),
            value: 91.256,
            comparison: ">=".into(),
            threshold: 90.0,
            clear: 90.0,
            since: "2027-01-15T08:00:00Z".into(),
            fired_at: fired_at.map(str::to_string),
            resolved_at: None,
            summary: "hot".into(),
            chart: None,
        }
    }

    fn kinds(v: &[(Alert, AlertState, bool)]) -> Vec<(String, AlertState, bool)> {
        v.iter().map(|(a, e, r)| (a.name.clone(), *e, *r)).collect()
    }

    /// A webhook: firing once, resolved once; a flapping alert fires again only after the
    /// cooldown, and one held back is never told resolved.
    #[test]
    fn a_webhook_hears_each_episode_once_per_cooldown() {
        let mut told = Told::default();
        let cool = Duration::from_secs(300);
        let f = |t: &str| alert("Hot", AlertState::Firing, Some(t));
        let n =
            notices(&mut told, &[alert("Hot", AlertState::Pending, None)], Format::Webhook, (0.0, "t"), cool, false);
        assert!(n.is_empty(), "pending is not told");
        let n = notices(&mut told, &[f("a")], Format::Webhook, (10.0, "t"), cool, false);
        assert_eq!(kinds(&n), [("Hot".into(), AlertState::Firing, false)]);
        assert!(notices(&mut told, &[f("a")], Format::Webhook, (20.0, "t"), cool, false).is_empty());
        let n = notices(&mut told, &[], Format::Webhook, (30.0, "t30"), cool, false);
        assert_eq!(kinds(&n), [("Hot".into(), AlertState::Resolved, false)]);
        assert_eq!(n[0].0.resolved_at.as_deref(), Some("t30"), "gone from the list: resolved now");
        // it fires again within the cooldown: held back; resolves: nothing to tell
        assert!(notices(&mut told, &[f("b")], Format::Webhook, (40.0, "t"), cool, false).is_empty());
        assert!(notices(&mut told, &[], Format::Webhook, (50.0, "t"), cool, false).is_empty());
        // fires again after the cooldown: told
        let n = notices(&mut told, &[f("c")], Format::Webhook, (311.0, "t"), cool, false);
        assert_eq!(kinds(&n), [("Hot".into(), AlertState::Firing, false)]);
        // the state survives a round trip (the spool keeps it)
        let mut back = Told::decode(Some(&told.encode()));
        assert_eq!(back, told);
        let resolved = alert("Hot", AlertState::Resolved, Some("c"));
        let n = notices(&mut back, &[resolved], Format::Webhook, (320.0, "t"), cool, false);
        assert_eq!(kinds(&n), [("Hot".into(), AlertState::Resolved, false)]);
    }

    /// Alertmanager: every episode, and re-sent every minute while firing (not while a
    /// backlog drains).
    #[test]
    fn alertmanager_hears_every_episode_and_re_sends() {
        let mut told = Told::default();
        let cool = Duration::from_secs(300);
        let f = |t: &str| alert("Hot", AlertState::Firing, Some(t));
        assert_eq!(notices(&mut told, &[f("a")], Format::Alertmanager, (0.0, "t"), cool, false).len(), 1);
        assert!(notices(&mut told, &[f("a")], Format::Alertmanager, (30.0, "t"), cool, false).is_empty());
        assert!(notices(&mut told, &[f("a")], Format::Alertmanager, (61.0, "t"), cool, true).is_empty(), "backlog");
        let n = notices(&mut told, &[f("a")], Format::Alertmanager, (62.0, "t"), cool, false);
        assert_eq!(kinds(&n), [("Hot".into(), AlertState::Firing, true)]);
        assert_eq!(notices(&mut told, &[], Format::Alertmanager, (70.0, "t"), cool, false).len(), 1);
        let n = notices(&mut told, &[f("b")], Format::Alertmanager, (80.0, "t"), cool, false);
        assert_eq!(kinds(&n), [("Hot".into(), AlertState::Firing, false)], "no cooldown for Alertmanager");
    }

    #[test]
    fn bodies() {
        let mut a = alert("HostRamThreshold", AlertState::Firing, Some("2027-01-15T08:00:05Z"));
        a.quantity = "memory.used_percent".into();
        let n = Notice {
            alert: a,
            event: AlertState::Firing,
            hostname: "pi".into(),
            page: "http://pi:5001/".into(),
            refresh: false,
        };
        let w = webhook_body(&n);
        assert_eq!(w["metric"], "ram");
        assert_eq!(w["value"], 91.26);
        assert_eq!(w["timestamp"], 1_800_000_005.0);
        let now = chrono::DateTime::parse_from_rfc3339("2027-01-15T08:01:00Z").unwrap().to_utc();
        let m = alertmanager_body(&n, now);
        assert_eq!(m[0]["labels"]["instance"], "pi");
        assert_eq!(m[0]["labels"]["alertname"], "HostRamThreshold");
        assert_eq!(m[0]["startsAt"], "2027-01-15T08:00:05Z");
        assert_eq!(m[0]["endsAt"], "2027-01-15T08:05:00Z");
        let back = Notice::decode(&n.encode()[MAGIC.len()..]).unwrap();
        assert_eq!(back, n);
    }
}
