//! The in-memory history behind `GET /history` and the page's charts: one point per second
//! for the last hour (3 600 points: every sample at the default 1 s interval; at a shorter
//! interval the first sample of each second), then one point per minute for 24 hours (1 440
//! points), each with the minimum, mean and maximum of the minute's points.
//!
//! Every series has fixed-size buffers, filled with "no value" when the series is created: the
//! memory is taken (and shows in RSS) from the first sample, never grows, and is
//! `series × (3 600 × 4 + 1 440 × 12)` bytes, about 31 KiB per series, at most
//! [`MAX_SERIES`] series (2 MiB). A series not seen for a day (an unmounted filesystem, a
//! removed container) is dropped.

use std::fmt::Write as _;

/// Points at full resolution: an hour at one per second.
pub(crate) const FINE: usize = 3600;
/// Points of a minute each: 24 hours.
pub(crate) const COARSE: usize = 1440;
/// At most this many series are kept; more (a host with hundreds of filesystems) are left out
/// of the history, with one log line, and still shown live.
pub(crate) const MAX_SERIES: usize = 64;
/// Cores get a series each when there are at most this many (the total always has one).
pub(crate) const MAX_CORE_SERIES: usize = 16;

/// The bytes the history takes per series.
pub const BYTES_PER_SERIES: usize = FINE * 4 + COARSE * 12;

/// A circular buffer of fixed capacity: `push` overwrites the oldest.
#[derive(Debug)]
struct Ring<T> {
    data: Vec<T>,
    /// Where the next value goes.
    head: usize,
    len: usize,
}

impl<T: Copy> Ring<T> {
    fn filled(capacity: usize, value: T) -> Ring<T> {
        Ring { data: vec![value; capacity], head: 0, len: 0 }
    }

    fn push(&mut self, v: T) {
        self.data[self.head] = v;
        self.head = (self.head + 1) % self.data.len();
        self.len = (self.len + 1).min(self.data.len());
    }

    /// The value `back` places before the newest (0: the newest).
    fn back(&self, back: usize) -> T {
        let cap = self.data.len();
        self.data[(self.head + cap - 1 - back) % cap]
    }

    /// Writes at the position `push` used last (to keep series aligned with the times).
    fn set_newest(&mut self, v: T) {
        let cap = self.data.len();
        self.data[(self.head + cap - 1) % cap] = v;
    }
}

#[derive(Debug)]
struct Series {
    name: String,
    fine: Ring<f32>,
    coarse: Ring<[f32; 3]>,
    /// The minute being gathered: min, sum, count, max.
    minute: (f32, f64, u32, f32),
    /// When it last had a value (unix seconds).
    seen: f64,
}

impl Series {
    /// A series without values so far, aligned with the times already recorded.
    fn new(name: &str, fine_times: &Ring<f64>, coarse_times: &Ring<f64>) -> Series {
        let mut fine = Ring::filled(FINE, f32::NAN);
        (fine.head, fine.len) = (fine_times.head, fine_times.len);
        let mut coarse = Ring::filled(COARSE, [f32::NAN; 3]);
        (coarse.head, coarse.len) = (coarse_times.head, coarse_times.len);
        Series { name: name.to_string(), fine, coarse, minute: (f32::INFINITY, 0.0, 0, f32::NEG_INFINITY), seen: 0.0 }
    }
}

/// The series of every sample, at two resolutions.
#[derive(Debug)]
pub struct History {
    fine_times: Ring<f64>,
    coarse_times: Ring<f64>,
    series: Vec<Series>,
    /// The minute (unix seconds / 60) being gathered.
    minute: Option<i64>,
    /// Series left out for want of room, already logged.
    full_logged: bool,
    /// The last minute window rendered: (seconds, its first and last times), and its JSON. It
    /// changes once a minute, and is asked for by every page showing a day.
    cached: Option<((u64, u64, u64), bytes::Bytes)>,
}

impl Default for History {
    fn default() -> Self {
        History {
            fine_times: Ring::filled(FINE, f64::NAN),
            coarse_times: Ring::filled(COARSE, f64::NAN),
            series: Vec::new(),
            minute: None,
            full_logged: false,
            cached: None,
        }
    }
}

/// One series of a window: its name, its means (or values), and for minute points the
/// minima and maxima.
pub(crate) type WindowSeries = (String, Vec<f32>, Option<(Vec<f32>, Vec<f32>)>);

/// A window of the history, ready to serialise.
#[derive(Debug, PartialEq)]
pub struct Window {
    /// Seconds asked for.
    pub seconds: u64,
    /// Seconds between points: 1 (or the sampling interval) for an hour or less, 60 beyond.
    pub resolution: u64,
    pub times: Vec<f64>,
    pub series: Vec<WindowSeries>,
}

impl History {
    /// The memory the series take now (their buffers are allocated whole).
    pub fn bytes(&self) -> usize {
        self.series.len() * BYTES_PER_SERIES + FINE * 8 + COARSE * 8
    }

    pub(crate) fn series_count(&self) -> usize {
        self.series.len()
    }

    /// Records a sample taken at `t` (unix seconds): `values` are (series name, value) pairs.
    /// At most one point per second is kept at full resolution.
    pub fn record(&mut self, t: f64, values: &[(String, f64)]) {
        if self.fine_times.len > 0 && t < self.fine_times.back(0) + 0.95 {
            return;
        }
        let minute = (t / 60.0).floor() as i64;
        if self.minute.is_some_and(|m| m != minute) {
            self.close_minute();
        }
        self.minute = Some(minute);
        self.fine_times.push(t);
        for s in &mut self.series {
            s.fine.push(f32::NAN);
        }
        for (name, v) in values {
            if !v.is_finite() {
                continue;
            }
            let i = match self.series.iter().position(|s| &s.name == name) {
                Some(i) => i,
                None if self.series.len() < MAX_SERIES => {
                    self.series.push(Series::new(name, &self.fine_times, &self.coarse_times));
                    self.series.len() - 1
                }
                None => {
                    if !self.full_logged {
                        self.full_logged = true;
                        tracing::info!("history: {MAX_SERIES} series kept; {name} and later ones are shown live only");
                    }
                    continue;
                }
            };
            let s = &mut self.series[i];
            let v32 = *v as f32;
            s.fine.set_newest(v32);
            s.seen = t;
            s.minute.0 = s.minute.0.min(v32);
            s.minute.1 += *v;
            s.minute.2 += 1;
            s.minute.3 = s.minute.3.max(v32);
        }
        // a series without a value for a day is gone for good
        self.series.retain(|s| t - s.seen < 86_400.0);
    }

    /// Closes the minute being gathered: one point of min, mean, max per series.
    fn close_minute(&mut self) {
        let Some(minute) = self.minute else { return };
        self.coarse_times.push(minute as f64 * 60.0);
        for s in &mut self.series {
            let (min, sum, count, max) = s.minute;
            s.coarse.push(if count == 0 { [f32::NAN; 3] } else { [min, (sum / f64::from(count)) as f32, max] });
            s.minute = (f32::INFINITY, 0.0, 0, f32::NEG_INFINITY);
        }
    }

    /// The window as JSON ([`Window::to_json`]); a minute window is rendered once per minute.
    pub fn window_json(&mut self, seconds: u64, now: f64) -> bytes::Bytes {
        if seconds <= 3600 {
            return self.window(seconds, now).to_json().into();
        }
        let since = now - seconds as f64;
        let mut n = 0;
        while n < self.coarse_times.len && self.coarse_times.back(n) >= since {
            n += 1;
        }
        let key = (
            seconds,
            if n > 0 { self.coarse_times.back(n - 1) as u64 } else { 0 },
            if n > 0 { self.coarse_times.back(0) as u64 } else { 0 },
        );
        if let Some((k, json)) = &self.cached
            && *k == key
        {
            return json.clone();
        }
        let json: bytes::Bytes = self.window(seconds, now).to_json().into();
        self.cached = Some((key, json.clone()));
        json
    }

    /// The last `seconds` before `now`: full-resolution points for an hour or less, minute
    /// points beyond (up to 24 hours).
    pub fn window(&self, seconds: u64, now: f64) -> Window {
        let since = now - seconds as f64;
        let coarse = seconds > 3600;
        let (times, len) =
            if coarse { (&self.coarse_times, self.coarse_times.len) } else { (&self.fine_times, self.fine_times.len) };
        // how many of the newest points fall in the window
        let mut n = 0;
        while n < len && times.back(n) >= since {
            n += 1;
        }
        let order = (0..n).rev();
        let out_times: Vec<f64> = order.clone().map(|b| times.back(b)).collect();
        let series = self
            .series
            .iter()
            .filter_map(|s| {
                if coarse {
                    let pts: Vec<[f32; 3]> = order.clone().map(|b| s.coarse.back(b)).collect();
                    if pts.iter().all(|p| p[1].is_nan()) {
                        return None;
                    }
                    let mean = pts.iter().map(|p| p[1]).collect();
                    let min = pts.iter().map(|p| p[0]).collect();
                    let max = pts.iter().map(|p| p[2]).collect();
                    Some((s.name.clone(), mean, Some((min, max))))
                } else {
                    let pts: Vec<f32> = order.clone().map(|b| s.fine.back(b)).collect();
                    if pts.iter().all(|p| p.is_nan()) {
                        return None;
                    }
                    Some((s.name.clone(), pts, None))
                }
            })
            .collect();
        let resolution = if coarse {
            60
        } else if n >= 2 {
            ((out_times[n - 1] - out_times[0]) / (n - 1) as f64).round().max(1.0) as u64
        } else {
            1
        };
        Window { seconds, resolution, times: out_times, series }
    }
}

/// A number as the history writes it: enough digits for a chart (4 significant, integers
/// from 1000 on), `null` for none. Written without allocating: a day's window has 130 000 of
/// them.
fn number(out: &mut String, v: f64) {
    if !v.is_finite() {
        out.push_str("null");
        return;
    }
    let a = v.abs();
    if a >= 1000.0 {
        if v < 0.0 {
            out.push('-');
        }
        push_u64(out, a.round() as u64);
        return;
    }
    let decimals: u32 = match a {
        _ if a >= 100.0 => 1,
        _ if a >= 10.0 => 2,
        _ if a >= 1.0 => 3,
        _ if a >= 0.1 => 4,
        _ if a >= 0.01 => 5,
        _ => 6,
    };
    let scale = 10u64.pow(decimals);
    let m = (v * scale as f64).round() as i64;
    if m == 0 {
        out.push('0');
        return;
    }
    if m < 0 {
        out.push('-');
    }
    let m = m.unsigned_abs();
    let (int, mut frac, mut width) = (m / scale, m % scale, decimals);
    push_u64(out, int);
    while frac > 0 && frac % 10 == 0 {
        frac /= 10;
        width -= 1;
    }
    if frac > 0 {
        out.push('.');
        for _ in digits(frac)..width {
            out.push('0');
        }
        push_u64(out, frac);
    }
}

fn digits(mut n: u64) -> u32 {
    let mut d = 1;
    while n >= 10 {
        n /= 10;
        d += 1;
    }
    d
}

/// A whole number in decimal, without the formatting machinery.
fn push_u64(out: &mut String, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.push_str(std::str::from_utf8(&buf[i..]).unwrap_or("0"));
}

/// A time in unix seconds with milliseconds.
fn push_time(out: &mut String, t: f64) {
    let ms = (t * 1000.0).round() as u64;
    push_u64(out, ms / 1000);
    out.push('.');
    let frac = ms % 1000;
    for _ in digits(frac)..3 {
        out.push('0');
    }
    push_u64(out, frac);
}

impl Window {
    /// `{"window":300,"resolution":1,"times":[...],"series":{"cpu":{"mean":[...]},...}}`;
    /// minute points add `"min"` and `"max"`.
    pub fn to_json(&self) -> String {
        let mut out = String::with_capacity(64 + self.times.len() * 12 * (1 + self.series.len()));
        let _ = write!(out, "{{\"window\":{},\"resolution\":{},\"times\":[", self.seconds, self.resolution);
        for (i, t) in self.times.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            push_time(&mut out, *t);
        }
        out.push_str("],\"series\":{");
        let list = |out: &mut String, values: &[f32]| {
            out.push('[');
            for (i, v) in values.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                number(out, f64::from(*v));
            }
            out.push(']');
        };
        for (i, (name, mean, range)) in self.series.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&serde_json::to_string(name).unwrap_or_default());
            out.push_str(":{\"mean\":");
            list(&mut out, mean);
            if let Some((min, max)) = range {
                out.push_str(",\"min\":");
                list(&mut out, min);
                out.push_str(",\"max\":");
                list(&mut out, max);
            }
            out.push('}');
        }
        out.push_str("}}");
        out
    }
}

/// A `window` query value: `5m`, `1h`, `24h` (any number of s, m or h) or plain seconds, from
/// 1 s to 24 h.
pub(crate) fn parse_window(s: &str) -> Result<u64, String> {
    let expected = || format!("window={s:?}: expected 5m, 1h, 24h or a number of seconds from 1 to 86400");
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().map_err(|_| expected())?;
    let scale = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        _ => return Err(expected()),
    };
    match n.checked_mul(scale) {
        Some(secs @ 1..=86_400) => Ok(secs),
        _ => Err(expected()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vals(pairs: &[(&str, f64)]) -> Vec<(String, f64)> {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    #[test]
    fn full_resolution_then_minutes() {
        let mut h = History::default();
        let t0 = 1_800_000_000.0; // a minute boundary
        for i in 0..180 {
            let t = t0 + f64::from(i);
            h.record(t, &vals(&[("cpu", f64::from(i % 60)), ("mem", 50.0)]));
            // faster sampling: a second sample within the same second is not kept
            h.record(t + 0.5, &vals(&[("cpu", 999.0)]));
        }
        let now = t0 + 179.0;
        let w = h.window(300, now);
        assert_eq!((w.times.len(), w.resolution), (180, 1));
        let cpu = w.series.iter().find(|s| s.0 == "cpu").unwrap();
        assert_eq!(cpu.1[0], 0.0);
        assert_eq!(cpu.1[179], 59.0);
        assert!(cpu.2.is_none());
        let w = h.window(30, now);
        assert_eq!(w.times.len(), 31);
        // three minutes: two closed so far
        let w = h.window(86_400, now);
        assert_eq!((w.times.len(), w.resolution), (2, 60));
        let cpu = w.series.iter().find(|s| s.0 == "cpu").unwrap();
        assert_eq!(cpu.1, vec![29.5, 29.5]);
        assert_eq!(cpu.2.as_ref().unwrap().0, vec![0.0, 0.0]);
        assert_eq!(cpu.2.as_ref().unwrap().1, vec![59.0, 59.0]);
        let json = w.to_json();
        assert!(
            json.starts_with("{\"window\":86400,\"resolution\":60,\"times\":[1800000000.000,1800000060.000]"),
            "{json}"
        );
        assert!(json.contains("\"cpu\":{\"mean\":[29.5,29.5],\"min\":[0,0],\"max\":[59,59]}"), "{json}");
    }

    #[test]
    fn series_come_and_go_aligned() {
        let mut h = History::default();
        let t0 = 1_800_000_000.0;
        h.record(t0, &vals(&[("cpu", 1.0)]));
        h.record(t0 + 1.0, &vals(&[("cpu", 2.0), ("fs//mnt", 10.0)]));
        h.record(t0 + 2.0, &vals(&[("cpu", 3.0)]));
        let w = h.window(60, t0 + 2.0);
        let fs = w.series.iter().find(|s| s.0 == "fs//mnt").unwrap();
        assert!(fs.1[0].is_nan() && fs.1[1] == 10.0 && fs.1[2].is_nan());
        assert!(w.to_json().contains("\"fs//mnt\":{\"mean\":[null,10,null]}"));
        // a day later it is gone
        h.record(t0 + 86_402.0, &vals(&[("cpu", 3.0)]));
        assert_eq!(h.series_count(), 1);
        // the buffers wrap without growing
        for i in 0..(FINE as u32 + 10) {
            h.record(t0 + 90_000.0 + f64::from(i), &vals(&[("cpu", f64::from(i))]));
        }
        let end = t0 + 90_000.0 + f64::from(FINE as u32 + 9);
        // a series born after the wrap lines up with the times
        h.record(end + 1.0, &vals(&[("cpu", 7.0), ("late", 5.0)]));
        let w = h.window(3600, end + 1.0);
        assert_eq!(w.times.len(), 3600);
        let late = w.series.iter().find(|s| s.0 == "late").unwrap();
        assert_eq!((late.1[3599], late.1[3598].is_nan()), (5.0, true));
        assert_eq!(h.bytes(), 2 * BYTES_PER_SERIES + FINE * 8 + COARSE * 8);
    }

    #[test]
    fn series_are_capped() {
        let mut h = History::default();
        let many: Vec<(String, f64)> = (0..MAX_SERIES + 5).map(|i| (format!("s{i}"), 1.0)).collect();
        h.record(1e9, &many);
        assert_eq!(h.series_count(), MAX_SERIES);
    }

    #[test]
    fn numbers_and_windows() {
        let s = |v: f64| {
            let mut o = String::new();
            number(&mut o, v);
            o
        };
        assert_eq!(s(12.3456), "12.35");
        assert_eq!(s(0.0012345), "0.001235");
        assert_eq!(s(-0.05), "-0.05");
        assert_eq!(s(100.04), "100");
        assert_eq!(s(1.0625), "1.063");
        assert_eq!(s(-2500.4), "-2500");
        assert_eq!(s(1234567.8), "1234568");
        assert_eq!(s(0.0), "0");
        assert_eq!(s(f64::NAN), "null");
        assert_eq!(parse_window("5m"), Ok(300));
        assert_eq!(parse_window("24h"), Ok(86_400));
        assert_eq!(parse_window("90"), Ok(90));
        for bad in ["0", "25h", "1d", "", "-5", "5 m", "99999999999999999999"] {
            assert!(parse_window(bad).unwrap_err().contains("expected 5m, 1h, 24h"), "{bad}");
        }
    }
}
