//! `os_update`: pending updates of the OS's packages (`system.os_update`), checked on a
//! thread of its own at most every `SYSTEM_STATS_UPDATE_CHECK_INTERVAL` (6 h by default),
//! never on the sampler's path: each sample publishes the last result. The first check waits
//! `SYSTEM_STATS_UPDATE_CHECK_DELAY` (60 s) after the start, so that a booting machine (a Pi
//! starting its services) does not also run the package manager then.
//!
//! The check runs the package manager at the lowest CPU priority, with `LC_ALL=C`, bounded by
//! `SYSTEM_STATS_UPDATE_CHECK_TIMEOUT`, without touching the network or a lock:
//! - Debian, Ubuntu, Raspberry Pi OS: `apt-get -s upgrade`, counting its `Inst` lines;
//!   security updates are those from a `-security` suite. It reads the package lists as the
//!   system's own timers last refreshed them (`apt-get update` needs root and the network).
//! - Fedora, RHEL: `dnf -C -q check-update` (the cached metadata) and `dnf -C -q updateinfo
//!   list --security`.
//! - macOS: `softwareupdate --list`.
//!
//! `reboot_required` is whether `/run/reboot-required` exists (looked at every sample: it
//! appears when an upgrade needs a reboot).

use crate::sync::Locked;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use super::shared::poller::{Change, change};
use super::shared::program::{self, which};
use super::{CollectError, Collector, Entry, Reading, Setup};
use crate::snapshot::OsUpdate;

pub(crate) const ENTRY: Entry = Entry {
    name: "os_update",
    about: "pending OS updates (apt-get -s upgrade, dnf, softwareupdate), checked in the background",
    reads: &[],
    series: None,
    start: |setup| Some(Box::new(OsUpdates::new(setup))),
};

/// A package manager the check knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Manager {
    Apt,
    Dnf,
    SoftwareUpdate,
}

impl Manager {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Manager::Apt => "apt-get",
            Manager::Dnf => "dnf",
            Manager::SoftwareUpdate => "softwareupdate",
        }
    }

    /// The package manager of this system, looked up in `PATH`.
    pub(crate) fn find() -> Option<(Manager, PathBuf)> {
        let candidates: &[Manager] =
            if cfg!(target_os = "macos") { &[Manager::SoftwareUpdate] } else { &[Manager::Apt, Manager::Dnf] };
        candidates.iter().find_map(|&m| which(m.name()).map(|p| (m, p)))
    }
}

/// What one check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pending {
    pub count: u64,
    pub security: Option<u64>,
}

/// `apt-get -s upgrade`: one `Inst <package> [<old>] (<new> <suites> [<arch>])` line per
/// package; it is a security update when one of its suites ends in `-security`.
pub(crate) fn parse_apt(text: &str) -> Pending {
    let (mut count, mut security) = (0, 0);
    for line in text.lines().filter(|l| l.starts_with("Inst ")) {
        count += 1;
        let sources = line.split_once('(').map_or("", |(_, rest)| rest);
        if sources.split([' ', ',']).any(|word| word.contains("-security")) {
            security += 1;
        }
    }
    Pending { count, security: Some(security) }
}

/// `dnf check-update`: one `<name>.<arch> <version> <repository>` line per package, before an
/// `Obsoleting Packages` section if there is one.
pub(crate) fn parse_dnf(text: &str) -> u64 {
    let mut n = 0;
    for line in text.lines() {
        if line.starts_with("Obsoleting") {
            break;
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() == 3 && f[0].contains('.') && !line.starts_with(' ') {
            n += 1;
        }
    }
    n
}

/// `dnf updateinfo list --security`: one `<advisory> <severity>/Sec. <package>` line per
/// package to update; the distinct packages.
pub(crate) fn parse_dnf_security(text: &str) -> u64 {
    let mut packages: Vec<&str> = text
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 3 && f[1].contains("Sec")).then_some(f[2])
        })
        .collect();
    packages.sort_unstable();
    packages.dedup();
    packages.len() as u64
}

/// `softwareupdate --list`: one `* Label: <name>` line per update.
pub(crate) fn parse_softwareupdate(text: &str) -> u64 {
    text.lines().filter(|l| l.trim_start().starts_with("* Label:")).count() as u64
}

/// Runs `program` as [`program::run`] does; its standard output when it exits with one of
/// `ok` (dnf's 100 is "updates available").
fn run(program: &Path, args: &[&str], timeout: Duration, ok: &[i32]) -> Result<String, String> {
    program::run(program, args, timeout)?.expect(program, ok)
}

/// One check with `manager`.
pub(crate) fn check(manager: Manager, program: &Path, timeout: Duration) -> Result<Pending, String> {
    match manager {
        Manager::Apt => run(program, &["-s", "-q", "upgrade"], timeout, &[0]).map(|out| parse_apt(&out)),
        Manager::Dnf => {
            let updates = run(program, &["-C", "-q", "check-update"], timeout, &[0, 100])?;
            let security = run(program, &["-C", "-q", "updateinfo", "list", "--security"], timeout, &[0])
                .ok()
                .map(|out| parse_dnf_security(&out));
            Ok(Pending { count: parse_dnf(&updates), security })
        }
        Manager::SoftwareUpdate => run(program, &["--list"], timeout, &[0])
            .map(|out| Pending { count: parse_softwareupdate(&out), security: None }),
    }
}

pub(crate) struct OsUpdates {
    /// `None` without a package manager.
    latest: Option<super::shared::poller::Poller<OsUpdate>>,
    /// Without a package manager: what `/system` says.
    none: OsUpdate,
    reboot_flag: Option<PathBuf>,
}

impl OsUpdates {
    fn new(setup: &Setup) -> OsUpdates {
        let reboot_flag = cfg!(target_os = "linux").then(|| PathBuf::from("/run/reboot-required"));
        let Some((manager, program)) = Manager::find() else {
            tracing::info!("no known package manager (apt-get, dnf, softwareupdate): OS updates are not checked");
            return OsUpdates { latest: None, none: OsUpdate::default(), reboot_flag };
        };
        let initial = OsUpdate { source: Some(manager.name().into()), ..Default::default() };
        let (every, timeout) = (setup.update_check_interval.unwrap_or(Duration::MAX), setup.update_check_timeout);
        let make = move || {
            move |shared: &Mutex<OsUpdate>| {
                let result = check(manager, &program, timeout);
                let mut u = shared.locked();
                match change(&mut u.error, result.as_ref().err().map(String::as_str)) {
                    Some(Change::Failed(e)) => tracing::warn!("OS update check failed: {e}"),
                    Some(Change::Recovered(_)) => tracing::info!("the OS update check works again"),
                    None => {}
                }
                if let Ok(p) = result {
                    u.available = Some(p.count > 0);
                    u.count = Some(p.count);
                    u.security = p.security;
                }
                u.checked_at = Some(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
                every
            }
        };
        let delay = setup.update_check_delay;
        let latest =
            super::shared::poller::Poller::start("os-update", initial, (delay, Duration::ZERO), make, |u, e| {
                u.error = Some(format!("no thread for the check: {e}"));
            });
        OsUpdates { latest: Some(latest), none: OsUpdate::default(), reboot_flag }
    }
}

impl Collector for OsUpdates {
    fn collect(&mut self, r: &mut Reading) -> Result<(), CollectError> {
        let mut u = self.latest.as_ref().map_or_else(|| self.none.clone(), |p| p.latest().clone());
        if let Some(flag) = &self.reboot_flag {
            super::shared::files::note(flag);
            u.reboot_required = Some(flag.exists());
        }
        r.snapshot.system.os_update = Some(u);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    /// Real `apt-get -s upgrade` output (Debian 12, with a security update).
    const APT: &str = "NOTE: This is only a simulation!\n      apt-get needs root privileges for real execution.\n\
        Reading package lists...\nBuilding dependency tree...\nCalculating upgrade...\n\
        The following packages will be upgraded:\n  bash libgcrypt20 liblzma5\n\
        3 upgraded, 0 newly installed, 0 to remove and 0 not upgraded.\n\
        Inst bash [5.2.15-2+b8] (5.2.15-2+b13 Debian:12.15/oldstable [amd64])\n\
        Inst libgcrypt20 [1.10.1-3] (1.10.1-3+deb12u1 Debian:12.15/oldstable, Debian-Security:12/oldstable-security [amd64])\n\
        Inst liblzma5 [5.4.1-1] (5.4.1-1+deb12u2 Debian-Security:12/oldstable-security [amd64]) []\n\
        Conf bash (5.2.15-2+b13 Debian:12.15/oldstable [amd64])\n";

    #[test]
    fn apt_counts_and_security() {
        assert_eq!(parse_apt(APT), Pending { count: 3, security: Some(2) });
        let ubuntu = "Inst libssl3 [3.0.2-0ubuntu1.10] (3.0.2-0ubuntu1.12 Ubuntu:22.04/jammy-updates, \
            Ubuntu:22.04/jammy-security [amd64])\nInst vim [2:8.2] (2:8.2.1 Ubuntu:22.04/jammy-updates [amd64])\n";
        assert_eq!(parse_apt(ubuntu), Pending { count: 2, security: Some(1) });
        assert_eq!(parse_apt("0 upgraded, 0 newly installed, 0 to remove and 0 not upgraded.\n").count, 0);
    }

    #[test]
    fn dnf_counts() {
        let out = "\nkernel.x86_64                 6.8.9-300.fc40         updates\n\
            openssl-libs.x86_64           1:3.2.2-3.fc40         updates\n\
            Obsoleting Packages\n\
            grub2-tools.x86_64            1:2.06-121.fc40        updates\n    grub2-tools.x86_64    1:2.06-120.fc40   @updates\n";
        assert_eq!(parse_dnf(out), 2);
        let sec = "FEDORA-2024-1a2b3c4d5e Important/Sec. openssl-libs-1:3.2.2-3.fc40.x86_64\n\
            FEDORA-2024-1a2b3c4d5e Important/Sec. openssl-1:3.2.2-3.fc40.x86_64\n\
            FEDORA-2024-99 Moderate/Sec. openssl-libs-1:3.2.2-3.fc40.x86_64\n";
        assert_eq!(parse_dnf_security(sec), 2);
    }

    #[test]
    fn softwareupdate_counts() {
        let out = "Software Update Tool\n\nFinding available software\nSoftware Update found the following new or updated software:\n\
            * Label: macOS Sonoma 14.5-23F79\n\tTitle: macOS Sonoma, Version: 14.5, Size: 1234K, Recommended: YES, Action: restart,\n\
            * Label: Safari17.5VenturaAuto-17.5\n\tTitle: Safari, Version: 17.5, Size: 100K, Recommended: YES,\n";
        assert_eq!(parse_softwareupdate(out), 2);
        assert_eq!(parse_softwareupdate("No new software available.\n"), 0);
    }

    /// A program that does not finish in time is killed, with its children.
    #[test]
    fn a_check_that_hangs_is_killed() {
        let t = Instant::now();
        let err =
            run(Path::new("/bin/sh"), &["-c", "sleep 30 & sleep 30"], Duration::from_millis(300), &[0]).unwrap_err();
        assert!(err.contains("did not finish within 0.3 s"), "{err}");
        assert!(t.elapsed() < Duration::from_secs(5));
        let err = run(Path::new("/bin/sh"), &["-c", "echo broken lists >&2; exit 100"], Duration::from_secs(5), &[0])
            .unwrap_err();
        assert!(err.ends_with("exited with code 100: broken lists"), "{err}");
    }
}
