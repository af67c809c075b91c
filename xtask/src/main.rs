//! Build-time tasks of system-stats, generated from the programs' own settings tables (the
//! ones `--help` is made of), so that what is installed never disagrees with the binaries:
//!
//!   cargo run -p xtask -- docs OUT_DIR
//!
//! writes `OUT_DIR/man/<program>.1` (man pages), `OUT_DIR/completions/` (bash, zsh and fish,
//! for both programs) and `OUT_DIR/default/system-stats` (the settings file the systemd units
//! read: every setting, commented, with its default) and `OUT_DIR/alerts/alerts.toml` (the stock
//! alert rules, commented, to copy from).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Command;
use clap_complete::Shell;
use system_stats::config::{FORWARDER_SETTINGS, ForwarderConfig, SERVICE_SETTINGS, ServiceConfig, Setting};

const USAGE: &str = "usage: cargo run -p xtask -- docs OUT_DIR";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["docs", out] => match docs(Path::new(out)) {
            Ok(written) => {
                for path in written {
                    println!("{}", path.display());
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("xtask docs: {e}");
                ExitCode::FAILURE
            }
        },
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}

/// What each program's man page says beyond its options.
struct Page {
    command: Command,
    files: &'static [(&'static str, &'static str)],
    exit: &'static [(&'static str, &'static str)],
    see_also: &'static str,
}

fn pages() -> Vec<Page> {
    vec![
        Page {
            command: ServiceConfig::command(),
            files: &[
                ("/etc/default/system-stats", "Settings read by the systemd unit (VARIABLE=value lines)."),
                ("/lib/systemd/system/system-stats.service", "The systemd unit: no privileges, a throwaway user."),
            ],
            exit: &[
                ("0", "Stopped by SIGTERM or SIGINT."),
                ("1", "The port could not be listened on, or the kernel's files could not be read."),
                ("2", "A bad setting: one line on standard error names the variable and what it accepts."),
            ],
            see_also: "system-stats-forwarder(1), systemctl(1)",
        },
        Page {
            command: ForwarderConfig::command(),
            files: &[
                (
                    "/etc/default/system-stats",
                    "Settings read by the systemd unit (VARIABLE=value lines), shared with the service.",
                ),
                ("/etc/default/system-stats-forwarder", "Read after it, for settings of the forwarder alone."),
                (
                    "/var/lib/system-stats-forwarder",
                    "The spools under systemd (StateDirectory=): one file per destination, kept when the package \
                     is removed, deleted when it is purged.",
                ),
            ],
            exit: &[
                ("0", "Stopped by SIGTERM, or --once delivered everything."),
                (
                    "1",
                    "--once: a destination did not accept (the sample stays spooled); --check-spool: a spool is damaged.",
                ),
                (
                    "2",
                    "A bad setting, or a spool directory that cannot be used (permission, read-only, in use by another forwarder).",
                ),
                ("3", "No sample could be read from the service (--once, --dry-run)."),
            ],
            see_also: "system-stats-service(1), systemctl(1)",
        },
    ]
}

fn docs(out: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    let mut write = |path: PathBuf, bytes: &[u8]| -> std::io::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(&path, bytes).map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        written.push(path);
        Ok(())
    };
    for page in pages() {
        let name = page.command.get_name().to_string();
        write(out.join("man").join(format!("{name}.1")), &man(&page)?)?;
        for (shell, file) in
            [(Shell::Bash, name.clone()), (Shell::Zsh, format!("_{name}")), (Shell::Fish, format!("{name}.fish"))]
        {
            let mut buf = Vec::new();
            clap_complete::generate(shell, &mut page.command.clone(), &name, &mut buf);
            write(out.join("completions").join(shell.to_string()).join(file), &buf)?;
        }
    }
    write(out.join("default").join("system-stats"), settings_file().as_bytes())?;
    write(out.join("alerts").join("alerts.toml"), rules_file().as_bytes())?;
    Ok(written)
}

/// The man page: clap's rendering of the command (name, synopsis, description, every option
/// with its variable and default), then FILES, EXIT STATUS and SEE ALSO.
fn man(page: &Page) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    clap_mangen::Man::new(page.command.clone())
        .manual("system-stats")
        .source(system_stats::VERSION)
        .render(&mut buf)?;
    let mut extra = String::new();
    let list = |extra: &mut String, title: &str, items: &[(&str, &str)]| {
        let _ = writeln!(extra, ".SH \"{title}\"");
        for (term, text) in items {
            let _ = writeln!(extra, ".TP\n{}\n{}", roff_escape(term), roff_escape(text));
        }
    };
    list(&mut extra, "FILES", page.files);
    list(&mut extra, "EXIT STATUS", page.exit);
    let _ = writeln!(extra, ".SH \"SEE ALSO\"\n{}", roff_escape(page.see_also));
    buf.extend_from_slice(extra.as_bytes());
    Ok(buf)
}

/// Text safe at the start of a roff line and for its backslashes.
fn roff_escape(text: &str) -> String {
    let text = text.replace('\\', "\\e").replace('-', "\\-");
    if text.starts_with('.') || text.starts_with('\'') { format!("\\&{text}") } else { text }
}

/// Settings off by default (empty) shown with a value to uncomment instead.
const EXAMPLES: &[(&str, &str)] = &[
    ("SYSTEM_STATS_FORWARDER_METRICS", "127.0.0.1:5002"),
    ("SYSTEM_STATS_ALERT_RULES", "/etc/system-stats/alerts.toml"),
];

/// `/etc/system-stats/alerts.toml`: the stock alert rules, commented out, to copy from. As
/// installed it holds no rule (the stock ones apply without it).
fn rules_file() -> String {
    let mut out = String::from(
        "# Alert rules of system-stats-service, read when SYSTEM_STATS_ALERT_RULES names this file\n\
         # (/etc/default/system-stats). The stock rules below apply without it; this copy,\n\
         # commented out, is to start from: uncomment a rule and change it (a rule of the same\n\
         # name replaces the stock one), add rules of your own, or leave stock rules out with\n\
         # disable = [\"NodeCPUHighUsage\", ...]. Check the file with\n\
         #   system-stats-service --check-alerts /etc/system-stats/alerts.toml\n\
         # then `systemctl restart system-stats`. The quantities and their labels:\n\
         # /usr/share/doc/system-stats/docs/alerts.md.gz\n\n",
    );
    for line in system_stats::alerts::rules::STOCK.lines() {
        if line.is_empty() {
            out.push('\n');
        } else {
            let _ = writeln!(out, "#{line}");
        }
    }
    out
}

/// `/etc/default/system-stats`: every setting of both programs, commented out at its default
/// (or at an example value, for those off by default), with its help text, wrapped.
fn settings_file() -> String {
    let mut out = String::from(
        "# Settings of system-stats, read by the systemd units of both programs\n\
         # (system-stats.service and system-stats-forwarder.service) as VARIABLE=value lines.\n\
         # Every setting is listed below, commented out at its default: uncomment and edit,\n\
         # then `systemctl restart system-stats` (and system-stats-forwarder when enabled).\n\
         # A bad value stops the program with a line naming it: `journalctl -u system-stats`.\n\
         # This file is readable by every user: keep tokens in a file only root reads\n\
         # (SYSTEM_STATS_AUTH_TOKEN_FILE) rather than in SYSTEM_STATS_AUTH_TOKEN here.\n",
    );
    let mut seen = std::collections::HashSet::new();
    let section = |out: &mut String, title: &str, settings: &[Setting], seen: &mut std::collections::HashSet<&str>| {
        let _ = write!(out, "\n# ---- {title} ----\n");
        for s in settings.iter().filter(|s| seen.insert(s.env)) {
            out.push('\n');
            for line in wrap(s.help, 76) {
                let _ = writeln!(out, "# {line}");
            }
            let value = EXAMPLES.iter().find(|(env, _)| *env == s.env).map_or(s.default, |(_, example)| example);
            let _ = writeln!(out, "#{}={}", s.env, value);
        }
    };
    section(&mut out, "system-stats-service", SERVICE_SETTINGS, &mut seen);
    section(
        &mut out,
        "system-stats-forwarder (its unit also reads /etc/default/system-stats-forwarder, after this file)",
        FORWARDER_SETTINGS,
        &mut seen,
    );
    out
}

fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = vec![String::new()];
    for word in text.split_whitespace() {
        let line = lines.last_mut().expect("never empty");
        if !line.is_empty() && line.len() + 1 + word.len() > width {
            lines.push(word.to_string());
        } else {
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
    }
    lines
}
