//! `raspberry_pi`: the Raspberry Pi firmware's throttling state, now and since boot
//! (`raspberry_pi`; `null` on other machines).
//!
//! Linux: `devices/platform/soc/soc:firmware/get_throttled` under sysfs, a hexadecimal bit
//! field (bits 0–3 now, 16–19 since boot). Where the file does not exist the family does
//! nothing.

use crate::metrics;
use std::path::PathBuf;

use super::{CollectError, Collector, Entry, Reading, Setup};
use crate::snapshot::RaspberryPi;

pub(crate) const ENTRY: Entry = Entry {
    name: "raspberry_pi",
    about: "Raspberry Pi under-voltage and throttling, now and since boot (get_throttled)",
    reads: &[],
    series: Some(snapshot_series),
    start: |setup| {
        if cfg!(target_os = "linux") { Some(Box::new(Firmware::new(setup))) } else { None }
    },
};

pub(crate) struct Firmware {
    /// `get_throttled`, where it exists.
    throttled: Option<PathBuf>,
    files: super::shared::files::Files,
}

impl Firmware {
    fn new(setup: &Setup) -> Firmware {
        let path = setup.sysfs.join("devices/platform/soc/soc:firmware/get_throttled");
        Firmware {
            throttled: path.exists().then_some(path),
            files: super::shared::files::Files::with_limit(super::shared::files::SYSFS_LIMIT),
        }
    }
}

impl Collector for Firmware {
    fn collect(&mut self, r: &mut Reading) -> Result<(), CollectError> {
        let Some(path) = &self.throttled else { return Ok(()) };
        let text = self.files.read(path)?;
        let bits = parse_throttled(text)
            .ok_or_else(|| CollectError::parse(path, format!("{:?} is not a hexadecimal number", text.trim())))?;
        r.snapshot.raspberry_pi = Some(RaspberryPi::from_bits(bits));
        Ok(())
    }
}

/// `get_throttled`: a hexadecimal bit field, with or without `0x`.
pub(crate) fn parse_throttled(text: &str) -> Option<u32> {
    let t = text.trim();
    u32::from_str_radix(t.trim_start_matches("0x"), 16).ok()
}

/// The firmware's throttling flags of a snapshot.
pub(crate) fn snapshot_series(s: &crate::snapshot::Snapshot, out: &mut Vec<metrics::Family>) {
    if let Some(pi) = &s.raspberry_pi {
        let mut f = metrics::Family::new(
            "system_stats_raspberry_pi_throttled",
            metrics::Kind::Gauge,
            "Raspberry Pi firmware throttling flags (get_throttled): 1 when set, now or since boot.",
        );
        for (flag, now, since) in [
            ("under_voltage", pi.under_voltage, pi.under_voltage_occurred),
            ("frequency_capped", pi.frequency_capped, pi.frequency_capped_occurred),
            ("throttled", pi.throttled, pi.throttled_occurred),
            ("soft_temperature_limit", pi.soft_temperature_limit, pi.soft_temperature_limit_occurred),
        ] {
            f.push(vec![metrics::label("flag", flag), metrics::label("when", "now")], f64::from(u8::from(now)));
            f.push(
                vec![metrics::label("flag", flag), metrics::label("when", "since_boot")],
                f64::from(u8::from(since)),
            );
        }
        out.push(f);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttled_bits() {
        assert_eq!(parse_throttled("50000\n"), Some(0x50000));
        assert_eq!(parse_throttled("0x5"), Some(5));
        assert_eq!(parse_throttled("zz"), None);
        assert_eq!(parse_throttled(""), None);
    }
}
