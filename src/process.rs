//! What both programs do once per process: read their settings, set up logging, malloc and
//! the one libm function they need, and wait for the signal that stops them.

/// A binary's start: its settings from the command line and the environment, or the one-line
/// error and exit code 2; then logging at the configured level, and a warning for every
/// `SYSTEM_STATS_*` variable no program reads.
pub fn start<C>(
    program: &str,
    command: clap::Command,
    parse: impl FnOnce(&clap::ArgMatches) -> Result<C, crate::config::ConfigError>,
    level: impl FnOnce(&C) -> tracing::level_filters::LevelFilter,
) -> Result<C, std::process::ExitCode> {
    one_malloc_arena();
    let cfg = parse(&command.get_matches()).map_err(|e| {
        eprintln!("{program}: {e}");
        std::process::ExitCode::from(2)
    })?;
    init_logging(level(&cfg));
    for name in crate::config::unknown_variables() {
        tracing::warn!("ignoring {name}: no system-stats program reads it (misspelt?)");
    }
    Ok(cfg)
}

/// One malloc arena for the whole process (glibc), unless `MALLOC_ARENA_MAX` asks for
/// another number: glibc gives each thread that allocates an arena of its own (a 64 MiB
/// reservation, part of it resident), for no gain in requests per second here
/// (`docs/performance.md`, "one malloc arena"). Called before any other thread exists.
fn one_malloc_arena() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: mallopt has no preconditions; an unknown parameter is refused with 0.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 1);
        }
    }
}

/// How long after its start a program is past its startup: settings read, listener bound, the
/// first samples taken or the first poll delivered.
pub const STARTUP: std::time::Duration = std::time::Duration::from_secs(5);

/// Once [`STARTUP`] is over, gives back what only startup needed ([`release_program_pages`]),
/// and says so at debug level. Spawned by both programs on their runtime.
pub async fn after_startup() {
    #[cfg(target_os = "linux")]
    {
        tokio::time::sleep(STARTUP).await;
        match release_program_pages() {
            Ok(kib) => tracing::debug!("startup over: gave back the mappings of {kib} KiB of code and constants"),
            Err(e) => tracing::debug!("startup over: cannot give back the pages of its code: {e}"),
        }
    }
}

/// Gives the kernel back the page mappings of this program's own code and constants (its
/// read-only, never-written mappings of the executable), called once startup is over. Parsing
/// settings and rules, building the TLS configuration and the first sample touch code that
/// never runs again; its pages stayed mapped (and counted in RSS) for the life of the process.
/// What runs again maps back in on its first call, from the page cache, as the kernel does for
/// any program text. The pages dropped stay in the page cache, unmapped: under memory pressure
/// the kernel reclaims them as any cached file, without the extra turn it gives code that a
/// process has mapped. Writable mappings and those holding private copies (the
/// relocated `.data.rel.ro`) are never touched: dropping those would lose data.
///
/// Returns the KiB that were resident in the mappings given back.
#[cfg(target_os = "linux")]
pub fn release_program_pages() -> std::io::Result<u64> {
    let smaps = std::fs::read_to_string("/proc/self/smaps")?;
    let maps = Mapping::parse_all(&smaps);
    let here = release_program_pages as *const () as usize;
    let Some(program) = maps.iter().find(|m| m.start <= here && here < m.end).map(|m| m.file) else {
        return Err(std::io::Error::other("no mapping in /proc/self/smaps holds this program's code"));
    };
    let mut released = 0;
    for m in maps.iter().filter(|m| m.file == program && m.read_only && m.anonymous_kib == Some(0)) {
        // SAFETY: the range is a whole mapping of the executable, read-only and without a private
        // copy of any page (checked just above, and it cannot get one: it is not writable), so
        // dropping its page table entries loses nothing: the next access maps the same bytes
        // back in from the file.
        let done = unsafe { libc::madvise(m.start as *mut libc::c_void, m.end - m.start, libc::MADV_DONTNEED) };
        if done != 0 {
            return Err(std::io::Error::last_os_error());
        }
        released += m.rss_kib;
    }
    Ok(released)
}

/// One mapping of `/proc/self/smaps`, with what [`release_program_pages`] needs of it.
#[cfg(target_os = "linux")]
#[derive(Debug)]
struct Mapping {
    start: usize,
    end: usize,
    read_only: bool,
    /// device and inode: which file is mapped (0 and 0 for anonymous memory)
    file: (u64, u64),
    rss_kib: u64,
    /// private copies of the file's pages; `None` when the kernel did not say
    anonymous_kib: Option<u64>,
}

#[cfg(target_os = "linux")]
impl Mapping {
    fn parse_all(smaps: &str) -> Vec<Mapping> {
        let mut maps: Vec<Mapping> = Vec::new();
        for line in smaps.lines() {
            if let Some(m) = Self::header(line) {
                maps.push(m);
            } else if let (Some(m), Some((key, value))) = (maps.last_mut(), line.split_once(':')) {
                let kib = value.trim().strip_suffix(" kB").and_then(|v| v.trim().parse().ok());
                match key {
                    "Rss" => m.rss_kib = kib.unwrap_or(0),
                    "Anonymous" => m.anonymous_kib = kib,
                    _ => {}
                }
            }
        }
        maps
    }

    /// `start-end perms offset major:minor inode [path]`
    fn header(line: &str) -> Option<Mapping> {
        let mut fields = line.split_ascii_whitespace();
        let (start, end) = fields.next()?.split_once('-')?;
        let perms = fields.next()?;
        let _offset = fields.next()?;
        let (major, minor) = fields.next()?.split_once(':')?;
        let inode = fields.next()?.parse().ok()?;
        let device = u64::from_str_radix(major, 16).ok()? << 32 | u64::from_str_radix(minor, 16).ok()?;
        Some(Mapping {
            start: usize::from_str_radix(start, 16).ok()?,
            end: usize::from_str_radix(end, 16).ok()?,
            read_only: perms.starts_with('r') && perms.get(1..2) == Some("-"),
            file: (device, inode),
            rss_kib: 0,
            anonymous_kib: None,
        })
    }
}

/// Logs to standard error (journald and launchd keep it), without colours unless it is a
/// terminal.
pub fn init_logging(level: tracing::level_filters::LevelFilter) {
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
}

/// Completes on SIGTERM or SIGINT (Ctrl-C).
pub async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("installing the SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("installing the SIGINT handler");
    let name = tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    };
    tracing::info!("{name} received: shutting down");
}

/// Defines `pow(3)` in the program that invokes it (`system_stats::libm_pow!();` at the top
/// of each binary), never in the library, so that no test, bench or example linking the
/// library gets it. The one caller in the programs (tokio's scheduler weighs its poll-time
/// average with `f64::powf`) gets it from the `libm` crate: linking glibc's libm for that one
/// function mapped its text and tables into every process (touched as the loader resolves
/// its indirect functions: `docs/performance.md`, "Memory"). With this definition the linker
/// needs no libm (`--as-needed`).
#[macro_export]
macro_rules! libm_pow {
    () => {
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        #[unsafe(no_mangle)]
        pub extern "C" fn pow(x: f64, y: f64) -> f64 {
            $crate::process::libm::pow(x, y)
        }
    };
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[doc(hidden)]
pub use libm;

#[cfg(all(test, target_os = "linux", target_env = "gnu"))]
mod tests {
    #![allow(unreachable_pub)]
    crate::libm_pow!();

    /// The `pow` the programs link is the real function, as tokio uses it (`(1 - α)^n`).
    #[test]
    fn pow_is_the_power_function() {
        assert_eq!(pow(2.0, 10.0), 1024.0);
        assert_eq!(pow(2.0, 0.5), std::f64::consts::SQRT_2);
        assert!((pow(0.9, 3.0) - 0.729).abs() < 1e-15);
        assert!(pow(-1.0, 0.5).is_nan());
    }
}

#[cfg(all(test, target_os = "linux"))]
mod release_tests {
    use super::Mapping;

    /// Constants of the executable, 256 KiB of them: their own pages in its read-only mapping.
    static CONSTANTS: [u8; 256 * 1024] = [7; 256 * 1024];

    /// How many of the pages of the middle half of [`CONSTANTS`] this process has mapped
    /// (`/proc/self/pagemap`'s "present" bit, which it shows any process for its own pages).
    /// Nothing else reads them, and the kernel's fault-around (64 KiB) never reaches that far
    /// from the edges another access may touch.
    fn constants_mapped() -> usize {
        use std::os::unix::fs::FileExt;
        let pagemap = std::fs::File::open("/proc/self/pagemap").expect("opening /proc/self/pagemap");
        let page = 4096;
        let start = (CONSTANTS.as_ptr() as usize + CONSTANTS.len() / 4).next_multiple_of(page);
        let end = CONSTANTS.as_ptr() as usize + CONSTANTS.len() * 3 / 4;
        (start..end)
            .step_by(page)
            .filter(|address| {
                let mut entry = [0; 8];
                pagemap.read_exact_at(&mut entry, (address / page * 8) as u64).expect("reading /proc/self/pagemap");
                u64::from_ne_bytes(entry) >> 63 == 1
            })
            .count()
    }

    /// A table of pointers: in a position-independent executable it lives in `.data.rel.ro`,
    /// whose pages the loader wrote (relocated): dropping them would map back the file's
    /// unrelocated bytes and the next read of a name would fault or print garbage.
    static NAMES: [&str; 3] = ["read", "only", "after relocation"];

    /// The executable's constants, read, are given back, and the process runs on: they map back
    /// in when read again, and its relocated constants are intact.
    #[test]
    fn program_pages_are_given_back_and_the_program_runs_on() {
        let sum: u64 = std::hint::black_box(&CONSTANTS).iter().map(|&b| u64::from(b)).sum();
        assert_eq!(sum, 7 * 256 * 1024);
        let before = constants_mapped();
        assert_eq!(before, 32, "pages of the constants mapped once read");
        let released = super::release_program_pages().expect("releasing the program's pages");
        assert!(released >= 256, "released {released} KiB");
        assert_eq!(constants_mapped(), 0, "pages of the constants still mapped after the release");
        let again: u64 = std::hint::black_box(&CONSTANTS).iter().map(|&b| u64::from(b)).sum();
        assert_eq!(again, sum);
        assert_eq!(constants_mapped(), 32);
        let names = std::hint::black_box(&NAMES);
        assert_eq!(names.join(" "), "read only after relocation");
        assert_eq!(format!("{:?}", std::hint::black_box(Some(42))), "Some(42)");
    }

    /// Every kind of line `/proc/self/smaps` has: headers with and without a path, sizes, flags.
    #[test]
    fn smaps_headers_and_sizes_are_read() {
        let smaps = "\
55a53931e000-55a539472000 r--p 00000000 fe:00 5415552                    /usr/bin/system-stats-service
Size:               1360 kB
Rss:                 572 kB
Anonymous:             0 kB
VmFlags: rd mr mw me sd
55a53998f000-55a5399ab000 r--p 0066f000 fe:00 5415552                    /usr/bin/system-stats-service
Rss:                 112 kB
Anonymous:           112 kB
7ffd1c6e1000-7ffd1c702000 rw-p 00000000 00:00 0                          [stack]
Rss:                  40 kB
7f0000000000-7f0000001000 rw-p 00000000 00:00 0
Rss:                   4 kB
";
        let maps = Mapping::parse_all(smaps);
        let seen: Vec<_> =
            maps.iter().map(|m| (m.start, m.end, m.read_only, m.file, m.rss_kib, m.anonymous_kib)).collect();
        assert_eq!(
            seen,
            [
                (0x55a53931e000, 0x55a539472000, true, (0xfe << 32, 5415552), 572, Some(0)),
                (0x55a53998f000, 0x55a5399ab000, true, (0xfe << 32, 5415552), 112, Some(112)),
                (0x7ffd1c6e1000, 0x7ffd1c702000, false, (0, 0), 40, None),
                (0x7f0000000000, 0x7f0000001000, false, (0, 0), 4, None),
            ]
        );
    }
}
