//! Host identity: `/proc/sys/kernel/{hostname,osrelease,version,arch}` (what `uname(2)`
//! returns, but readable from a recorded tree), the device-tree model (Raspberry Pi) or the DMI
//! product name (x86).

/// A one-line sysfs/procfs string: trailing newlines and NULs (device-tree strings end in one)
/// removed; `None` when empty.
pub fn clean(text: &str) -> Option<String> {
    let t = text.trim_end_matches(['\0', '\n', ' ', '\t']).trim_start();
    (!t.is_empty()).then(|| t.to_string())
}

/// Python's `platform.platform()` on Linux: `Linux-<release>-<machine>-with-glibc<version>`
/// (the last part only for glibc builds).
pub fn platform_string(release: &str, machine: &str) -> String {
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
