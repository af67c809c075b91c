//! A container's resources from its control group, as `docker stats` computes them, for
//! cgroup v2 (current distributions, Raspberry Pi OS) and v1 (older hosts): found from
//! `/proc/<pid>/cgroup` of the container's first process, so that every cgroup driver
//! (systemd's `docker-<id>.scope`, cgroupfs's `docker/<id>`, Podman's `libpod-<id>.scope`)
//! is found alike.

use std::path::{Path, PathBuf};

use crate::collect::shared::files::Files;

/// Where a container's control group is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Cgroup {
    V2 { dir: PathBuf },
    V1 { cpuacct: Option<PathBuf>, memory: Option<PathBuf>, blkio: Option<PathBuf> },
}

/// The control group of a process, from its `/proc/<pid>/cgroup` (`text`) and the cgroup
/// mounts under `root` (`<sysfs>/fs/cgroup`).
pub(crate) fn locate(text: &str, root: &Path) -> Option<Cgroup> {
    let join = |base: PathBuf, rel: &str| base.join(rel.trim_start_matches('/'));
    if root.join("cgroup.controllers").exists() {
        let rel = text.lines().find_map(|l| l.strip_prefix("0::"))?;
        return Some(Cgroup::V2 { dir: join(root.to_path_buf(), rel) });
    }
    let (mut cpuacct, mut memory, mut blkio) = (None, None, None);
    for line in text.lines() {
        let mut f = line.splitn(3, ':');
        let (Some(_), Some(controllers), Some(rel)) = (f.next(), f.next(), f.next()) else { continue };
        let first_existing = |dirs: &[&str]| dirs.iter().map(|d| join(root.join(d), rel)).find(|p| p.is_dir());
        for c in controllers.split(',') {
            match c {
                "cpuacct" => cpuacct = first_existing(&["cpuacct", "cpu,cpuacct", "cpuacct,cpu"]),
                "memory" => memory = first_existing(&["memory"]),
                "blkio" => blkio = first_existing(&["blkio"]),
                _ => {}
            }
        }
    }
    (cpuacct.is_some() || memory.is_some()).then_some(Cgroup::V1 { cpuacct, memory, blkio })
}

/// What a control group says of its container.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Usage {
    /// CPU time since it started, ns.
    pub cpu_ns: Option<u64>,
    /// Memory in use, the inactive page cache left out (as `docker stats`).
    pub memory: Option<u64>,
    /// Its limit; `Some(None)` when it has none.
    pub memory_limit: Option<Option<u64>>,
    pub read_bytes: Option<u64>,
    pub write_bytes: Option<u64>,
}

/// Limits at or above this are "no limit" (cgroup v1 writes 2^63 rounded down to a page).
const UNLIMITED: u64 = 1 << 62;

fn number(text: &str) -> Option<u64> {
    text.trim().parse().ok()
}

/// A `key value` line of a `*.stat` file.
pub(crate) fn stat_value(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| l.strip_prefix(key)?.strip_prefix(' ')?.trim().parse().ok())
}

/// `memory.max` (v2): a number, or `max`.
pub(crate) fn parse_limit(text: &str) -> Option<Option<u64>> {
    match text.trim() {
        "max" => Some(None),
        t => t.parse::<u64>().ok().map(|n| (n < UNLIMITED).then_some(n)),
    }
}

/// `blkio.throttle.io_service_bytes` (v1): `<maj:min> Read|Write|... <bytes>` lines, summed.
pub(crate) fn parse_blkio(text: &str) -> (u64, u64) {
    let (mut read, mut write) = (0u64, 0u64);
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if let [_, op, n] = f[..] {
            let n: u64 = n.parse().unwrap_or(0);
            match op {
                "Read" => read = read.saturating_add(n),
                "Write" => write = write.saturating_add(n),
                _ => {}
            }
        }
    }
    (read, write)
}

/// `io.stat` (v2): `<maj:min> rbytes=N wbytes=N ...` lines, summed.
pub(crate) fn parse_io_stat(text: &str) -> (u64, u64) {
    let (mut read, mut write) = (0u64, 0u64);
    for field in text.split_whitespace() {
        if let Some(n) = field.strip_prefix("rbytes=") {
            read = read.saturating_add(n.parse().unwrap_or(0));
        } else if let Some(n) = field.strip_prefix("wbytes=") {
            write = write.saturating_add(n.parse().unwrap_or(0));
        }
    }
    (read, write)
}

/// Memory in use as `docker stats` shows it: usage less the inactive file cache.
fn in_use(usage: Option<u64>, inactive: Option<u64>) -> Option<u64> {
    usage.map(|u| match inactive {
        Some(i) if i < u => u - i,
        _ => u,
    })
}

/// Reads a control group's figures; what cannot be read stays `None`.
pub(crate) fn read(files: &mut Files, cg: &Cgroup) -> Usage {
    let mut u = Usage::default();
    match cg {
        Cgroup::V2 { dir } => {
            u.cpu_ns = files
                .read_opt(&dir.join("cpu.stat"))
                .and_then(|t| stat_value(t, "usage_usec"))
                .map(|us| us.saturating_mul(1000));
            let usage = files.read_opt(&dir.join("memory.current")).and_then(number);
            let inactive = files.read_opt(&dir.join("memory.stat")).and_then(|t| stat_value(t, "inactive_file"));
            u.memory = in_use(usage, inactive);
            u.memory_limit = files.read_opt(&dir.join("memory.max")).and_then(parse_limit);
            if let Some((r, w)) = files.read_opt(&dir.join("io.stat")).map(parse_io_stat) {
                (u.read_bytes, u.write_bytes) = (Some(r), Some(w));
            }
        }
        Cgroup::V1 { cpuacct, memory, blkio } => {
            if let Some(dir) = cpuacct {
                u.cpu_ns = files.read_opt(&dir.join("cpuacct.usage")).and_then(number);
            }
            if let Some(dir) = memory {
                let usage = files.read_opt(&dir.join("memory.usage_in_bytes")).and_then(number);
                let inactive =
                    files.read_opt(&dir.join("memory.stat")).and_then(|t| stat_value(t, "total_inactive_file"));
                u.memory = in_use(usage, inactive);
                u.memory_limit = files.read_opt(&dir.join("memory.limit_in_bytes")).and_then(parse_limit);
            }
            if let Some(dir) = blkio {
                let recursive = dir.join("blkio.throttle.io_service_bytes_recursive");
                let text = files
                    .read_opt(&recursive)
                    .map(str::to_string)
                    .or_else(|| files.read_opt(&dir.join("blkio.throttle.io_service_bytes")).map(str::to_string));
                if let Some((r, w)) = text.as_deref().map(parse_blkio) {
                    (u.read_bytes, u.write_bytes) = (Some(r), Some(w));
                }
            }
        }
    }
    u
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v2_and_v1_control_groups_are_located() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        // v1, cgroupfs driver, cpu and cpuacct mounted apart
        for c in ["cpuacct", "memory", "blkio"] {
            std::fs::create_dir_all(root.join(c).join("docker/abc")).unwrap();
        }
        let v1 = "12:memory:/docker/abc\n3:cpuacct:/docker/abc\n7:blkio:/docker/abc\n0::/docker/abc\n";
        assert_eq!(
            locate(v1, root),
            Some(Cgroup::V1 {
                cpuacct: Some(root.join("cpuacct/docker/abc")),
                memory: Some(root.join("memory/docker/abc")),
                blkio: Some(root.join("blkio/docker/abc")),
            })
        );
        // v2, systemd driver
        std::fs::write(root.join("cgroup.controllers"), "cpu io memory\n").unwrap();
        let v2 = "0::/system.slice/docker-abc.scope\n";
        assert_eq!(locate(v2, root), Some(Cgroup::V2 { dir: root.join("system.slice/docker-abc.scope") }));
        assert_eq!(locate("", root), None);
    }

    /// The figures of a cgroup v2 directory and of v1 ones, as the kernel writes the files.
    #[test]
    fn figures_of_v2_and_v1() {
        let tmp = tempfile::tempdir().unwrap();
        let v2 = tmp.path().join("v2");
        std::fs::create_dir_all(&v2).unwrap();
        for (f, text) in [
            ("cpu.stat", "usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\nnr_periods 0\n"),
            ("memory.current", "52428800\n"),
            ("memory.stat", "anon 1048576\nfile 51380224\nactive_file 4194304\ninactive_file 2097152\n"),
            ("memory.max", "268435456\n"),
            ("io.stat", "8:0 rbytes=4096 wbytes=20971520 rios=1 wios=20 dbytes=0 dios=0\n"),
        ] {
            std::fs::write(v2.join(f), text).unwrap();
        }
        let mut files = Files::default();
        let u = read(&mut files, &Cgroup::V2 { dir: v2.clone() });
        assert_eq!(u.cpu_ns, Some(2_500_000_000));
        assert_eq!(u.memory, Some(52_428_800 - 2_097_152));
        assert_eq!(u.memory_limit, Some(Some(268_435_456)));
        assert_eq!((u.read_bytes, u.write_bytes), (Some(4096), Some(20_971_520)));
        std::fs::write(v2.join("memory.max"), "max\n").unwrap();
        assert_eq!(read(&mut files, &Cgroup::V2 { dir: v2 }).memory_limit, Some(None));

        let (cpu, mem, blk) = (tmp.path().join("cpuacct"), tmp.path().join("memory"), tmp.path().join("blkio"));
        for d in [&cpu, &mem, &blk] {
            std::fs::create_dir_all(d).unwrap();
        }
        std::fs::write(cpu.join("cpuacct.usage"), "35278363992\n").unwrap();
        std::fs::write(mem.join("memory.usage_in_bytes"), "51023872\n").unwrap();
        std::fs::write(mem.join("memory.stat"), "cache 50331648\ninactive_file 0\ntotal_inactive_file 692224\n")
            .unwrap();
        std::fs::write(mem.join("memory.limit_in_bytes"), "9223372036854771712\n").unwrap();
        std::fs::write(
            blk.join("blkio.throttle.io_service_bytes_recursive"),
            "8:0 Read 512\n8:0 Write 1024\nTotal 1536\n",
        )
        .unwrap();
        let u = read(&mut files, &Cgroup::V1 { cpuacct: Some(cpu), memory: Some(mem), blkio: Some(blk) });
        assert_eq!(u.cpu_ns, Some(35_278_363_992));
        assert_eq!(u.memory, Some(51_023_872 - 692_224));
        assert_eq!(u.memory_limit, Some(None));
        assert_eq!((u.read_bytes, u.write_bytes), (Some(512), Some(1024)));
    }

    #[test]
    fn file_formats() {
        assert_eq!(stat_value("usage_usec 1234\nuser_usec 1000\n", "usage_usec"), Some(1234));
        assert_eq!(stat_value("total_inactive_file 4096\ninactive_file 1\n", "inactive_file"), Some(1));
        assert_eq!(parse_limit("max\n"), Some(None));
        assert_eq!(parse_limit("9223372036854771712\n"), Some(None));
        assert_eq!(parse_limit("536870912\n"), Some(Some(536_870_912)));
        assert_eq!(parse_limit("junk"), None);
        let blkio = "8:0 Read 4096\n8:0 Write 8192\n8:0 Sync 0\n8:0 Total 12288\n8:16 Read 1\nTotal 12289\n";
        assert_eq!(parse_blkio(blkio), (4097, 8192));
        assert_eq!(
            parse_io_stat("8:0 rbytes=10 wbytes=20 rios=1 wios=2 dbytes=0 dios=0\n259:0 rbytes=5 wbytes=0\n"),
            (15, 20)
        );
        assert_eq!(in_use(Some(100), Some(30)), Some(70));
        assert_eq!(in_use(Some(100), Some(300)), Some(100));
    }
}
