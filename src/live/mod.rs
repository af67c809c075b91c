//! What the page shows live and over time: each sample's summary (the figures the page draws,
//! serialised once per sample and sent as is to every subscriber of `GET /events`) and the
//! history of those figures behind `GET /history`.
//!
//! The sampler thread calls [`Live::record`] after publishing a sample; subscribers read the
//! frames kept in a short ring (the last [`KEPT_FRAMES`], at most [`KEPT_BYTES`] of them, for
//! resumption with `Last-Event-ID`) and are woken by a [`tokio::sync::Notify`]. Nothing here is per
//! subscriber but a channel of at most [`SUBSCRIBER_BUFFER`] frames, which hold references to
//! the shared ones.

pub mod history;

use crate::sync::Locked;
use std::collections::VecDeque;
use std::sync::Mutex;

use bytes::Bytes;
use serde::Serialize;
use tokio::sync::Notify;

use crate::snapshot::{ForwarderState, OsUpdate, Processes, RaspberryPi, Services, Snapshot};
use history::History;

/// Frames kept for subscribers that come back with `Last-Event-ID` (a minute at 1 s).
pub const KEPT_FRAMES: usize = 64;
/// The most the kept frames may take together (a usual frame is a few KB, a host with
/// 20 000 mounts has frames of megabytes, and 64 of those would be memory kept for a
/// resumption nobody makes). The newest frame is always kept.
pub const KEPT_BYTES: usize = 4 << 20;
/// Frames waiting for one subscriber at most; a client that falls further behind is dropped.
pub const SUBSCRIBER_BUFFER: usize = 8;

/// One sample as the page draws it. Families that are off or unknown are `null` (or left
/// out of lists), and the page does not draw them.
#[derive(Debug, Serialize)]
pub struct Summary<'a> {
    /// The event id: the sample's time in unix milliseconds.
    pub id: u64,
    pub collected_at: &'a str,
    pub cpu: Option<f64>,
    /// Each CPU's busy percent.
    pub cores: Vec<Option<f64>>,
    pub load: [Option<f64>; 3],
    pub memory: Option<Usage>,
    pub swap: Option<Usage>,
    pub filesystems: Option<Vec<Fs<'a>>>,
    pub disks: Option<Vec<Rates<'a>>>,
    pub network: Option<Vec<Rates<'a>>>,
    pub temperatures: Option<Vec<Temperature>>,
    pub raspberry_pi: Option<&'a RaspberryPi>,
    pub containers: Option<Vec<ContainerFigures<'a>>>,
    pub os_update: Option<&'a OsUpdate>,
    /// Counts by state and the top processes, as `/system` has them.
    pub processes: Option<&'a Processes>,
    pub services: Option<&'a Services>,
    pub forwarder: Option<&'a ForwarderState>,
    pub uptime: Option<u64>,
    /// The alerts, as `/system` has them: the page shows what fires at its top and each
    /// threshold on its chart.
    pub alerts: Option<&'a Vec<crate::snapshot::Alert>>,
    /// Each drive's verdict and the few facts the page shows (`/system`'s `disk_health`).
    pub disk_health: Option<Vec<Drive<'a>>>,
}

/// A drive as the page shows it: the verdict first.
#[derive(Debug, Serialize)]
pub struct Drive<'a> {
    pub device: &'a str,
    pub model: Option<&'a str>,
    pub verdict: &'a str,
    pub reasons: &'a [String],
    pub temperature_celsius: Option<f64>,
    pub power_on_hours: Option<u64>,
    /// NVMe's wear estimate.
    pub percentage_used: Option<u64>,
    pub error: Option<&'a str>,
}

#[derive(Debug, Serialize)]
pub struct Usage {
    pub used: Option<u64>,
    pub total: Option<u64>,
    pub percent: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct Fs<'a> {
    pub mount: &'a str,
    pub used: Option<u64>,
    pub total: Option<u64>,
    pub percent: Option<f64>,
}

/// Bytes per second in and out: read/write for a disk, received/sent for an interface.
#[derive(Debug, Serialize)]
pub struct Rates<'a> {
    pub name: &'a str,
    #[serde(rename = "in")]
    pub inbound: Option<f64>,
    #[serde(rename = "out")]
    pub outbound: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct Temperature {
    /// `chip/label`, or the chip alone when the sensor has no label.
    pub name: String,
    pub celsius: f64,
    pub high: Option<f64>,
    pub critical: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct ContainerFigures<'a> {
    pub name: &'a str,
    pub state: &'a str,
    pub cpu_percent: Option<f64>,
    pub memory_bytes: Option<u64>,
    pub update_available: Option<bool>,
}

/// The sample's time in unix milliseconds, from `collected_at`.
pub fn sample_id(collected_at: &str) -> Option<u64> {
    chrono::DateTime::parse_from_rfc3339(collected_at).ok().and_then(|t| u64::try_from(t.timestamp_millis()).ok())
}

impl<'a> Summary<'a> {
    pub fn of(s: &'a Snapshot) -> Option<Summary<'a>> {
        let id = sample_id(&s.collected_at)?;
        let usage = |used, total: Option<u64>, percent| total.map(|_| Usage { used, total, percent });
        Some(Summary {
            id,
            collected_at: &s.collected_at,
            cpu: s.cpu.percent,
            cores: s.cpu.per_cpu.iter().map(|c| c.percent).collect(),
            load: [s.load_avg.load1, s.load_avg.load5, s.load_avg.load15],
            memory: usage(s.memory.used, s.memory.total, s.memory.percent),
            swap: usage(s.swap.used, s.swap.total, s.swap.percent),
            filesystems: s.filesystems.as_ref().map(|list| {
                list.iter()
                    .map(|f| Fs { mount: &f.mountpoint, used: f.used, total: f.total, percent: f.percent })
                    .collect()
            }),
            disks: s.disks.as_ref().map(|list| {
                list.iter()
                    .map(|d| Rates { name: &d.name, inbound: d.read_bytes_per_sec, outbound: d.write_bytes_per_sec })
                    .collect()
            }),
            network: s.network.all_interfaces.as_ref().map(|list| {
                list.iter()
                    .map(|i| Rates { name: &i.name, inbound: i.recv_bytes_per_sec, outbound: i.sent_bytes_per_sec })
                    .collect()
            }),
            temperatures: s.sensors.as_ref().map(|sensors| {
                sensors
                    .0
                    .iter()
                    .flat_map(|(chip, list)| {
                        list.iter().map(move |t| Temperature {
                            name: if t.label.is_empty() { chip.to_string() } else { format!("{chip}/{}", t.label) },
                            celsius: t.current_c,
                            high: t.high_c,
                            critical: t.critical_c,
                        })
                    })
                    .collect()
            }),
            raspberry_pi: s.raspberry_pi.as_ref(),
            containers: s.docker.as_ref().and_then(|d| d.containers.as_ref()).map(|list| {
                list.iter()
                    .map(|c| ContainerFigures {
                        name: &c.name,
                        state: &c.state,
                        cpu_percent: c.cpu_percent,
                        memory_bytes: c.memory_bytes,
                        update_available: c.update_available,
                    })
                    .collect()
            }),
            os_update: s.system.os_update.as_ref(),
            processes: s.processes.as_ref(),
            services: s.services.as_ref(),
            forwarder: s.forwarder.as_ref(),
            uptime: s.uptime.seconds,
            alerts: s.alerts.as_ref(),
            disk_health: s.disk_health.as_ref().map(|list| {
                list.iter()
                    .map(|d| Drive {
                        device: &d.device,
                        model: d.model.as_deref(),
                        verdict: &d.verdict,
                        reasons: &d.reasons,
                        temperature_celsius: d.temperature_celsius,
                        power_on_hours: d.power_on_hours,
                        percentage_used: d.nvme.as_ref().and_then(|n| n.percentage_used),
                        error: d.error.as_deref(),
                    })
                    .collect()
            }),
        })
    }

    /// The series the history keeps of this sample.
    pub fn series(&self) -> Vec<(String, f64)> {
        let mut out = Vec::with_capacity(16);
        let mut put = |name: String, v: Option<f64>| {
            if let Some(v) = v {
                out.push((name, v));
            }
        };
        put("cpu".into(), self.cpu);
        if self.cores.len() <= history::MAX_CORE_SERIES {
            for (i, c) in self.cores.iter().enumerate() {
                put(format!("core/{i}"), *c);
            }
        }
        for (i, l) in ["load1", "load5", "load15"].iter().zip(self.load) {
            put((*i).into(), l);
        }
        put("memory".into(), self.memory.as_ref().and_then(|m| m.percent));
        put("swap".into(), self.swap.as_ref().and_then(|m| m.percent));
        for f in self.filesystems.iter().flatten() {
            put(format!("fs/{}", f.mount), f.percent);
        }
        for d in self.disks.iter().flatten() {
            put(format!("disk.read/{}", d.name), d.inbound);
            put(format!("disk.write/{}", d.name), d.outbound);
        }
        for n in self.network.iter().flatten() {
            put(format!("net.rx/{}", n.name), n.inbound);
            put(format!("net.tx/{}", n.name), n.outbound);
        }
        for t in self.temperatures.iter().flatten() {
            put(format!("temp/{}", t.name), Some(t.celsius));
        }
        for c in self.containers.iter().flatten() {
            put(format!("container.cpu/{}", c.name), c.cpu_percent);
            put(format!("container.memory/{}", c.name), c.memory_bytes.map(|b| b as f64));
        }
        out
    }

    /// The Server-Sent Events frame: `id:`, `event: sample`, the summary as `data:`.
    pub fn frame(&self) -> Bytes {
        let json = serde_json::to_string(self).unwrap_or_default();
        Bytes::from(format!("id: {}\nevent: sample\ndata: {json}\n\n", self.id))
    }
}

/// The event frames kept for resumption: the newest, within [`KEPT_FRAMES`] and [`KEPT_BYTES`].
#[derive(Debug, Default)]
struct Frames {
    ring: VecDeque<(u64, Bytes)>,
    /// What the frames in `ring` take.
    bytes: usize,
    /// Whether a frame has been let go (a subscriber resuming from before the oldest kept has
    /// missed some; before that, it asked from before the first sample).
    dropped: bool,
}

impl Frames {
    fn push(&mut self, id: u64, frame: Bytes) {
        while self.ring.len() >= KEPT_FRAMES || self.bytes + frame.len() > KEPT_BYTES {
            // an empty ring: the new frame is kept whatever its size
            let Some((_, old)) = self.ring.pop_front() else { break };
            self.bytes -= old.len();
            self.dropped = true;
        }
        self.bytes += frame.len();
        self.ring.push_back((id, frame));
    }
}

/// The event frames kept, and the history.
#[derive(Debug, Default)]
pub struct Live {
    frames: Mutex<Frames>,
    /// Woken at every new frame.
    pub new_frame: Notify,
    history: Mutex<History>,
}

impl Live {
    /// Keeps a published sample: its frame for subscribers, its figures in the history.
    pub fn record(&self, snapshot: &Snapshot) {
        let Some(summary) = Summary::of(snapshot) else { return };
        let frame = summary.frame();
        {
            let mut frames = self.frames.locked();
            if frames.ring.back().is_some_and(|(id, _)| *id >= summary.id) {
                return;
            }
            frames.push(summary.id, frame);
        }
        self.new_frame.notify_waiters();
        let series = summary.series();
        self.history.locked().record(summary.id as f64 / 1000.0, &series);
    }

    /// Frames newer than `after` (for `None`, a new subscriber, the newest alone: it starts
    /// from the current sample), and whether some in between are no longer kept.
    pub fn frames_after(&self, after: Option<u64>) -> (Vec<(u64, Bytes)>, bool) {
        let frames = self.frames.locked();
        match after {
            None => (frames.ring.back().cloned().into_iter().collect(), false),
            Some(after) => {
                let gap =
                    frames.dropped && frames.ring.front().is_some_and(|(oldest, _)| *oldest > after.saturating_add(1));
                (frames.ring.iter().filter(|(id, _)| *id > after).cloned().collect(), gap)
            }
        }
    }

    /// The newest frame's id.
    pub fn newest(&self) -> Option<u64> {
        self.frames.locked().ring.back().map(|(id, _)| *id)
    }

    /// A window of the history, as JSON, ending at the newest sample.
    pub fn history_json(&self, seconds: u64) -> Bytes {
        let now = self.newest().map_or(0.0, |id| id as f64 / 1000.0);
        self.history.locked().window_json(seconds, now)
    }

    /// What the history takes in memory now, and its number of series.
    pub fn history_size(&self) -> (usize, usize) {
        let h = self.history.locked();
        (h.bytes(), h.series_count())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(at: &str, cpu: f64) -> Snapshot {
        let mut s = Snapshot { collected_at: at.into(), ..Default::default() };
        s.cpu.percent = Some(cpu);
        s.memory.total = Some(8 << 30);
        s.memory.used = Some(2 << 30);
        s.memory.percent = Some(25.0);
        s
    }

    #[test]
    fn frames_are_kept_for_resumption() {
        let live = Live::default();
        for i in 0..(KEPT_FRAMES as u64 + 10) {
            live.record(&snapshot(&format!("2026-11-25T10:{:02}:{:02}.000000+00:00", i / 60, i % 60), i as f64));
        }
        let newest = live.newest().unwrap();
        let (now, gap) = live.frames_after(None);
        assert_eq!((now.len(), now[0].0, gap), (1, newest, false));
        let (after, gap) = live.frames_after(Some(newest - 3000));
        assert_eq!((after.len(), gap), (3, false));
        let text = String::from_utf8(after[0].1.to_vec()).unwrap();
        assert!(text.starts_with(&format!("id: {}\nevent: sample\ndata: {{", newest - 2000)), "{text}");
        assert!(text.ends_with("}\n\n"));
        let v: serde_json::Value =
            serde_json::from_str(text.lines().nth(2).unwrap().strip_prefix("data: ").unwrap()).unwrap();
        assert_eq!(v["memory"]["total"], 8u64 << 30);
        assert!(v["swap"].is_null() && v["filesystems"].is_null());
        // asked from before the oldest kept: all kept, and a gap
        let (all, gap) = live.frames_after(Some(0));
        assert_eq!((all.len(), gap), (KEPT_FRAMES, true));
        // the same sample twice is one frame
        live.record(&snapshot("2026-11-25T10:00:00.000000+00:00", 1.0));
        assert_eq!(live.frames_after(Some(0)).0.len(), KEPT_FRAMES);
        let json = live.history_json(300);
        let json = String::from_utf8(json.to_vec()).unwrap();
        assert!(json.contains("\"cpu\":{\"mean\":["), "{json}");
    }

    #[test]
    fn big_frames_are_kept_within_a_byte_budget() {
        let live = Live::default();
        // asked from before the first sample, with nothing let go yet: no gap
        live.record(&snapshot("2026-11-25T10:00:00.000000+00:00", 1.0));
        assert_eq!(live.frames_after(Some(0)), (live.frames_after(None).0, false));
        // a host with 20 000 mounts: each frame ~1.5 MB
        let mut s = snapshot("", 1.0);
        s.filesystems = Some(
            (0..20_000)
                .map(|i| crate::snapshot::Filesystem {
                    mountpoint: format!("/run/containers/storage/overlay/{i:05}/merged").into(),
                    total: Some(1 << 30),
                    used: Some(1 << 29),
                    percent: Some(50.0),
                    ..Default::default()
                })
                .collect(),
        );
        for i in 1..20 {
            s.collected_at = format!("2026-11-25T10:00:{i:02}.000000+00:00");
            live.record(&s);
        }
        let frames = live.frames.lock().unwrap();
        let size = frames.ring.back().unwrap().1.len();
        assert!(size > 1 << 20, "{size} bytes");
        assert!(frames.bytes <= KEPT_BYTES && frames.ring.len() == KEPT_BYTES / size, "{} frames", frames.ring.len());
        assert_eq!(frames.bytes, frames.ring.iter().map(|(_, f)| f.len()).sum::<usize>());
        drop(frames);
        let (all, gap) = live.frames_after(Some(0));
        assert!(gap && all.last().unwrap().0 == live.newest().unwrap());
    }
}
