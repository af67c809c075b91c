//! `containers`: the Docker Engine's containers (`docker`): each one's state as the engine
//! says it, its CPU, memory and block I/O from its control group, its network traffic from its
//! network namespace, and whether its registry has a newer image under the same tag.
//!
//! The engine is asked over its Unix socket (`SYSTEM_STATS_DOCKER_HOST`; Podman's compatible
//! socket works the same), GET requests only, never the `docker` program, on a thread of its
//! own every sampling interval (5 to 30 s), so that a slow or hung engine never delays a
//! sample. Each sample then reads the control-group files of the running containers (cgroup
//! v2 or v1, found from `/proc/<pid>/cgroup` under `SYSTEM_STATS_PROCFS`), not the engine's
//! slow stats endpoint. The image check asks the registry through the engine
//! (`/distribution/<image>/json`) at most every `SYSTEM_STATS_UPDATE_CHECK_INTERVAL` per
//! image.
//!
//! Using the socket needs membership of the `docker` group, which amounts to root on the
//! host: without it the collector says `permission_denied`.

pub(crate) mod cgroup;
pub(crate) mod engine;

use crate::metrics;
use crate::sync::Locked;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use self::cgroup::Cgroup;
use self::engine::{Distribution, Engine, EngineError, ImageInfo, Inspected, Listed};
use super::shared::files::Files;
use super::{CollectError, Collector, Entry, Reading, Setup};
use crate::snapshot::{Container, Docker, round1};

pub(crate) const ENTRY: Entry = Entry {
    name: "containers",
    about: "Docker or Podman containers: state, CPU, memory, network, block I/O, image updates",
    reads: &["memory"],
    series: Some(snapshot_series),
    start: |setup| Some(Box::new(Containers::new(setup))),
};

/// How often the engine is asked for its containers: the sampling interval, within these
/// bounds (a list request every second would cost the engine more than the figures are
/// worth; the figures themselves are read every sample).
const ENGINE_POLL_MIN: Duration = Duration::from_secs(5);
const ENGINE_POLL_MAX: Duration = Duration::from_secs(30);

/// How long one request to the engine may take; the registry, behind the engine, longer.
const API_TIMEOUT: Duration = Duration::from_secs(5);
const REGISTRY_TIMEOUT: Duration = Duration::from_secs(20);

/// A container as the engine thread last saw it.
#[derive(Debug, Clone)]
struct Known {
    listed: Listed,
    /// The image reference it was created from.
    reference: String,
    /// Its first process and control group, while it runs.
    pid: Option<u32>,
    cgroup: Option<Cgroup>,
    update_available: Option<bool>,
}

/// The engine's last answer; `None` before the first.
type View = Option<Result<Arc<Vec<Known>>, EngineError>>;

pub(crate) struct Containers {
    view: super::shared::poller::Poller<View>,
    procfs: PathBuf,
    files: Files,
    /// Each running container's CPU time at the previous sample, for its percent.
    previous: HashMap<String, (Instant, u64)>,
    /// The unexpected answer last logged, so that it is logged once.
    logged: Option<String>,
}

impl Containers {
    fn new(setup: &Setup) -> Containers {
        let engine = EngineThread {
            socket: engine::socket_path(&setup.docker_host).unwrap_or_else(|_| PathBuf::from(&setup.docker_host)),
            procfs: setup.procfs.clone(),
            cgroup_root: setup.sysfs.join("fs/cgroup"),
            every: setup.sample_interval.clamp(ENGINE_POLL_MIN, ENGINE_POLL_MAX),
            image_check_every: setup.update_check_interval,
        };
        // the first sample shows the containers when the engine answers at once
        let first = (Duration::ZERO, Duration::from_secs(1));
        let view = super::shared::poller::Poller::start(
            "containers",
            None,
            first,
            move || engine.poll(),
            |v, e| {
                *v = Some(Err(EngineError::Unexpected(format!("no thread for the engine: {e}"))));
            },
        );
        Containers {
            view,
            procfs: setup.procfs.clone(),
            files: Files::default(),
            previous: HashMap::new(),
            logged: None,
        }
    }
}

/// What the engine's thread works with.
struct EngineThread {
    socket: PathBuf,
    procfs: PathBuf,
    cgroup_root: PathBuf,
    every: Duration,
    /// `None`: images are not checked.
    image_check_every: Option<Duration>,
}

impl EngineThread {
    /// The poll of the engine's thread: the list, the images checked now and then.
    fn poll(self) -> impl FnMut(&Mutex<View>) -> Duration {
        let engines =
            Engine::new(&self.socket, API_TIMEOUT).and_then(|a| Ok((a, Engine::new(&self.socket, REGISTRY_TIMEOUT)?)));
        // (image reference, image ID) → when it was checked and what was found
        let mut images: HashMap<(String, String), (Instant, Option<bool>)> = HashMap::new();
        let mut known: HashMap<String, Known> = HashMap::new();
        move |view: &Mutex<View>| {
            let (api, registry) = match &engines {
                Ok(e) => e,
                Err(e) => {
                    *view.locked() = Some(Err(EngineError::Unexpected(format!("no runtime for the engine: {e}"))));
                    return Duration::MAX;
                }
            };
            let result = self.list(api, &mut known).map(|mut list| {
                self.check_images(registry, api, &mut images, &mut list);
                Arc::new(list)
            });
            *view.locked() = Some(result);
            self.every
        }
    }

    /// The list, with the process and control group of each running container (inspected
    /// once per start).
    fn list(&self, api: &Engine, known: &mut HashMap<String, Known>) -> Result<Vec<Known>, EngineError> {
        let list: Vec<Listed> = api.get("/containers/json?all=1")?.unwrap_or_default();
        let mut out = Vec::with_capacity(list.len());
        for listed in list {
            let running = listed.state == "running";
            let (mut k, inspect) = match known.remove(&listed.id) {
                Some(k) => {
                    // a new state, or a restart (its first process gone): inspected again
                    let changed = k.listed.state != listed.state
                        || (running && k.pid.is_none_or(|p| !self.procfs.join(p.to_string()).exists()));
                    (Known { listed, ..k }, changed)
                }
                None => {
                    let reference = listed.image.clone();
                    (Known { listed, reference, pid: None, cgroup: None, update_available: None }, true)
                }
            };
            if inspect && let Some(i) = api.get::<Inspected>(&format!("/containers/{}/json", k.listed.id))? {
                if !i.config.image.is_empty() {
                    k.reference = i.config.image;
                }
                k.pid = (running && i.state.pid > 0).then_some(i.state.pid);
                k.cgroup = k.pid.and_then(|pid| {
                    let text = std::fs::read_to_string(self.procfs.join(format!("{pid}/cgroup"))).ok()?;
                    cgroup::locate(&text, &self.cgroup_root)
                });
            }
            if !running {
                (k.pid, k.cgroup) = (None, None);
            }
            out.push(k);
        }
        *known = out.iter().map(|k| (k.listed.id.clone(), k.clone())).collect();
        Ok(out)
    }

    /// Whether the registry has another image under each container's tag, asked at most
    /// once per interval per (reference, image).
    fn check_images(
        &self,
        registry: &Engine,
        api: &Engine,
        images: &mut HashMap<(String, String), (Instant, Option<bool>)>,
        list: &mut [Known],
    ) {
        let Some(every) = self.image_check_every else { return };
        images.retain(|(_, id), _| list.iter().any(|k| &k.listed.image_id == id));
        for k in list.iter_mut() {
            let key = (k.reference.clone(), k.listed.image_id.clone());
            let due = images.get(&key).is_none_or(|(at, _)| at.elapsed() >= every);
            if due {
                let found = update_available(registry, api, &key.0, &key.1);
                images.insert(key.clone(), (Instant::now(), found));
            }
            k.update_available = images.get(&key).and_then(|(_, v)| *v);
        }
    }
}

/// The repository of an image reference: `127.0.0.1:5000/bb:latest` → `127.0.0.1:5000/bb`;
/// `None` for an image ID or a reference by digest (nothing to compare).
pub(crate) fn repository(reference: &str) -> Option<&str> {
    if reference.starts_with("sha256:") || reference.contains('@') {
        return None;
    }
    if reference.len() >= 12 && reference.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    // a tag is after the last ':' that comes after the last '/'
    let slash = reference.rfind('/').map_or(0, |i| i + 1);
    Some(match reference[slash..].rfind(':') {
        Some(i) => &reference[..slash + i],
        None => reference,
    })
}

/// Asks the registry (through the engine) which image is under `reference` now, and whether
/// that is another than the container's (`image_id`, by its repository digests). `None` when
/// it cannot be told: a local image never pushed, a registry that cannot be reached.
fn update_available(registry: &Engine, api: &Engine, reference: &str, image_id: &str) -> Option<bool> {
    let repo = repository(reference)?;
    let local: ImageInfo = api.get(&format!("/images/{}/json", engine::encode_segment(image_id))).ok()??;
    let normalized = |r: &str| r.trim_start_matches("docker.io/").trim_start_matches("library/").to_string();
    let mine: Vec<&str> = local
        .repo_digests
        .iter()
        .filter(|d| d.split('@').next().is_some_and(|r| normalized(r) == normalized(repo)))
        .filter_map(|d| d.split('@').nth(1))
        .collect();
    if mine.is_empty() {
        return None;
    }
    let remote: Distribution = match registry.get(&format!("/distribution/{}/json", engine::encode_segment(reference)))
    {
        Ok(Some(d)) => d,
        Ok(None) => return None,
        Err(e) => {
            tracing::debug!("image check of {reference}: {e}");
            return None;
        }
    };
    Some(!mine.contains(&remote.descriptor.digest.as_str()))
}

/// Received and sent bytes of a network namespace's interfaces but loopback.
fn net_bytes(files: &mut Files, path: &std::path::Path) -> Option<(u64, u64)> {
    let text = files.read(path).ok()?;
    let mut rx_tx = (0u64, 0u64);
    super::network::parse_net_dev(text, |name, c| {
        if name != "lo" {
            rx_tx.0 = rx_tx.0.saturating_add(c[super::network::RX_BYTES]);
            rx_tx.1 = rx_tx.1.saturating_add(c[super::network::TX_BYTES]);
        }
    })
    .ok()?;
    Some(rx_tx)
}

impl Collector for Containers {
    fn collect(&mut self, r: &mut Reading) -> Result<(), CollectError> {
        let view = self.view.latest().clone();
        let list = match view {
            None => return Ok(()),
            Some(Err(e)) => {
                r.snapshot.docker = Some(Docker { available: false, error: Some(e.to_string()), ..Default::default() });
                if let EngineError::Unexpected(detail) = e {
                    if self.logged.as_deref() != Some(detail.as_str()) {
                        tracing::warn!("the container engine answered unexpectedly: {detail}");
                        self.logged = Some(detail.clone());
                    }
                    return Err(CollectError::Missing(format!("the container engine: {detail}")));
                }
                return Ok(());
            }
            Some(Ok(list)) => list,
        };
        self.logged = None;
        let host_memory = r.snapshot.memory.total;
        let mut containers = Vec::with_capacity(list.len());
        let mut seen = Vec::new();
        for k in list.iter() {
            let mut c = Container {
                id: k.listed.id.chars().take(12).collect(),
                name: k.listed.names.first().map(|n| n.trim_start_matches('/').to_string()).unwrap_or_default(),
                image: k.reference.clone(),
                state: k.listed.state.clone(),
                status: k.listed.status.clone(),
                ports: k.listed.ports.iter().map(engine::Port::describe).collect(),
                update_available: k.update_available,
                ..Default::default()
            };
            if let Some(cg) = &k.cgroup {
                let u = cgroup::read(&mut self.files, cg);
                c.cpu_seconds_total = u.cpu_ns.map(|ns| ns as f64 / 1e9);
                if let Some(ns) = u.cpu_ns {
                    if let Some((at, before)) = self.previous.get(&k.listed.id) {
                        let dt = r.at.saturating_duration_since(*at).as_secs_f64();
                        if dt > 0.0 {
                            c.cpu_percent = Some(round1(ns.saturating_sub(*before) as f64 / 1e9 / dt * 100.0));
                        }
                    }
                    self.previous.insert(k.listed.id.clone(), (r.at, ns));
                    seen.push(k.listed.id.clone());
                }
                c.memory_bytes = u.memory;
                c.memory_limit_bytes = u.memory_limit.and_then(|limit| limit.or(host_memory));
                (c.block_read_bytes, c.block_write_bytes) = (u.read_bytes, u.write_bytes);
            }
            if let Some(pid) = k.pid
                && let Some((rx, tx)) = net_bytes(&mut self.files, &self.procfs.join(format!("{pid}/net/dev")))
            {
                (c.net_rx_bytes, c.net_tx_bytes) = (Some(rx), Some(tx));
            }
            containers.push(c);
        }
        // forget containers gone, and close their files
        if self.previous.len() > seen.len() {
            self.previous.retain(|id, _| seen.contains(id));
            if self.files.held() > 8 * list.len() + 8 {
                self.files = Files::default();
            }
        }
        r.snapshot.docker = Some(Docker {
            available: true,
            error: None,
            running: Some(containers.iter().filter(|c| c.state == "running").count() as u64),
            total: Some(containers.len() as u64),
            containers: Some(containers),
        });
        Ok(())
    }
}

/// The containers of a snapshot, with cAdvisor's names where one fits.
pub(crate) fn snapshot_series(s: &crate::snapshot::Snapshot, out: &mut Vec<metrics::Family>) {
    let Some(d) = &s.docker else { return };
    out.push(
        metrics::Family::new(
            "system_stats_docker_up",
            metrics::Kind::Gauge,
            "1 if the container engine answered, 0 if not.",
        )
        .with(vec![], if d.available { 1.0 } else { 0.0 }),
    );
    let Some(list) = &d.containers else { return };
    type Get = fn(&crate::snapshot::Container) -> Option<f64>;
    let defs: [(&str, metrics::Kind, &str, Get); 9] = [
        (
            "container_cpu_usage_seconds_total",
            metrics::Kind::Counter,
            "Cumulative cpu time consumed in seconds.",
            |c| c.cpu_seconds_total,
        ),
        (
            "container_memory_working_set_bytes",
            metrics::Kind::Gauge,
            "Current working set in bytes (usage less inactive file cache, as docker stats).",
            |c| c.memory_bytes.map(|v| v as f64),
        ),
        ("container_spec_memory_limit_bytes", metrics::Kind::Gauge, "Memory limit for the container.", |c| {
            c.memory_limit_bytes.map(|v| v as f64)
        }),
        ("container_network_receive_bytes_total", metrics::Kind::Counter, "Cumulative count of bytes received.", |c| {
            c.net_rx_bytes.map(|v| v as f64)
        }),
        (
            "container_network_transmit_bytes_total",
            metrics::Kind::Counter,
            "Cumulative count of bytes transmitted.",
            |c| c.net_tx_bytes.map(|v| v as f64),
        ),
        ("container_fs_reads_bytes_total", metrics::Kind::Counter, "Cumulative count of bytes read.", |c| {
            c.block_read_bytes.map(|v| v as f64)
        }),
        ("container_fs_writes_bytes_total", metrics::Kind::Counter, "Cumulative count of bytes written.", |c| {
            c.block_write_bytes.map(|v| v as f64)
        }),
        (
            "system_stats_container_running",
            metrics::Kind::Gauge,
            "1 if the container is running, 0 if it exists in another state.",
            |c| Some(if c.state == "running" { 1.0 } else { 0.0 }),
        ),
        (
            "system_stats_container_update_available",
            metrics::Kind::Gauge,
            "1 if the registry has another image under the container's tag, 0 if not (absent when unknown).",
            |c| c.update_available.map(|u| if u { 1.0 } else { 0.0 }),
        ),
    ];
    for (name, kind, help, get) in defs {
        let mut f = metrics::Family::new(name, kind, help);
        for c in list {
            if let Some(v) = get(c) {
                f.push(
                    vec![
                        metrics::label("id", &c.id),
                        metrics::label("image", &c.image),
                        metrics::label("name", &c.name),
                    ],
                    v,
                );
            }
        }
        out.push(f);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repositories_of_references() {
        assert_eq!(repository("127.0.0.1:5000/bb:latest"), Some("127.0.0.1:5000/bb"));
        assert_eq!(repository("127.0.0.1:5000/bb"), Some("127.0.0.1:5000/bb"));
        assert_eq!(repository("nginx:1.27"), Some("nginx"));
        assert_eq!(repository("ghcr.io/org/app"), Some("ghcr.io/org/app"));
        assert_eq!(repository("nginx@sha256:abcd"), None);
        assert_eq!(repository("sha256:cd2d35d0"), None);
        assert_eq!(repository("cd2d35d04847"), None);
    }
}
