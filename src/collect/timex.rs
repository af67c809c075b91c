//! `timex`: node_exporter's `timex` collector: the kernel clock's discipline as NTP (chrony,
//! systemd-timesyncd, ntpd) steers it: whether it is synchronised, its offset, frequency
//! adjustment, maximum and estimated errors, PLL time constant, tick, PPS statistics and TAI
//! offset (`node_timex_*`, the dashboards' "System Timesync" row).
//!
//! Linux: `adjtimex(2)` with no mode bits set, which only reads. The system's clock, whatever
//! `SYSTEM_STATS_PROCFS` says (there is no file to record). Linux only.

#![cfg_attr(not(target_os = "linux"), allow(dead_code, unused_imports))]

use super::{CollectError, Collector, Entry, ReadBy, Reading};
use crate::metrics::{self, Kind};

pub(crate) const ENTRY: Entry = Entry {
    name: "timex",
    about: "clock synchronisation: offset, frequency, errors, status (adjtimex)",
    reads: &[],
    series: None,
    #[cfg(target_os = "linux")]
    start: |_| Some(Box::new(Timex)),
    #[cfg(not(target_os = "linux"))]
    start: super::absent,
};

/// `adjtimex`'s return value when the clock is not synchronised.
const TIME_ERROR: i32 = 5;
/// The `status` bit saying `offset` and `jitter` are in nanoseconds, not microseconds.
const STA_NANO: i64 = 0x2000;
/// Scaled parts per million: 2^16 × 10^6.
const PPM16FRAC: f64 = 65536.0 * 1e6;

pub(crate) struct Timex;

/// What `adjtimex(2)` reports, as plain numbers.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Clock {
    /// The return value: the clock state (`TIME_OK`... `TIME_ERROR`).
    pub state: i32,
    pub offset: i64,
    pub freq: i64,
    pub maxerror: i64,
    pub esterror: i64,
    pub status: i64,
    pub constant: i64,
    pub tick: i64,
    pub ppsfreq: i64,
    pub jitter: i64,
    pub shift: i64,
    pub stabil: i64,
    pub jitcnt: i64,
    pub calcnt: i64,
    pub errcnt: i64,
    pub stbcnt: i64,
    pub tai: i64,
}

#[cfg(target_os = "linux")]
impl Collector for Timex {
    fn read_by(&self) -> ReadBy {
        ReadBy::Metrics
    }

    fn collect(&mut self, r: &mut Reading) -> Result<(), CollectError> {
        // SAFETY: an all-zero `timex` is valid (modes 0: read only); adjtimex fills it.
        let mut t: libc::timex = unsafe { std::mem::zeroed() };
        // SAFETY: `t` is a valid, writable `timex`.
        let state = unsafe { libc::adjtimex(&mut t) };
        if state < 0 {
            return Err(CollectError::sys("adjtimex", "", std::io::Error::last_os_error()));
        }
        #[allow(clippy::unnecessary_cast, clippy::useless_conversion)]
        let clock = Clock {
            state,
            offset: t.offset as i64,
            freq: t.freq as i64,
            maxerror: t.maxerror as i64,
            esterror: t.esterror as i64,
            status: i64::from(t.status),
            constant: t.constant as i64,
            tick: t.tick as i64,
            ppsfreq: t.ppsfreq as i64,
            jitter: t.jitter as i64,
            shift: i64::from(t.shift),
            stabil: t.stabil as i64,
            jitcnt: t.jitcnt as i64,
            calcnt: t.calcnt as i64,
            errcnt: t.errcnt as i64,
            stbcnt: t.stbcnt as i64,
            tai: i64::from(t.tai),
        };
        r.export(clock);
        Ok(())
    }
}

impl metrics::Export for Clock {
    /// The three an alert rule reads, without building the rest.
    fn value(&self, name: &str) -> Option<f64> {
        let divisor = if self.status & STA_NANO != 0 { 1e9 } else { 1e6 };
        match name {
            "node_timex_sync_status" => Some(if self.state == TIME_ERROR { 0.0 } else { 1.0 }),
            "node_timex_offset_seconds" => Some(self.offset as f64 / divisor),
            "node_timex_maxerror_seconds" => Some(self.maxerror as f64 / 1e6),
            _ => {
                let mut out = Vec::new();
                self.families(&mut out);
                out.iter().find(|f| f.name == name).and_then(|f| f.samples.first()).map(|s| s.value)
            }
        }
    }

    fn families(&self, out: &mut Vec<metrics::Family>) {
        let divisor = if self.status & STA_NANO != 0 { 1e9 } else { 1e6 };
        let synced = if self.state == TIME_ERROR { 0.0 } else { 1.0 };
        let c = self;
        for (name, kind, help, value) in [
            ("sync_status", Kind::Gauge, "Is clock synchronized to a reliable server (1 = yes, 0 = no).", synced),
            (
                "offset_seconds",
                Kind::Gauge,
                "Time offset in between local system and reference clock.",
                c.offset as f64 / divisor,
            ),
            (
                "frequency_adjustment_ratio",
                Kind::Gauge,
                "Local clock frequency adjustment.",
                1.0 + c.freq as f64 / PPM16FRAC,
            ),
            ("maxerror_seconds", Kind::Gauge, "Maximum error in seconds.", c.maxerror as f64 / 1e6),
            ("estimated_error_seconds", Kind::Gauge, "Estimated error in seconds.", c.esterror as f64 / 1e6),
            ("status", Kind::Gauge, "Value of the status array bits.", c.status as f64),
            ("loop_time_constant", Kind::Gauge, "Phase-locked loop time constant.", c.constant as f64),
            ("tick_seconds", Kind::Gauge, "Seconds between clock ticks.", c.tick as f64 / 1e6),
            ("pps_frequency_hertz", Kind::Gauge, "Pulse per second frequency.", c.ppsfreq as f64 / PPM16FRAC),
            ("pps_jitter_seconds", Kind::Gauge, "Pulse per second jitter.", c.jitter as f64 / divisor),
            ("pps_shift_seconds", Kind::Gauge, "Pulse per second interval duration.", c.shift as f64),
            (
                "pps_stability_hertz",
                Kind::Gauge,
                "Pulse per second stability, average of recent frequency changes.",
                c.stabil as f64 / PPM16FRAC,
            ),
            (
                "pps_jitter_total",
                Kind::Counter,
                "Pulse per second count of jitter limit exceeded events.",
                c.jitcnt as f64,
            ),
            (
                "pps_calibration_total",
                Kind::Counter,
                "Pulse per second count of calibration intervals.",
                c.calcnt as f64,
            ),
            ("pps_error_total", Kind::Counter, "Pulse per second count of calibration errors.", c.errcnt as f64),
            (
                "pps_stability_exceeded_total",
                Kind::Counter,
                "Pulse per second count of stability limit exceeded events.",
                c.stbcnt as f64,
            ),
            ("tai_offset_seconds", Kind::Gauge, "International Atomic Time (TAI) offset.", c.tai as f64),
        ] {
            out.push(metrics::Family::new(format!("node_timex_{name}"), kind, help).with(vec![], value));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Export;

    fn value(f: &[metrics::Family], name: &str) -> f64 {
        f.iter().find(|f| f.name == name).unwrap_or_else(|| panic!("{name}")).samples[0].value
    }

    /// node_exporter's conversions: micro- or nanoseconds as the status says, scaled ppm.
    /// `value` answers as the families say, in microseconds and in nanoseconds, synchronised
    /// or not.
    #[test]
    fn values_agree_with_the_families() {
        for (state, status) in [(0, 0), (TIME_ERROR, STA_NANO), (1, STA_NANO)] {
            let c =
                Clock { state, status, offset: -1500, maxerror: 16_000_000, freq: 65536 * 12, ..Default::default() };
            crate::metrics::assert_values_agree(&c);
        }
    }

    #[test]
    fn units() {
        let c =
            Clock { state: 0, offset: 1500, freq: 65536 * 12, tick: 10000, maxerror: 2_000_000, ..Default::default() };
        let mut f = Vec::new();
        c.families(&mut f);
        assert_eq!(value(&f, "node_timex_sync_status"), 1.0);
        assert_eq!(value(&f, "node_timex_offset_seconds"), 0.0015);
        assert_eq!(value(&f, "node_timex_frequency_adjustment_ratio"), 1.000012);
        assert_eq!(value(&f, "node_timex_tick_seconds"), 0.01);
        assert_eq!(value(&f, "node_timex_maxerror_seconds"), 2.0);
        let nano = Clock { state: TIME_ERROR, offset: 1500, status: STA_NANO, ..Default::default() };
        let mut f = Vec::new();
        nano.families(&mut f);
        assert_eq!(value(&f, "node_timex_sync_status"), 0.0);
        assert_eq!(value(&f, "node_timex_offset_seconds"), 0.0000015);
        assert_eq!(f.len(), 17);
    }

    /// The real call answers on this machine, with the tick the kernel runs at.
    #[cfg(target_os = "linux")]
    #[test]
    fn this_machine() {
        let mut r = Reading::new(std::time::Instant::now(), std::time::SystemTime::now());
        Timex.collect(&mut r).unwrap();
        let mut f = Vec::new();
        r.exported[0].families(&mut f);
        let tick = value(&f, "node_timex_tick_seconds");
        assert!(tick > 0.0 && tick <= 0.01, "{tick}");
    }
}
