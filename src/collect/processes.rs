//! `processes`: what is running. Every process counted by state (psutil's names: running,
//! sleeping, disk-sleep, zombie, stopped, idle...) with the threads they hold, and the top
//! `SYSTEM_STATS_TOP_PROCESSES` (10; 0: none) by CPU and by resident memory: pid, name,
//! command line, user, state, CPU percent over the sampling interval (psutil's definition:
//! one busy core is 100, so it may exceed 100), resident bytes, memory percent, threads and
//! start time (`processes` in `/system`). In `/metrics`, node_exporter's `processes`
//! collector (`node_processes_state`, `_pids`, `_threads`, `_max_processes`, `_max_threads`)
//! and the top lists as `system_stats_top_process_*` (N series each, labelled by rank, pid
//! and name).
//!
//! Linux: `/proc/<pid>/stat` of every process each sample, held open (one `pread(2)` each; up
//! to 4 096 of them, as the open-file limit allows; the others opened, read and closed): the
//! cost grows with the number of processes, see docs/performance.md. A process that exits
//! meanwhile is skipped. Only the top ones have their `cmdline` read and their owner looked
//! up (`/etc/passwd`, read again when it changes), once while they run. `/proc/sys/kernel/pid_max` and
//! `threads-max` for the limits. macOS: `sysinfo` (libproc).

// The Linux parsers compile everywhere so that their tests run everywhere; macOS calls none.
#![cfg_attr(not(target_os = "linux"), allow(dead_code))]

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use super::{CollectError, Collector, Entry, ReadBy, Reading, Setup};
use crate::metrics::{self, Kind};
use crate::snapshot::{ProcessInfo, Processes as Shown, round1};

pub(crate) const ENTRY: Entry = Entry {
    name: "processes",
    about: "processes by state and the top ones by CPU and memory (/proc/<pid>/stat)",
    reads: &["cpu", "memory"],
    series: None,
    start: |setup| Some(Box::new(ProcessesFamily::new(setup))),
};

/// How much of a command line is kept (characters).
pub(crate) const CMDLINE_MAX: usize = 256;

/// psutil's name of a `/proc/<pid>/stat` state letter.
pub(crate) fn state_name(letter: u8) -> &'static str {
    match letter {
        b'R' => "running",
        b'S' => "sleeping",
        b'D' => "disk-sleep",
        b'T' => "stopped",
        b't' => "tracing-stop",
        b'Z' => "zombie",
        b'X' | b'x' => "dead",
        b'K' => "wake-kill",
        b'W' => "waking",
        b'I' => "idle",
        b'P' => "parked",
        _ => "unknown",
    }
}

/// The states always counted, even at 0.
const ALWAYS: [&str; 5] = ["running", "sleeping", "disk-sleep", "zombie", "stopped"];

/// The fields of `/proc/<pid>/stat` used here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stat<'a> {
    pub comm: &'a str,
    pub state: u8,
    /// utime + stime, clock ticks.
    pub ticks: u64,
    pub threads: u64,
    /// Clock ticks after boot.
    pub starttime: u64,
    pub rss_pages: u64,
}

/// Parses `/proc/<pid>/stat`. The command name (field 2, in parentheses) may hold spaces and
/// parentheses itself: the fields after it are counted from its last `)`.
pub(crate) fn parse_stat(text: &str) -> Option<Stat<'_>> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let comm = text.get(open + 1..close)?;
    let mut f = text.get(close + 1..)?.split_ascii_whitespace();
    // from field 3 (state): utime is 14, stime 15, num_threads 20, starttime 22, rss 24
    let state = *f.next()?.as_bytes().first()?;
    let mut rest = f.skip(10);
    let utime: u64 = rest.next()?.parse().ok()?;
    let stime: u64 = rest.next()?.parse().ok()?;
    let mut rest = rest.skip(4);
    let threads: u64 = rest.next()?.parse().ok()?;
    let starttime: u64 = rest.nth(1)?.parse().ok()?;
    let rss: i64 = rest.nth(1)?.parse().ok()?;
    Some(Stat { comm, state, ticks: utime + stime, threads, starttime, rss_pages: rss.max(0) as u64 })
}

/// A command line as `/proc/<pid>/cmdline` holds it (NUL-separated), as one line: the
/// arguments joined by spaces, at most [`CMDLINE_MAX`] characters; `None` when empty (a
/// kernel thread, a zombie).
pub(crate) fn command_line(raw: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(raw);
    let joined: String = text.split('\0').filter(|a| !a.is_empty()).collect::<Vec<_>>().join(" ");
    let line: String = joined.chars().map(|c| if c.is_control() { ' ' } else { c }).take(CMDLINE_MAX).collect();
    let line = line.trim().to_string();
    (!line.is_empty()).then_some(line)
}

/// `/etc/passwd`'s names by uid.
pub(crate) fn parse_passwd(text: &str) -> HashMap<u32, String> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.split(':');
            let name = f.next()?;
            let uid = f.nth(1)?.parse().ok()?;
            Some((uid, name.to_string()))
        })
        .collect()
}

/// One process of this sample, as much as is kept of every one.
#[cfg(target_os = "linux")]
#[derive(Debug, Clone, Copy)]
struct Proc {
    pid: u32,
    state: u8,
    /// Clock ticks of CPU over the interval; `None` on the first sample.
    cpu_ticks: Option<u64>,
    rss_pages: u64,
    threads: u64,
    starttime: u64,
    comm: [u8; 16],
    comm_len: u8,
}

#[cfg(target_os = "linux")]
impl Proc {
    fn name(&self) -> String {
        String::from_utf8_lossy(&self.comm[..self.comm_len as usize]).into_owned()
    }
}

/// Everything counted in one sample, for the snapshot and `/metrics`.
#[derive(Debug, Default)]
struct Counted {
    pids: u64,
    threads: u64,
    /// By `/proc/<pid>/stat` state letter.
    letters: BTreeMap<u8, u64>,
    max_processes: Option<u64>,
    max_threads: Option<u64>,
    top_cpu: Vec<ProcessInfo>,
    top_memory: Vec<ProcessInfo>,
    /// Seconds since the previous reading, which the CPU percents are measured over.
    interval: Option<f64>,
}

pub(crate) struct ProcessesFamily {
    top: usize,
    #[cfg(target_os = "linux")]
    linux: Linux,
    #[cfg(target_os = "macos")]
    system: Result<sysinfo::System, String>,
    #[cfg(target_os = "macos")]
    previous_at: Option<Instant>,
}

impl ProcessesFamily {
    fn new(setup: &Setup) -> ProcessesFamily {
        ProcessesFamily {
            top: setup.top_processes,
            #[cfg(target_os = "linux")]
            linux: Linux::new(setup),
            #[cfg(target_os = "macos")]
            system: sysinfo::System::new().map_err(|e| e.to_string()),
            #[cfg(target_os = "macos")]
            previous_at: None,
        }
    }
}

#[cfg(target_os = "linux")]
struct Linux {
    proc_dir: std::path::PathBuf,
    pid_max: std::path::PathBuf,
    threads_max: std::path::PathBuf,
    files: super::shared::files::Files,
    /// Each process's start time and CPU ticks at the last sample.
    previous: HashMap<u32, (u64, u64)>,
    current: HashMap<u32, (u64, u64)>,
    previous_at: Option<Instant>,
    /// `/proc/<pid>/stat` held open, each with the sample that last saw it: one `pread(2)`
    /// a sample instead of an open, a read and a close. At most `budget` of them.
    held: HashMap<u32, (std::fs::File, u64)>,
    budget: usize,
    samples: u64,
    /// What is shown of a top process that does not change while it runs (command line,
    /// owner), by pid and start time.
    known: HashMap<u32, (u64, Option<String>, Option<String>)>,
    hz: f64,
    page: u64,
    buf: Vec<u8>,
    users: Users,
}

/// How many `/proc/<pid>/stat` files may be held open: what the open-file limit leaves once
/// the connections and the other collectors have theirs (1 024), at most 4 096.
#[cfg(target_os = "linux")]
fn hold_budget() -> usize {
    let soft = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE).map_or(0, |(soft, _)| soft);
    #[allow(clippy::useless_conversion)]
    let soft = u64::from(soft);
    soft.saturating_sub(1024).min(4096) as usize
}

/// Reads a `/proc/<pid>/stat` from its start into `buf`: the kernel writes it whole in one
/// read when the buffer is large enough, so a short read is the end; a full buffer is read
/// to its end the long way.
#[cfg(target_os = "linux")]
fn read_stat(file: &std::fs::File, buf: &mut Vec<u8>) -> std::io::Result<usize> {
    use std::os::unix::fs::FileExt;
    if buf.len() < 1024 {
        buf.resize(1024, 0);
    }
    let n = file.read_at(buf, 0)?;
    if n < buf.len() { Ok(n) } else { super::shared::files::read_from_start(file, buf, 64 << 10) }
}

/// User names by uid from `/etc/passwd`, read again when it changes.
#[cfg(target_os = "linux")]
#[derive(Default)]
struct Users {
    names: HashMap<u32, String>,
    modified: Option<std::time::SystemTime>,
}

#[cfg(target_os = "linux")]
impl Users {
    fn name(&mut self, uid: u32) -> String {
        let passwd = std::path::Path::new("/etc/passwd");
        let modified = std::fs::metadata(passwd).and_then(|m| m.modified()).ok();
        if modified != self.modified {
            self.names = std::fs::read_to_string(passwd).map(|t| parse_passwd(&t)).unwrap_or_default();
            self.modified = modified;
        }
        self.names.get(&uid).cloned().unwrap_or_else(|| uid.to_string())
    }
}

#[cfg(target_os = "linux")]
impl Linux {
    fn new(setup: &Setup) -> Linux {
        Linux {
            proc_dir: setup.procfs.clone(),
            pid_max: setup.procfs.join("sys/kernel/pid_max"),
            threads_max: setup.procfs.join("sys/kernel/threads-max"),
            files: super::shared::files::Files::with_limit(4096),
            previous: HashMap::new(),
            current: HashMap::new(),
            previous_at: None,
            held: HashMap::new(),
            budget: 0,
            samples: 0,
            known: HashMap::new(),
            hz: nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK).ok().flatten().map_or(100.0, |v| v as f64),
            page: super::memory::page_size(),
            buf: Vec::with_capacity(1024),
            users: Users::default(),
        }
    }

    /// Reads `path` whole into `self.buf` (without keeping it open); `false` if it cannot be
    /// read (the process is gone).
    fn read_once(&mut self, path: &std::path::Path, limit: usize) -> bool {
        use std::io::Read;
        self.buf.clear();
        match std::fs::File::open(path) {
            Ok(f) => f.take(limit as u64).read_to_end(&mut self.buf).is_ok(),
            Err(_) => false,
        }
    }

    fn count(&mut self, top: usize, r: &Reading) -> Result<Counted, CollectError> {
        use std::os::unix::ffi::OsStrExt;
        super::shared::files::note(&self.proc_dir);
        let entries = std::fs::read_dir(&self.proc_dir).map_err(|e| CollectError::io(&self.proc_dir, e))?;
        let dt = self.previous_at.map(|at| r.at.saturating_duration_since(at).as_secs_f64());
        if self.samples.is_multiple_of(60) {
            self.budget = hold_budget();
        }
        self.samples += 1;
        let generation = self.samples;
        let mut procs: Vec<Proc> = Vec::with_capacity(self.previous.len() + 16);
        let mut counted = Counted::default();
        self.current.clear();
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(pid) = std::str::from_utf8(name.as_bytes()).ok().and_then(|n| n.parse::<u32>().ok()) else {
                continue;
            };
            let n = match self.held.get_mut(&pid) {
                Some((file, seen)) => match read_stat(file, &mut self.buf) {
                    Ok(n) => {
                        *seen = generation;
                        n
                    }
                    // gone (ESRCH); its pid may be someone else's now: opened again below
                    Err(_) => {
                        self.held.remove(&pid);
                        continue;
                    }
                },
                None => {
                    let Ok(file) = std::fs::File::open(entry.path().join("stat")) else { continue };
                    let Ok(n) = read_stat(&file, &mut self.buf) else { continue };
                    if self.held.len() < self.budget {
                        self.held.insert(pid, (file, generation));
                    }
                    n
                }
            };
            let Ok(text) = std::str::from_utf8(&self.buf[..n]) else { continue };
            let Some(st) = parse_stat(text) else { continue };
            counted.pids += 1;
            counted.threads += st.threads;
            *counted.letters.entry(st.state).or_default() += 1;
            let cpu_ticks = dt.map(|_| match self.previous.get(&pid) {
                Some(&(start, ticks)) if start == st.starttime => st.ticks.saturating_sub(ticks),
                // born during the interval (or a pid used again): all its time is in it
                _ => st.ticks,
            });
            self.current.insert(pid, (st.starttime, st.ticks));
            let mut comm = [0u8; 16];
            let len = st.comm.len().min(16);
            comm[..len].copy_from_slice(&st.comm.as_bytes()[..len]);
            procs.push(Proc {
                pid,
                state: st.state,
                cpu_ticks,
                rss_pages: st.rss_pages,
                threads: st.threads,
                starttime: st.starttime,
                comm,
                comm_len: len as u8,
            });
        }
        // the files of processes gone are closed (and of a budget that shrank)
        self.held.retain(|_, (_, seen)| *seen == generation);
        if self.held.len() > self.budget {
            let extra: Vec<u32> = self.held.keys().skip(self.budget).copied().collect();
            for pid in extra {
                self.held.remove(&pid);
            }
        }
        let current = &self.current;
        self.known.retain(|pid, (start, _, _)| current.get(pid).is_some_and(|&(s, _)| s == *start));
        std::mem::swap(&mut self.previous, &mut self.current);
        self.previous_at = Some(r.at);
        counted.interval = dt;
        counted.max_processes = self.files.read_u64(&self.pid_max).ok();
        counted.max_threads = self.files.read_u64(&self.threads_max).ok();
        if top > 0 {
            let mem_total = r.snapshot.memory.total;
            let by_cpu = top_by(&mut procs, top, |p| p.cpu_ticks.unwrap_or(0));
            counted.top_cpu = by_cpu.iter().map(|p| self.info(p, dt, mem_total, r.boot_time)).collect();
            let by_rss = top_by(&mut procs, top, |p| p.rss_pages);
            counted.top_memory = by_rss.iter().map(|p| self.info(p, dt, mem_total, r.boot_time)).collect();
        }
        Ok(counted)
    }

    /// What is shown of a top process: its command line and owner read the first time it is
    /// in a top list (they do not change while it runs).
    fn info(&mut self, p: &Proc, dt: Option<f64>, mem_total: Option<u64>, boot: Option<u64>) -> ProcessInfo {
        use std::os::unix::fs::MetadataExt;
        let (cmdline, user) = match self.known.get(&p.pid) {
            Some((start, cmdline, user)) if *start == p.starttime => (cmdline.clone(), user.clone()),
            _ => {
                let dir = self.proc_dir.join(p.pid.to_string());
                let cmdline =
                    if self.read_once(&dir.join("cmdline"), 4 * CMDLINE_MAX) { command_line(&self.buf) } else { None };
                let user = std::fs::metadata(&dir).ok().map(|m| self.users.name(m.uid()));
                self.known.insert(p.pid, (p.starttime, cmdline.clone(), user.clone()));
                (cmdline, user)
            }
        };
        let rss = p.rss_pages * self.page;
        ProcessInfo {
            pid: p.pid,
            name: p.name(),
            cmdline,
            user,
            state: state_name(p.state).to_string(),
            cpu_percent: match (p.cpu_ticks, dt) {
                (Some(t), Some(dt)) if dt > 0.0 => Some(round1(t as f64 / self.hz / dt * 100.0)),
                _ => None,
            },
            rss,
            memory_percent: mem_total.filter(|&t| t > 0).map(|t| round1(rss as f64 / t as f64 * 100.0)),
            threads: p.threads,
            started_at: boot.map(|b| started_at(b as f64 + p.starttime as f64 / self.hz)),
        }
    }
}

/// The `n` largest by `key`, largest first (ties by pid).
#[cfg(target_os = "linux")]
fn top_by(procs: &mut [Proc], n: usize, key: impl Fn(&Proc) -> u64) -> Vec<Proc> {
    let order = |a: &Proc, b: &Proc| key(b).cmp(&key(a)).then(a.pid.cmp(&b.pid));
    let n = n.min(procs.len());
    if n == 0 {
        return vec![];
    }
    if n < procs.len() {
        procs.select_nth_unstable_by(n - 1, order);
    }
    let mut top = procs[..n].to_vec();
    top.sort_by(order);
    top
}

/// Unix seconds as RFC 3339, UTC, to the second.
fn started_at(unix: f64) -> String {
    chrono::DateTime::from_timestamp(unix as i64, 0)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

impl Counted {
    fn shown(&self, top: usize) -> Shown {
        let mut states: BTreeMap<String, u64> = ALWAYS.iter().map(|s| (s.to_string(), 0)).collect();
        for (&letter, &n) in &self.letters {
            *states.entry(state_name(letter).to_string()).or_default() += n;
        }
        Shown {
            total: self.pids,
            threads: self.threads,
            states,
            top_cpu: (top > 0).then(|| self.top_cpu.clone()),
            top_memory: (top > 0).then(|| self.top_memory.clone()),
            interval_seconds: self.interval.map(|dt| (dt * 1000.0).round() / 1000.0),
        }
    }
}

#[cfg(target_os = "linux")]
impl Collector for ProcessesFamily {
    fn read_by(&self) -> ReadBy {
        ReadBy::Readers
    }

    fn collect(&mut self, r: &mut Reading) -> Result<(), CollectError> {
        let counted = self.linux.count(self.top, r)?;
        r.snapshot.processes = Some(counted.shown(self.top));
        r.export(counted);
        Ok(())
    }
}

#[cfg(target_os = "macos")]
impl Collector for ProcessesFamily {
    fn read_by(&self) -> ReadBy {
        ReadBy::Readers
    }

    fn collect(&mut self, r: &mut Reading) -> Result<(), CollectError> {
        use sysinfo::{ProcessRefreshKind, ProcessStatus, ProcessesToUpdate, UpdateKind};
        let system = self.system.as_mut().map_err(|e| CollectError::Missing(format!("sysinfo: {e}")))?;
        system.refresh_processes_specifics(
            ProcessesToUpdate::All,
            true,
            ProcessRefreshKind::nothing().with_cpu().with_memory().with_user(UpdateKind::OnlyIfNotSet),
        );
        let mut counted = Counted::default();
        let letter = |s: ProcessStatus| match s {
            ProcessStatus::Run => b'R',
            ProcessStatus::Sleep => b'S',
            ProcessStatus::Idle => b'I',
            ProcessStatus::Stop => b'T',
            ProcessStatus::Zombie => b'Z',
            ProcessStatus::UninterruptibleDiskSleep => b'D',
            _ => b'?',
        };
        for p in system.processes().values() {
            counted.pids += 1;
            *counted.letters.entry(letter(p.status())).or_default() += 1;
        }
        let total = system.total_memory();
        let info = |p: &sysinfo::Process| ProcessInfo {
            pid: p.pid().as_u32(),
            name: p.name().to_string_lossy().into_owned(),
            cmdline: command_line(
                p.cmd().iter().map(|a| a.to_string_lossy()).collect::<Vec<_>>().join("\0").as_bytes(),
            ),
            user: p.user_id().map(|u| u.to_string()),
            state: state_name(letter(p.status())).to_string(),
            cpu_percent: Some(round1(p.cpu_usage() as f64)),
            rss: p.memory(),
            memory_percent: (total > 0).then(|| round1(p.memory() as f64 / total as f64 * 100.0)),
            threads: 0,
            started_at: Some(started_at(p.start_time() as f64)),
        };
        let mut all: Vec<&sysinfo::Process> = system.processes().values().collect();
        all.sort_by(|a, b| b.cpu_usage().total_cmp(&a.cpu_usage()));
        counted.top_cpu = all.iter().take(self.top).map(|p| info(p)).collect();
        all.sort_by_key(|p| std::cmp::Reverse(p.memory()));
        counted.top_memory = all.iter().take(self.top).map(|p| info(p)).collect();
        counted.interval = self.previous_at.map(|at| r.at.saturating_duration_since(at).as_secs_f64());
        self.previous_at = Some(r.at);
        r.snapshot.processes = Some(counted.shown(self.top));
        r.export(counted);
        Ok(())
    }
}

impl metrics::Export for Counted {
    fn families(&self, out: &mut Vec<metrics::Family>) {
        use metrics::{Family, label};
        out.push(Family::new("node_processes_pids", Kind::Gauge, "Number of PIDs").with(vec![], self.pids as f64));
        out.push(
            Family::new("node_processes_threads", Kind::Gauge, "Allocated threads in system")
                .with(vec![], self.threads as f64),
        );
        let mut state = Family::new("node_processes_state", Kind::Gauge, "Number of processes in each state.");
        for (&letter, &n) in &self.letters {
            state.push(vec![label("state", (letter as char).to_string())], n as f64);
        }
        out.push(state);
        out.extend(Family::single(
            "node_processes_max_processes",
            Kind::Gauge,
            "Number of max PIDs limit",
            self.max_processes.map(|n| n as f64),
        ));
        out.extend(Family::single(
            "node_processes_max_threads",
            Kind::Gauge,
            "Limit of threads in the system",
            self.max_threads.map(|n| n as f64),
        ));
        let mut cpu = Family::new(
            "system_stats_top_process_cpu_percent",
            Kind::Gauge,
            "The processes using the most CPU over the last sampling interval (100 is one core), by rank.",
        );
        for (rank, p) in self.top_cpu.iter().enumerate() {
            if let Some(v) = p.cpu_percent {
                cpu.push(vec![label("rank", rank + 1), label("pid", p.pid), label("name", &p.name)], v);
            }
        }
        let mut rss = Family::new(
            "system_stats_top_process_resident_memory_bytes",
            Kind::Gauge,
            "The processes holding the most resident memory, by rank.",
        );
        for (rank, p) in self.top_memory.iter().enumerate() {
            rss.push(vec![label("rank", rank + 1), label("pid", p.pid), label("name", &p.name)], p.rss as f64);
        }
        out.extend([cpu, rss]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines() {
        let line = "1234 (my (weird) name) S 1 1234 1234 0 -1 4194560 300 0 0 0 150 25 0 0 20 0 3 0 98765 \
                    123456789 2048 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";
        let st = parse_stat(line).unwrap();
        assert_eq!(st.comm, "my (weird) name");
        assert_eq!((st.state, st.ticks, st.threads, st.starttime, st.rss_pages), (b'S', 175, 3, 98765, 2048));
        assert!(parse_stat("1 (x) S 1 2").is_none());
        assert!(parse_stat("").is_none());
    }

    #[test]
    fn command_lines() {
        assert_eq!(command_line(b"/usr/bin/python3\0-m\0http.server\0").unwrap(), "/usr/bin/python3 -m http.server");
        assert_eq!(command_line(b""), None);
        assert_eq!(command_line(b"\0\0"), None);
        let long = vec![b'a'; 1000];
        assert_eq!(command_line(&long).unwrap().len(), CMDLINE_MAX);
        assert_eq!(command_line(b"a\nb\tc").unwrap(), "a b c");
    }

    #[test]
    fn passwd() {
        let users = parse_passwd("root:x:0:0:root:/root:/bin/bash\nbad line\npi:x:1000:1000::/home/pi:/bin/bash\n");
        assert_eq!(users[&0], "root");
        assert_eq!(users[&1000], "pi");
        assert_eq!(users.len(), 2);
    }

    fn proc(pid: u32, cpu: u64, rss: u64) -> Proc {
        Proc {
            pid,
            state: b'S',
            cpu_ticks: Some(cpu),
            rss_pages: rss,
            threads: 1,
            starttime: 0,
            comm: [0; 16],
            comm_len: 0,
        }
    }

    #[test]
    fn tops() {
        let mut procs: Vec<Proc> = (1..=50).map(|i| proc(i, (i * 7 % 50) as u64, i as u64)).collect();
        let top = top_by(&mut procs, 3, |p| p.cpu_ticks.unwrap_or(0));
        let cpu: Vec<u64> = top.iter().map(|p| p.cpu_ticks.unwrap()).collect();
        assert_eq!(cpu, [49, 48, 47]);
        let top = top_by(&mut procs, 100, |p| p.rss_pages);
        assert_eq!(top.len(), 50);
        assert_eq!(top[0].pid, 50);
        assert!(top_by(&mut procs, 0, |p| p.rss_pages).is_empty());
    }

    /// On this machine: this process is counted, with its threads, and it is in the top by
    /// memory when asked for every process.
    #[cfg(target_os = "linux")]
    #[test]
    fn this_machine() {
        let setup = Setup { top_processes: 100_000, ..crate::config::default_setup() };
        let mut fam = ProcessesFamily::new(&setup);
        let mut r = Reading::new(Instant::now(), std::time::SystemTime::now());
        fam.collect(&mut r).unwrap();
        let mut r = Reading::new(Instant::now(), std::time::SystemTime::now());
        fam.collect(&mut r).unwrap();
        let p = r.snapshot.processes.unwrap();
        assert!(p.total > 1 && p.threads >= p.total, "{p:?}");
        let me = std::process::id();
        let mine = p.top_memory.unwrap().into_iter().find(|x| x.pid == me).expect("this process");
        // under qemu-user (the ARM checks) this process's stat is the emulator's: no RSS
        let emulated = crate::collect::own::tests::emulated_proc_self();
        assert!((emulated || mine.rss > 0) && mine.threads >= 1 && mine.cpu_percent.is_some(), "{mine:?}");
        let argv0 = std::env::args().next().unwrap();
        assert!(mine.cmdline.as_deref().unwrap().starts_with(&argv0), "{mine:?}");
    }
}
