//! How fast a backlog is delivered to a server that limits its rate without saying how (the
//! newest monitoring server: at most 60 POSTs in any minute, then 429 without `Retry-After`).
//!
//! Such a limit is a sliding window: `capacity` requests in any `window`. A request at `t` is
//! accepted when fewer than `capacity` were accepted in `(t − window, t]`, that is when the
//! `capacity`-th most recent acceptance is at least `window` old. [`Pace`] learns both:
//! - `capacity`: the deliveries accepted in a row before the first 429;
//! - `window`: after that 429 it probes, each probe waiting a third of the time since the
//!   acceptance whose expiry it waits for (0.5 s to a minute), until one is accepted; the
//!   window then lies between the last refused probe and that acceptance, both measured from
//!   the `capacity`-th acceptance before. It follows the upper bound (which works) and
//!   narrows the bounds by trying their middle, until they are within 5 %.
//!
//! Then each delivery goes out as soon as the `capacity`-th previous one is `window` old: a
//! drained backlog keeps the server at its full rate with a refusal now and then, instead of
//! bouncing off it. `SYSTEM_STATS_FORWARD_MAX_RATE` still bounds the pace. A server that says
//! `Retry-After` is obeyed to the letter instead (see the sender).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// The first probe's wait after a 429.
pub(crate) const PROBE_FIRST: Duration = Duration::from_millis(500);
/// Each probe waits this share of the time since the acceptance whose expiry it waits for:
/// a window is overshot by a third at most, found in a dozen probes from 1 s to a minute.
const PROBE_SHARE: f64 = 0.33;
/// The longest wait between two probes.
pub(crate) const PROBE_MAX: Duration = Duration::from_secs(60);
/// The learned window is good enough once its bounds are this close (a share of it).
const CONVERGED: f64 = 0.05;
/// Acceptances remembered: more than any capacity followed.
const REMEMBERED: usize = 4096;

/// Bounds of the server's window: `lower` is known to be too short, `upper` to be enough.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Bounds {
    lower: Duration,
    upper: Duration,
}

#[derive(Debug, Clone)]
pub(crate) struct Pace {
    /// The least gap between two deliveries (`SYSTEM_STATS_FORWARD_MAX_RATE`).
    min_gap: Duration,
    accepted: VecDeque<Instant>,
    /// Deliveries since the last 429.
    run: usize,
    capacity: Option<usize>,
    window: Option<Bounds>,
    /// The greatest lower bound seen while the window was not known yet.
    refused_after: Duration,
}

impl Pace {
    /// `ceiling`: the configured rate, samples per second (`None`: no limit).
    pub(crate) fn new(ceiling: Option<f64>) -> Pace {
        Pace {
            min_gap: ceiling.filter(|r| *r > 0.0).map_or(Duration::ZERO, |r| Duration::from_secs_f64(1.0 / r)),
            accepted: VecDeque::new(),
            run: 0,
            capacity: None,
            window: None,
            refused_after: Duration::ZERO,
        }
    }

    /// The limit followed, once learned: `capacity` deliveries per `window`.
    pub(crate) fn limit(&self) -> Option<(usize, Duration)> {
        Some((self.capacity?, self.window?.upper))
    }

    /// The pace followed now, samples per second (`None`: no limit at all).
    pub(crate) fn rate(&self) -> Option<f64> {
        let ceiling = (!self.min_gap.is_zero()).then(|| 1.0 / self.min_gap.as_secs_f64());
        match self.limit() {
            Some((c, w)) if !w.is_zero() => {
                let limit = c as f64 / w.as_secs_f64();
                Some(ceiling.map_or(limit, |r| r.min(limit)))
            }
            _ => ceiling,
        }
    }

    /// Whether the server's limit is being followed (or probed for).
    pub(crate) fn is_slowed(&self) -> bool {
        self.capacity.is_some()
    }

    /// The `n`-th most recent acceptance (1: the last).
    fn nth_last(&self, n: usize) -> Option<Instant> {
        self.accepted.len().checked_sub(n).map(|i| self.accepted[i])
    }

    /// Acceptances in `(now - span, now]`.
    fn within(&self, now: Instant, span: Duration) -> usize {
        let from = now.checked_sub(span);
        self.accepted.len() - self.accepted.partition_point(|&a| from.is_some_and(|f| a <= f))
    }

    /// A delivery at `now`: how long to wait before the next one.
    pub(crate) fn delivered(&mut self, now: Instant) -> Duration {
        if self.accepted.len() == REMEMBERED {
            self.accepted.pop_front();
        }
        self.accepted.push_back(now);
        self.run += 1;
        if let Some(c) = self.capacity {
            // more accepted within a span shorter than the window than thought: a larger
            // capacity (the first run did not start from an empty window)
            let lower = self.window.map_or(Duration::ZERO, |b| b.lower);
            let seen = self.within(now, lower);
            if seen > c {
                self.capacity = Some(seen);
            }
            // accepted: the capacity-th acceptance before this one had left the window
            if let Some(anchor) = self.nth_last(self.capacity.unwrap_or(c) + 1) {
                let upper = now.saturating_duration_since(anchor);
                self.window = Some(match self.window {
                    Some(b) => Bounds { lower: b.lower.min(upper), upper: b.upper.min(upper) },
                    None => Bounds { lower: self.refused_after.min(upper), upper },
                });
            }
        }
        self.next(now)
    }

    /// When the next delivery may go: as soon as the `capacity`-th acceptance back is a
    /// window old, the window taken as the middle of its bounds until they are close (a
    /// refusal then raises the lower one), and not before the minimal gap.
    fn next(&self, now: Instant) -> Duration {
        let (Some(c), Some(b)) = (self.capacity, self.window) else { return self.min_gap };
        let Some(anchor) = self.nth_last(c) else { return self.min_gap };
        let converged = b.upper.saturating_sub(b.lower).as_secs_f64() <= CONVERGED * b.upper.as_secs_f64();
        let window = if converged { b.upper } else { (b.lower + b.upper) / 2 };
        (anchor + window).saturating_duration_since(now).max(self.min_gap)
    }

    /// A 429 without `Retry-After` at `now`: how long to wait before the next try.
    pub(crate) fn throttled(&mut self, now: Instant) -> Duration {
        let run = std::mem::take(&mut self.run);
        let c = *self.capacity.get_or_insert(run.max(1));
        // refused: the capacity-th acceptance back is still inside the window
        let since = self.nth_last(c).map(|a| now.saturating_duration_since(a));
        match (self.window.as_mut(), since) {
            (Some(b), Some(since)) => {
                b.lower = b.lower.max(since);
                if b.lower >= b.upper {
                    // what was known no longer holds (the server's limit changed): learn anew
                    self.refused_after = b.lower;
                    self.window = None;
                }
            }
            (None, Some(since)) => self.refused_after = self.refused_after.max(since),
            _ => {}
        }
        if self.window.is_some() {
            return self.next(now);
        }
        // probing for the window: each wait a share of the time since the acceptance waited for
        since.unwrap_or_default().mul_f64(PROBE_SHARE).clamp(PROBE_FIRST, PROBE_MAX).max(self.min_gap)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server allowing `capacity` requests in any sliding `window`, in simulated time: a
    /// backlog of `n` delivered through [`Pace`] (5 ms a request); the times accepted and the
    /// refusals.
    fn simulate(capacity: usize, window: f64, n: usize, ceiling: f64) -> (Vec<f64>, usize) {
        let t0 = Instant::now();
        let at = |t: f64| t0 + Duration::from_secs_f64(t);
        let mut pace = Pace::new(Some(ceiling));
        let mut server: VecDeque<f64> = VecDeque::new();
        let (mut t, mut accepted, mut refused) = (0.0, Vec::new(), 0);
        while accepted.len() < n {
            t += 0.005;
            while server.front().is_some_and(|&a| t - a >= window) {
                server.pop_front();
            }
            let wait = if server.len() < capacity {
                server.push_back(t);
                accepted.push(t);
                pace.delivered(at(t))
            } else {
                refused += 1;
                pace.throttled(at(t))
            };
            t += wait.as_secs_f64();
        }
        (accepted, refused)
    }

    /// What a sliding window lets through by `until`, starting empty at 0, taken greedily.
    fn allowed(capacity: usize, window: f64, until: f64) -> usize {
        capacity * (until / window).ceil() as usize
    }

    fn check(capacity: usize, window: f64, n: usize, minutes: f64) {
        let (times, refused) = simulate(capacity, window, n, 50.0);
        let span = minutes * 60.0;
        let got = times.iter().filter(|&&t| t < span).count();
        let can = allowed(capacity, window, span).min(n);
        eprintln!(
            "{capacity} per {window} s: {got} of the {can} allowed in {span} s ({:.0} %), {refused} refusals for {} deliveries",
            got as f64 * 100.0 / can as f64,
            times.len()
        );
        assert!(got * 10 >= can * 9, "{capacity}/{window} s: {got} of {can} in {span} s ({times:?})");
        assert!(refused * 4 <= times.len(), "{capacity}/{window} s: {refused} refusals for {} deliveries", times.len());
    }

    /// The newest server's limits, drained from a backlog: at least 90 % of what the server
    /// allows, at most one refusal for every 4 deliveries.
    #[test]
    fn a_sliding_window_is_used_to_nine_tenths() {
        check(10, 10.0, 120, 2.0);
        check(60, 60.0, 300, 5.0);
        check(5, 1.0, 200, 0.5);
        check(30, 60.0, 120, 4.0);
        // the first minute, learning included, as the end-to-end test sees it
        check(10, 10.0, 70, 1.0);
        check(60, 60.0, 150, 2.0);
    }

    /// Without a limit the configured rate is the pace; a server that never refuses is never
    /// waited for.
    #[test]
    fn without_refusals_the_configured_rate() {
        let t0 = Instant::now();
        let mut p = Pace::new(Some(50.0));
        for i in 0..100 {
            assert_eq!(p.delivered(t0 + Duration::from_millis(20 * i)), Duration::from_millis(20));
        }
        assert_eq!(p.rate(), Some(50.0));
        assert!(!p.is_slowed());
        let mut p = Pace::new(None);
        assert_eq!(p.delivered(t0), Duration::ZERO);
        assert_eq!(p.rate(), None);
    }

    /// After the first 429 the probes wait longer and longer, never beyond a minute.
    #[test]
    fn probes_grow_and_are_bounded() {
        let t0 = Instant::now();
        let mut p = Pace::new(Some(50.0));
        for i in 0..10 {
            p.delivered(t0 + Duration::from_millis(20 * i));
        }
        let mut waits = vec![];
        for i in 0..40 {
            waits.push(p.throttled(t0 + Duration::from_secs(i * i)));
        }
        assert_eq!(waits[0], PROBE_FIRST);
        assert!(waits.windows(2).all(|w| w[1] >= w[0]));
        assert_eq!(*waits.last().unwrap(), PROBE_MAX);
        assert_eq!(p.capacity, Some(10));
        assert!(p.window.is_none());
    }
}
