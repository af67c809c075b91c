//! `host`: the machine's identity (`system`): host name, OS, kernel release and version,
//! architecture, Python's `platform.platform()` string, model.
//!
//! Linux: `/proc/sys/kernel/{hostname,osrelease,version,arch,domainname}` (what `uname(2)`
//! returns, but readable from a recorded tree), the device-tree model (Raspberry Pi) or the
//! DMI product name (x86). All but the host name are read once at start. macOS: `uname(3)`,
//! `sysinfo` and `sysctlbyname("hw.model")`.

// The Linux parsers compile everywhere so that their tests run everywhere; macOS calls none.
#![cfg_attr(not(target_os = "linux"), allow(dead_code))]

use super::{CollectError, Collector, Entry, Reading, Setup};
use crate::metrics;
use crate::snapshot::System;

pub(crate) const ENTRY: Entry = Entry {
    name: "host",
    about: "host name, OS, kernel, architecture, platform string, model",
    reads: &[],
    series: Some(snapshot_series),
    start: |setup| Some(Box::new(Host::new(setup))),
};

pub(crate) struct Host {
    /// Everything but the host name, found at start.
    system: System,
    #[cfg(target_os = "linux")]
    hostname: std::path::PathBuf,
    #[cfg(target_os = "linux")]
    files: super::shared::files::Files,
    /// Why the kernel's identity could not be read at start, if it could not.
    #[cfg(target_os = "linux")]
    missing: Option<std::path::PathBuf>,
}

#[cfg(target_os = "linux")]
impl Host {
    fn new(setup: &Setup) -> Host {
        let mut files = super::shared::files::Files::default();
        let kernel = setup.procfs.join("sys/kernel");
        let mut read = |path: std::path::PathBuf| files.read_once_opt(&path).and_then(clean);
        let release = read(kernel.join("osrelease"));
        let version = read(kernel.join("version"));
        let domainname = read(kernel.join("domainname"));
        let arch = read(kernel.join("arch"))
            .or_else(|| nix::sys::utsname::uname().ok().map(|u| u.machine().to_string_lossy().into_owned()));
        let model = read(setup.sysfs.join("firmware/devicetree/base/model"))
            .or_else(|| read(setup.sysfs.join("class/dmi/id/product_name")));
        let platform = match (&release, &arch) {
            (Some(r), Some(a)) => Some(platform_string(r, a)),
            _ => None,
        };
        Host {
            missing: release.is_none().then(|| kernel.join("osrelease")),
            system: System {
                hostname: None,
                os: Some("Linux".into()),
                os_release: release,
                os_version: version,
                architecture: arch,
                platform,
                model,
                domainname,
                os_update: None,
            },
            hostname: kernel.join("hostname"),
            files,
        }
    }
}

#[cfg(target_os = "linux")]
impl Collector for Host {
    fn collect(&mut self, r: &mut Reading) -> Result<(), CollectError> {
        let mut system = self.system.clone();
        system.hostname = self
            .files
            .read_opt(&self.hostname)
            .and_then(clean)
            .or_else(|| nix::unistd::gethostname().ok().map(|h| h.to_string_lossy().into_owned()));
        r.snapshot.system = system;
        match &self.missing {
            Some(path) => Err(CollectError::parse(path, "unreadable: the kernel release is unknown")),
            None => Ok(()),
        }
    }
}

#[cfg(target_os = "macos")]
impl Host {
    fn new(_: &Setup) -> Host {
        let uname = nix::sys::utsname::uname().ok();
        let field = |f: fn(&nix::sys::utsname::UtsName) -> &std::ffi::OsStr| {
            uname.as_ref().map(|u| f(u).to_string_lossy().into_owned())
        };
        let machine = field(nix::sys::utsname::UtsName::machine);
        let platform = match (sysinfo::System::os_version().ok(), &machine) {
            (Some(v), Some(m)) => Some(format!("macOS-{v}-{m}-64bit")),
            _ => None,
        };
        Host {
            system: System {
                hostname: None,
                os: Some("Darwin".into()),
                os_release: field(nix::sys::utsname::UtsName::release),
                os_version: field(nix::sys::utsname::UtsName::version),
                architecture: machine,
                platform,
                model: sysctl_string("hw.model"),
                domainname: None,
                os_update: None,
            },
        }
    }
}

#[cfg(target_os = "macos")]
impl Collector for Host {
    fn collect(&mut self, r: &mut Reading) -> Result<(), CollectError> {
        let mut system = self.system.clone();
        system.hostname = sysinfo::System::host_name().ok();
        r.snapshot.system = system;
        Ok(())
    }
}

/// A string sysctl such as `hw.model` (`Mac14,2`), read without spawning a process.
#[cfg(target_os = "macos")]
fn sysctl_string(name: &str) -> Option<String> {
    let name = std::ffi::CString::new(name).ok()?;
    let mut len: libc::size_t = 0;
    // SAFETY: a null buffer asks for the size; the second call writes at most `len` bytes.
    unsafe {
        if libc::sysctlbyname(name.as_ptr(), std::ptr::null_mut(), &mut len, std::ptr::null_mut(), 0) != 0 {
            return None;
        }
        let mut buf = vec![0u8; len];
        if libc::sysctlbyname(name.as_ptr(), buf.as_mut_ptr().cast(), &mut len, std::ptr::null_mut(), 0) != 0 {
            return None;
        }
        buf.truncate(len);
        let text = String::from_utf8_lossy(&buf).trim_end_matches('\0').trim().to_string();
        (!text.is_empty()).then_some(text)
    }
}

/// A one-line sysfs/procfs string: trailing newlines and NULs (device-tree strings end in one)
/// removed; `None` when empty.
pub(crate) fn clean(text: &str) -> Option<String> {
    let t = text.trim_end_matches(['\0', '\n', ' ', '\t']).trim_start();
    (!t.is_empty()).then(|| t.to_string())
}

/// Python's `platform.platform()` on Linux: `Linux-<release>-<machine>-with-glibc<version>`
/// (the last part only for glibc builds).
pub(crate) fn platform_string(release: &str, machine: &str) -> String {
    match glibc_version() {
        Some(v) => format!("Linux-{release}-{machine}-with-glibc{v}"),
        None => format!("Linux-{release}-{machine}"),
    }
}

#[cfg(target_env = "gnu")]
fn glibc_version() -> Option<String> {
    // SAFETY: gnu_get_libc_version returns a pointer to a static, NUL-terminated string.
    let v = unsafe { std::ffi::CStr::from_ptr(libc::gnu_get_libc_version()) };
    v.to_str().ok().map(str::to_string)
}

#[cfg(not(target_env = "gnu"))]
fn glibc_version() -> Option<String> {
    None
}

/// `node_uname_info` of a snapshot.
pub(crate) fn snapshot_series(s: &crate::snapshot::Snapshot, out: &mut Vec<metrics::Family>) {
    let y = &s.system;
    let Some(nodename) = &y.hostname else { return };
    out.push(
        metrics::Family::new(
            "node_uname_info",
            metrics::Kind::Gauge,
            "Labeled system information as provided by the uname system call.",
        )
        .with(
            vec![
                metrics::label("domainname", y.domainname.as_deref().unwrap_or("(none)")),
                metrics::label("machine", y.architecture.as_deref().unwrap_or("")),
                metrics::label("nodename", nodename),
                metrics::label("release", y.os_release.as_deref().unwrap_or("")),
                metrics::label("sysname", y.os.as_deref().unwrap_or("")),
                metrics::label("version", y.os_version.as_deref().unwrap_or("")),
            ],
            1.0,
        ),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_tree_strings_lose_their_nul() {
        assert_eq!(clean("Raspberry Pi 4 Model B Rev 1.4\0").as_deref(), Some("Raspberry Pi 4 Model B Rev 1.4"));
        assert_eq!(clean("pi\n").as_deref(), Some("pi"));
        assert_eq!(clean("\0"), None);
        assert_eq!(clean(""), None);
    }

    #[test]
    fn platform_looks_like_pythons() {
        let p = platform_string("6.1.0-rpi7-rpi-v8", "aarch64");
        assert!(p.starts_with("Linux-6.1.0-rpi7-rpi-v8-aarch64"), "{p}");
        if cfg!(target_env = "gnu") {
            assert!(p.contains("-with-glibc2."), "{p}");
        }
    }
}
