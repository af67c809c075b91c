//! The modes that send nothing: `--dry-run` (what would be sent), `--check-spool` (the state
//! of every spool) and `--salvage-spool` (a damaged spool's samples queued again).

use super::exit;
use super::source::Source;
use super::spool::{self, Spool};
use super::spool_dir;
use crate::config::{Format, ForwarderConfig};

/// `--dry-run`: one poll of what the destinations need, and what each would be sent: the
/// JSON payload (printed whole), or for a metric destination the series of `/metrics` and
/// the labels they are pushed with.
pub(crate) async fn dry_run(cfg: &ForwarderConfig, source: &Source) -> u8 {
    let json = cfg.destinations.iter().any(|d| d.format == Format::Json);
    let metric: Vec<&crate::config::Destination> =
        cfg.destinations.iter().filter(|d| d.format != Format::Json).collect();
    if json {
        match source.snapshot().await {
            Ok((sample, _, _)) => {
                println!("{}", serde_json::to_string_pretty(&sample.json_payload()).unwrap_or_default());
            }
            Err(e) => {
                tracing::error!("no sample from {}: {e}", source.system);
                return exit::NO_SAMPLE;
            }
        }
    }
    if !metric.is_empty() {
        match source.scrape().await {
            Ok((scrape, _)) => {
                let parsed = crate::metrics::parse::parse(&scrape.text).map(|p| p.families).unwrap_or_default();
                let series: usize = parsed.iter().map(|f| f.samples.len()).sum();
                let at = chrono::DateTime::from_timestamp_millis(scrape.collected_at_ms).unwrap_or_default();
                for d in metric {
                    println!(
                        "{}: {series} series of {} families from {}, job=\"{}\" instance=\"{}\", at {}",
                        d.label,
                        parsed.len(),
                        source.scrape,
                        super::sender::JOB,
                        scrape.instance,
                        at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
                    );
                }
            }
            Err(e) => {
                tracing::error!("no sample from {}: {e}", source.scrape);
                return exit::NO_SAMPLE;
            }
        }
    }
    exit::OK
}

/// `--check-spool`: the state of every spool in the directory, without sending anything.
pub(crate) fn check_spools(cfg: &ForwarderConfig) -> u8 {
    let dir = &cfg.spool_dir;
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            println!("no spool directory at {} (nothing spooled yet)", dir.display());
            return exit::OK;
        }
        Err(e) => {
            println!("spool directory {}: {e}", dir.display());
            return exit::CONFIG;
        }
    };
    let mut names: Vec<String> = entries.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    let holder = match spool_dir::SpoolDir::lock(dir) {
        Ok(lock) => {
            drop(lock);
            None
        }
        Err(e) => Some(e),
    };
    if let Some(e) = &holder {
        println!("{e}: showing file sizes only");
    }
    let mut damaged = 0;
    let configured: Vec<(String, &str)> =
        cfg.destinations.iter().map(|d| (spool::file_name(&d.label), d.label.as_str())).collect();
    for (file, label) in &configured {
        let path = dir.join(file);
        if !path.exists() {
            println!("EMPTY    {label}: no spool yet ({})", path.display());
            continue;
        }
        if holder.is_some() {
            println!("IN USE   {label}: {} ({} bytes)", path.display(), file_size(&path));
            continue;
        }
        match spool::inspect(&path) {
            Ok(r) => println!("{:<8} {label}: {r}", if r.undecodable > 0 { "BAD" } else { "OK" }),
            Err(e) => {
                damaged += 1;
                println!("DAMAGED  {label}: {e} (the forwarder sets it aside and starts a fresh one)");
            }
        }
    }
    for name in &names {
        let path = dir.join(name);
        if name.contains(".damaged-") {
            println!("ASIDE    {} ({} bytes): a damaged spool kept for inspection", path.display(), file_size(&path));
        } else if name.ends_with(".redb") && !configured.iter().any(|(f, _)| f == name) {
            println!("UNUSED   {} ({} bytes): no configured destination uses it", path.display(), file_size(&path));
        }
    }
    if damaged > 0 { exit::NOT_DELIVERED } else { exit::OK }
}

/// `--salvage-spool FILE`: what still decodes of a damaged spool set aside, re-queued into
/// its destination's spool (found from the file's name), oldest first, without the samples
/// that spool already holds; the file is then renamed `*.salvaged`, so that a second run does
/// not queue them again.
pub(crate) fn salvage_spool(cfg: &ForwarderConfig, file: &std::path::Path) -> u8 {
    let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let dest = cfg.destinations.iter().find(|d| name.starts_with(&format!("{}.damaged-", spool::file_name(&d.label))));
    if name.ends_with(".salvaged") {
        println!("{}: already salvaged", file.display());
        return exit::CONFIG;
    }
    let Some(dest) = dest else {
        let known: Vec<String> = cfg.destinations.iter().map(|d| spool::file_name(&d.label)).collect();
        println!(
            "{}: not a spool set aside for a configured destination (their names start with {}.damaged-)",
            file.display(),
            known.join(".damaged-, ")
        );
        return exit::CONFIG;
    };
    let _lock = match spool_dir::SpoolDir::lock(&cfg.spool_dir) {
        Ok(lock) => lock,
        Err(e) => {
            println!("{e}: stop the forwarder first");
            return exit::CONFIG;
        }
    };
    let found = match spool::salvage(file) {
        Ok(found) => found,
        Err(e) => {
            println!("{e}: nothing can be salvaged from it");
            return exit::NOT_DELIVERED;
        }
    };
    let path = cfg.spool_dir.join(spool::file_name(&dest.label));
    let mut target = match Spool::open(&path, cfg.spool_max_bytes) {
        Ok(s) => s,
        Err(e) => {
            println!("{e}");
            return exit::CONFIG;
        }
    };
    // a sample is the same one when its bytes are: times may repeat after a clock step
    let there: std::collections::HashSet<u64> = match target.entries() {
        Ok(entries) => entries.iter().map(|(_, v)| spool::stable_hash(&[v])).collect(),
        Err(e) => {
            println!("{e}");
            return exit::CONFIG;
        }
    };
    let (mut queued, mut duplicates) = (0u64, 0u64);
    for (_, sample) in &found.samples {
        if there.contains(&spool::stable_hash(&[sample])) {
            duplicates += 1;
            continue;
        }
        if let Err(e) = target.push_salvaged(sample) {
            println!("{e}: {queued} sample(s) re-queued before it; {} is left as it is", file.display());
            return exit::NOT_DELIVERED;
        }
        queued += 1;
    }
    drop(target);
    let mut done = file.as_os_str().to_owned();
    done.push(".salvaged");
    if let Err(e) = std::fs::rename(file, &done) {
        println!("{} could not be renamed ({e}): remove it, or a second run queues its samples again", file.display());
    }
    println!(
        "{queued} sample(s) of {} re-queued for {} ({duplicates} already spooled, {} not a snapshot{}); delivered \
         after the spool's current backlog",
        file.display(),
        dest.label,
        found.undecodable,
        found.stopped.as_ref().map(|why| format!("; the file breaks off after them: {why}")).unwrap_or_default()
    );
    exit::OK
}

fn file_size(path: &std::path::Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}
