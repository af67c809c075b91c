//! The state of each alert from sample to sample, and what `/system` and `/metrics` show of it.
//!
//! An alert is one rule and one series of its quantity (its labels). It is *pending* from the
//! first sample where the condition holds, *firing* once it has held for the rule's `for`
//! (at once when `for` is 0), and *resolved* when a firing alert's value crosses back over the
//! rule's clearing level or its series goes away (an unmounted filesystem, a removed
//! container). A pending alert whose condition stops holding is forgotten: it never fired. A
//! resolved alert is kept 15 minutes, so that a forwarder polling less often than the service
//! samples still sees the episode end. Durations are measured on the monotonic clock: a clock
//! step neither fires nor holds back an alert.

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime};

use chrono::{DateTime, SecondsFormat, Utc};

use super::quantity::{FastMap, Input, Labels, Memory, Quantity, Value};
use super::rules::Rules;
use crate::collect::Families;
use crate::metrics::{Family, Kind, LabelName, Sample};
use crate::snapshot::{Alert, AlertChart, AlertState, Text};

/// How long a resolved alert stays in the list.
pub(crate) const RESOLVED_KEPT: Duration = Duration::from_secs(15 * 60);

/// How long the quantities keep a series' counters and trends after it was last seen.
const MEMORY_KEPT: Duration = Duration::from_secs(7 * 3600);

#[derive(Debug)]
struct State {
    /// The evaluation that last saw its series (one that did not: the series went away).
    seen: u64,
    phase: AlertState,
    since: Instant,
    since_text: String,
    fired_at: Option<String>,
    resolved: Option<(Instant, String)>,
    value: f64,
    /// What the list showed of it last: shown again while its phase and value stay.
    shown: Option<Alert>,
}

/// The rules and the state of their alerts.
#[derive(Debug)]
pub struct Engine {
    rules: Rules,
    memory: Memory,
    /// By rule (its index), by series: looked up without copying a series' labels.
    states: Vec<FastMap<Labels, State>>,
    /// Evaluations so far.
    generation: u64,
    plan: Plan,
    /// By slot: its quantity's values, and the evaluation that read them (kept from one
    /// evaluation to the next for their room).
    values: Vec<(Vec<Value>, u64)>,
}

/// What each rule reads, worked out once: every quantity the rules read has a slot, read at
/// most once per evaluation; and the families both its quantities need.
#[derive(Debug, Default)]
struct Plan {
    /// By rule: the slots of its quantity and of its `and` quantity.
    slots: Vec<(usize, Option<usize>)>,
    /// By rule: the families its quantities read.
    needs: Vec<Families>,
    /// How many slots.
    count: usize,
}

/// A slot's values past this many are not kept for the next evaluation (a host with 20 000
/// mounts has 20 000 values per filesystem quantity).
const VALUES_KEPT: usize = 4096;

impl Plan {
    fn new(rules: &Rules) -> Plan {
        let mut names: Vec<&'static str> = Vec::new();
        let mut slot = |q: &'static Quantity| match names.iter().position(|n| *n == q.name) {
            Some(i) => i,
            None => {
                names.push(q.name);
                names.len() - 1
            }
        };
        let slots: Vec<(usize, Option<usize>)> =
            rules.rules.iter().map(|r| (slot(r.quantity), r.and.as_ref().map(|a| slot(a.quantity)))).collect();
        let needs = rules
            .rules
            .iter()
            .map(|r| {
                let of = |q: &Quantity| Families::of(q.families);
                r.and.as_ref().map_or(of(r.quantity), |a| of(r.quantity).union(of(a.quantity)))
            })
            .collect();
        Plan { slots, needs, count: names.len() }
    }
}

impl Engine {
    pub fn new(rules: Rules) -> Engine {
        let plan = Plan::new(&rules);
        let states = (0..rules.rules.len()).map(|_| FastMap::default()).collect();
        let values = (0..plan.count).map(|_| (Vec::new(), 0)).collect();
        Engine { rules, memory: Memory::default(), states, generation: 0, plan, values }
    }

    /// The families the rules read: they must run in every sample.
    pub fn families(&self) -> Vec<&'static str> {
        self.rules.families()
    }

    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    /// Evaluates every rule on one sample taken at `wall` (its `collected_at`); returns the
    /// alerts (pending, firing, resolved in the last 15 minutes) sorted by name and labels.
    pub fn evaluate(&mut self, input: &Input<'_>, wall: SystemTime) -> Vec<Alert> {
        let at = input.at;
        // the sample's time as text, formatted only when an alert changes
        let mut now = Stamp { wall, text: None };
        self.generation += 1;
        let generation = self.generation;
        let snapshot = input.snapshot;
        for (index, rule) in self.rules.rules.iter().enumerate() {
            if !input.has(self.plan.needs[index]) {
                // its families are not in this sample: its alerts stay as they are
                for s in self.states[index].values_mut() {
                    if s.seen + 1 == generation {
                        s.seen = generation;
                    }
                }
                continue;
            }
            let (main, also_slot) = self.plan.slots[index];
            let mut fill = |slot: usize, q: &'static Quantity| {
                let (values, read_in) = &mut self.values[slot];
                if *read_in != generation {
                    values.clear();
                    q.read(input, &mut self.memory, values);
                    debug_assert!(values.windows(2).all(|w| w[0].item < w[1].item), "{q:?}: items out of order");
                    *read_in = generation;
                }
            };
            fill(main, rule.quantity);
            let also = match (also_slot, &rule.and) {
                (Some(slot), Some(a)) => {
                    fill(slot, a.quantity);
                    Some((&self.values[slot].0, a))
                }
                _ => None,
            };
            let over = rule.quantity.over;
            let states = &mut self.states[index];
            for v in &self.values[main].0 {
                // made when needed: most values need no labels
                let mut labels: Option<Labels> = None;
                let make = || over.labels(snapshot, v.item);
                if !rule.matchers.is_empty() {
                    let l = labels.get_or_insert_with(make);
                    if !rule.matchers.iter().all(|m| m.matches(l)) {
                        continue;
                    }
                }
                let joined = also.is_none_or(|(other, a)| {
                    let holds = |w: &Value| a.comparison.holds(w.value, a.threshold);
                    if a.quantity.over == over {
                        other.binary_search_by_key(&v.item, |w| w.item).is_ok_and(|k| holds(&other[k]))
                    } else {
                        let l = labels.get_or_insert_with(make);
                        other.iter().any(|w| holds(w) && a.quantity.over.labels(snapshot, w.item) == *l)
                    }
                });
                // nothing pending or firing (the usual case): no series to look up
                let state = if states.is_empty() { None } else { states.get_mut(labels.get_or_insert_with(make)) };
                let firing = state.as_ref().is_some_and(|s| s.phase == AlertState::Firing);
                let holds = joined && rule.holds(v.value, firing);
                match state {
                    Some(s) if s.phase != AlertState::Resolved => {
                        if !holds && s.phase == AlertState::Pending {
                            // never fired: forgotten (the sweep below drops it)
                            s.seen = 0;
                            continue;
                        }
                        s.seen = generation;
                        s.value = v.value;
                        if !holds {
                            s.phase = AlertState::Resolved;
                            s.resolved = Some((at, now.text()));
                        } else if s.phase == AlertState::Pending && at.saturating_duration_since(s.since) >= rule.hold {
                            s.phase = AlertState::Firing;
                            s.fired_at = Some(now.text());
                        }
                    }
                    _ if holds => {
                        let fire = rule.hold.is_zero();
                        states.insert(
                            labels.take().unwrap_or_else(make),
                            State {
                                seen: generation,
                                phase: if fire { AlertState::Firing } else { AlertState::Pending },
                                since: at,
                                since_text: now.text(),
                                fired_at: fire.then(|| now.text()),
                                resolved: None,
                                value: v.value,
                                shown: None,
                            },
                        );
                    }
                    _ => {}
                }
            }
        }
        for (values, _) in &mut self.values {
            if values.capacity() > VALUES_KEPT {
                *values = Vec::new();
            }
        }
        // the series that went away: a pending alert is forgotten, a firing one resolves
        for states in self.states.iter_mut().filter(|s| !s.is_empty()) {
            states.retain(|_, s| match s.phase {
                AlertState::Resolved => {
                    s.resolved.as_ref().is_some_and(|(t, _)| at.saturating_duration_since(*t) <= RESOLVED_KEPT)
                }
                _ if s.seen == generation => true,
                AlertState::Pending => false,
                AlertState::Firing => {
                    s.phase = AlertState::Resolved;
                    s.resolved = Some((at, now.text()));
                    true
                }
            });
        }
        self.memory.forget_older_than(at, MEMORY_KEPT);
        let rules = &self.rules.rules;
        let mut alerts: Vec<Alert> = self
            .states
            .iter_mut()
            .enumerate()
            .flat_map(|(index, states)| states.iter_mut().map(move |(labels, s)| (index, labels, s)))
            .map(|(index, labels, s)| {
                if let Some(shown) = &s.shown
                    && shown.state == s.phase
                    && shown.value.to_bits() == s.value.to_bits()
                {
                    return shown.clone();
                }
                let rule = &rules[index];
                let chart = rule.quantity.chart.and_then(|c| c(labels, input.snapshot, rule.threshold));
                let alert = Alert {
                    name: rule.name.clone(),
                    state: s.phase,
                    severity: rule.severity.as_str().to_string(),
                    labels: labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>(),
                    quantity: rule.quantity.name.to_string(),
                    value: s.value,
                    comparison: rule.comparison.as_str().to_string(),
                    threshold: rule.threshold,
                    clear: rule.clear,
                    since: s.since_text.clone(),
                    fired_at: s.fired_at.clone(),
                    resolved_at: s.resolved.as_ref().map(|(_, t)| t.clone()),
                    summary: rule.summary_for(labels, s.value),
                    chart: chart.map(|(series, threshold)| AlertChart { series, threshold }),
                };
                s.shown = Some(alert.clone());
                alert
            })
            .collect();
        alerts.sort_by(|a, b| (&a.name, &a.labels, &a.severity).cmp(&(&b.name, &b.labels, &b.severity)));
        alerts
    }
}

/// A sample's wall-clock time, as the alerts say it (RFC 3339, to the second), formatted
/// the first time it is needed.
struct Stamp {
    wall: SystemTime,
    text: Option<String>,
}

impl Stamp {
    fn text(&mut self) -> String {
        let wall = self.wall;
        self.text.get_or_insert_with(|| DateTime::<Utc>::from(wall).to_rfc3339_opts(SecondsFormat::Secs, true)).clone()
    }
}

/// `ALERTS` and `ALERTS_FOR_STATE` as Prometheus writes them for its own rules: 1 for each
/// pending or firing alert, and since when its condition holds (Unix seconds).
pub fn families(alerts: &[Alert], out: &mut Vec<Family>) {
    let mut state =
        Family::new("ALERTS", Kind::Gauge, "Alerts of the rules the service evaluates (1 while pending or firing).");
    let mut since = Family::new(
        "ALERTS_FOR_STATE",
        Kind::Gauge,
        "When each pending or firing alert's condition started to hold (Unix seconds).",
    );
    for a in alerts.iter().filter(|a| a.state != AlertState::Resolved) {
        let mut labels: Vec<(LabelName, Text)> = vec![(LabelName::Static("alertname"), a.name.as_str().into())];
        let rest = std::iter::once((LabelName::Static("severity"), Text::from(a.severity.as_str())))
            .chain(a.labels.iter().map(|(k, v)| (LabelName::Shared(k.as_str().into()), Text::from(v.as_str()))));
        let mut with_state = labels.clone();
        with_state.push((LabelName::Static("alertstate"), a.state.as_str().into()));
        with_state.extend(rest.clone());
        labels.extend(rest);
        state.samples.push(Sample::new(with_state.into(), 1.0));
        if let Some(t) = crate::metrics::unix_seconds(&a.since) {
            since.samples.push(Sample::new(labels.into(), t));
        }
    }
    out.extend([state, since]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::rules::Thresholds;
    use crate::snapshot::Snapshot;

    fn engine(text: &str) -> Engine {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.toml");
        std::fs::write(&path, format!("disable = {:?}\n{text}", stock_names())).unwrap();
        Engine::new(Rules::load(Some(&path), Thresholds::default()).unwrap())
    }

    fn stock_names() -> Vec<String> {
        let mut names: Vec<String> =
            Rules::load(None, Thresholds::default()).unwrap().rules.into_iter().map(|r| r.name).collect();
        names.dedup();
        names
    }

    fn step(e: &mut Engine, s: &Snapshot, at: Instant, secs: u64) -> Vec<Alert> {
        let input = Input::new(s, &[], &[], at);
        e.evaluate(&input, SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000 + secs))
    }

    fn cpu(v: f64) -> Snapshot {
        let mut s = Snapshot::default();
        s.cpu.percent = Some(v);
        s
    }

    /// pending → firing after `for`, held above the clearing level, resolved below it, kept
    /// 15 minutes, then gone; a pending alert that stops holding never fires.
    #[test]
    fn an_alert_goes_pending_firing_resolved() {
        let mut e = engine(
            "[[rule]]\nname = \"Hot\"\nquantity = \"cpu.percent\"\ncomparison = \">\"\nthreshold = 90\nclear = 80\nfor = \"1m\"\nsummary = \"cpu {value} > {threshold}\"\n",
        );
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        assert!(step(&mut e, &cpu(95.0), at(0), 0).iter().all(|a| a.state == AlertState::Pending));
        assert!(step(&mut e, &cpu(50.0), at(10), 10).is_empty(), "a pending alert that stops holding is dropped");
        let a = step(&mut e, &cpu(95.0), at(20), 20);
        assert_eq!((a.len(), a[0].state, a[0].since.as_str()), (1, AlertState::Pending, "2027-01-15T08:00:20Z"));
        let a = step(&mut e, &cpu(91.0), at(80), 80);
        assert_eq!(a[0].state, AlertState::Firing);
        assert_eq!(a[0].fired_at.as_deref(), Some("2027-01-15T08:01:20Z"));
        assert_eq!(a[0].summary, "cpu 91 > 90");
        assert_eq!(a[0].chart, Some(AlertChart { series: "cpu".into(), threshold: 90.0 }));
        let a = step(&mut e, &cpu(85.0), at(90), 90);
        assert_eq!(a[0].state, AlertState::Firing, "above the clearing level it still fires");
        let a = step(&mut e, &cpu(79.0), at(100), 100);
        assert_eq!((a[0].state, a[0].resolved_at.as_deref()), (AlertState::Resolved, Some("2027-01-15T08:01:40Z")));
        assert_eq!(a[0].value, 79.0);
        let a = step(&mut e, &cpu(10.0), at(100 + 899), 999);
        assert_eq!(a[0].state, AlertState::Resolved);
        assert!(step(&mut e, &cpu(10.0), at(100 + 901), 1001).is_empty());
    }

    /// A series that goes away resolves its firing alert; labels keep alerts apart; the
    /// metric families say what is pending and firing.
    #[test]
    fn series_come_and_go() {
        let mut e = engine(
            "[[rule]]\nname = \"Full\"\nquantity = \"filesystem.used_percent\"\nlabels = { mountpoint = \"/mnt/*\" }\ncomparison = \">=\"\nthreshold = 90\n",
        );
        let fs = |m: &str, p: f64| crate::snapshot::Filesystem {
            mountpoint: m.into(),
            device: "/dev/x".into(),
            fstype: "ext4".into(),
            percent: Some(p),
            ..Default::default()
        };
        let mut s = Snapshot {
            filesystems: Some(vec![fs("/", 99.0), fs("/mnt/a", 95.0), fs("/mnt/b", 10.0)]),
            ..Default::default()
        };
        let t0 = Instant::now();
        let a = step(&mut e, &s, t0, 0);
        assert_eq!(a.len(), 1, "{a:?}");
        assert_eq!((a[0].state, a[0].labels["mountpoint"].as_str()), (AlertState::Firing, "/mnt/a"));
        let mut out = Vec::new();
        families(&a, &mut out);
        let text = crate::metrics::text::prometheus(&out);
        assert!(
            text.contains("ALERTS{alertname=\"Full\",alertstate=\"firing\",severity=\"warning\",device=\"/dev/x\",fstype=\"ext4\",mountpoint=\"/mnt/a\"} 1\n"),
            "{text}"
        );
        assert!(text.contains("ALERTS_FOR_STATE{alertname=\"Full\",severity=\"warning\",device=\"/dev/x\""), "{text}");
        s.filesystems = Some(vec![fs("/", 99.0)]);
        let a = step(&mut e, &s, t0 + Duration::from_secs(5), 5);
        assert_eq!(a[0].state, AlertState::Resolved);
        let mut out = Vec::new();
        families(&a, &mut out);
        assert!(out.iter().all(|f| f.samples.is_empty()), "a resolved alert is not in ALERTS");
    }

    /// A rule whose family did not run in a sample is not evaluated on it: its firing alert
    /// stays firing (not resolved for want of a value), and resolves on the next sample that
    /// has the family and no longer the condition.
    #[test]
    fn a_rule_waits_for_a_sample_with_its_families() {
        let mut e =
            engine("[[rule]]\nname = \"Hot\"\nquantity = \"cpu.percent\"\ncomparison = \">\"\nthreshold = 90\n");
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let on = |e: &mut Engine, s: &Snapshot, secs: u64, ran: &[&'static str]| {
            let ran = Families::of(ran);
            e.evaluate(&Input::new(s, &[], &[], at(secs)).ran(ran), SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
        };
        assert_eq!(on(&mut e, &cpu(95.0), 0, &["cpu"])[0].state, AlertState::Firing);
        for secs in 1..4 {
            let a = on(&mut e, &cpu(10.0), secs, &["memory"]);
            assert_eq!(a[0].state, AlertState::Firing, "resolved at {secs} s by a sample without cpu");
        }
        assert_eq!(on(&mut e, &cpu(10.0), 4, &["cpu"])[0].state, AlertState::Resolved);
    }

    /// An `and` joins the two quantities' series: by place when both are over the same list
    /// (a filesystem's space and its inodes), by labels when not (a disk and an interface of
    /// the same name).
    #[test]
    fn and_joins_series_of_the_same_labels() {
        let mut e = engine(
            "[[rule]]\nname = \"Full\"\nquantity = \"filesystem.used_percent\"\ncomparison = \">=\"\nthreshold = 90\n\
             and = { quantity = \"filesystem.inodes_free_percent\", comparison = \"<\", threshold = 10 }\n\
             [[rule]]\nname = \"BusyAndErrors\"\nquantity = \"disk.busy_percent\"\ncomparison = \">=\"\nthreshold = 50\n\
             and = { quantity = \"network.receive_error_ratio\", comparison = \">\", threshold = 0.1 }\n",
        );
        let fs = |m: &str, readonly: bool, files_free: u64| crate::snapshot::Filesystem {
            mountpoint: m.into(),
            device: "/dev/x".into(),
            fstype: "ext4".into(),
            readonly,
            percent: Some(95.0),
            files: Some(100),
            files_free: Some(files_free),
            ..Default::default()
        };
        let disk = |name: &str, busy: u64| crate::snapshot::DiskDevice {
            name: name.into(),
            busy_time: busy,
            ..Default::default()
        };
        let nic = |name: &str, errors: u64, packets: u64| {
            let mut n = crate::snapshot::NetInterface { name: name.into(), ..Default::default() };
            (n.counters.errin, n.counters.packets_recv) = (Some(errors), Some(packets));
            n
        };
        let sample = |busy: u64, errors: u64, packets: u64| Snapshot {
            // a read-only filesystem first: the values' places skip it, and still line up
            filesystems: Some(vec![fs("/ro", true, 1), fs("/a", false, 50), fs("/b", false, 5), fs("/c", false, 50)]),
            disks: Some(vec![disk("sda", busy), disk("x0", busy)]),
            network: crate::snapshot::Network {
                all_interfaces: Some(vec![nic("eth0", errors, packets), nic("x0", errors, packets)]),
                ..Default::default()
            },
            ..Default::default()
        };
        let t0 = Instant::now();
        step(&mut e, &sample(0, 0, 0), t0, 0);
        let a = step(&mut e, &sample(1000, 50, 100), t0 + Duration::from_secs(1), 1);
        let shown: Vec<(&str, String)> = a
            .iter()
            .map(|a| {
                (a.name.as_str(), a.labels.get("mountpoint").or(a.labels.get("device")).cloned().unwrap_or_default())
            })
            .collect();
        assert_eq!(shown, [("BusyAndErrors", "x0".to_string()), ("Full", "/b".to_string())], "{a:?}");
    }

    /// statix's threshold fires at value ≥ threshold, at once.
    #[test]
    fn statix_thresholds_fire_at_the_threshold() {
        let rules = Rules::load(None, Thresholds { cpu: None, ram: Some(80.0) }).unwrap();
        let mut e = Engine::new(rules);
        let mut s = Snapshot::default();
        s.memory.percent = Some(80.0);
        let a = step(&mut e, &s, Instant::now(), 0);
        let ram: Vec<&Alert> = a.iter().filter(|a| a.name == "HostRamThreshold").collect();
        assert_eq!(ram.len(), 1);
        assert_eq!((ram[0].state, ram[0].quantity.as_str()), (AlertState::Firing, "memory.used_percent"));
    }
}
