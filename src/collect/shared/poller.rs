//! Work a family does on a thread of its own, at its own pace (systemd over D-Bus, the Docker
//! Engine, the package manager, another program's metrics), and what it says of its failures.
//!
//! The sampler never waits for such work: each sample reads the latest result ([`Poller`]),
//! however old. The thread ends at its next wake-up once the family is dropped; one stuck in
//! a call is left behind, never waited for.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::sync::Locked;

/// The latest result of a family's own thread.
pub(crate) struct Poller<T> {
    latest: Arc<Mutex<T>>,
    /// Dropping it ends the thread at its next wake-up.
    _stop: mpsc::Sender<()>,
}

impl<T: Send + 'static> Poller<T> {
    /// Starts a thread named `name`: it waits `delay`, builds its poll with `make` (on the
    /// thread: a connection, a runtime), then polls and waits what each poll returns, until the
    /// family is dropped. Each poll writes its result into the shared state. The start waits at
    /// most `first` for the first poll (the first sample then has it when it comes at once). A
    /// thread that cannot be started is written with `no_thread`.
    pub(crate) fn start<P>(
        name: &str,
        initial: T,
        (delay, first): (Duration, Duration),
        make: impl FnOnce() -> P + Send + 'static,
        no_thread: impl FnOnce(&mut T, String),
    ) -> Poller<T>
    where
        P: FnMut(&Mutex<T>) -> Duration,
    {
        let latest = Arc::new(Mutex::new(initial));
        let (stop, stopped) = mpsc::channel::<()>();
        let (polled, first_polled) = mpsc::channel::<()>();
        let shared = Arc::clone(&latest);
        let spawned = std::thread::Builder::new().name(name.into()).spawn(move || {
            if wait(&stopped, delay) {
                return;
            }
            let mut poll = make();
            loop {
                let next = poll(&shared);
                let _ = polled.send(());
                if wait(&stopped, next) {
                    return;
                }
            }
        });
        match spawned {
            Ok(_) if !first.is_zero() => {
                let _ = first_polled.recv_timeout(first);
            }
            Ok(_) => {}
            Err(e) => no_thread(&mut latest.locked(), e.to_string()),
        }
        Poller { latest, _stop: stop }
    }

    /// The latest result.
    pub(crate) fn latest(&self) -> MutexGuard<'_, T> {
        self.latest.locked()
    }
}

/// Waits `d` (forever for `Duration::MAX`); `true` when the family was dropped meanwhile.
fn wait(stopped: &mpsc::Receiver<()>, d: Duration) -> bool {
    if d.is_zero() {
        return false;
    }
    !matches!(stopped.recv_timeout(d), Err(RecvTimeoutError::Timeout))
}

/// What an outcome changes in what was said of something that may fail: it is said when it
/// starts failing or fails otherwise, and when it works again; never once per attempt.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Change {
    /// It fails, and did not, or failed otherwise: the new error.
    Failed(String),
    /// It works again after this error.
    Recovered(String),
}

/// Records `now` (the error, or `None` when it worked) in `said` (the error last said);
/// returns what to say, if anything.
pub(crate) fn change(said: &mut Option<String>, now: Option<&str>) -> Option<Change> {
    match (said.as_deref(), now) {
        (Some(before), Some(e)) if before == e => None,
        (_, Some(e)) => {
            *said = Some(e.to_string());
            Some(Change::Failed(e.to_string()))
        }
        (Some(_), None) => said.take().map(Change::Recovered),
        (None, None) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first poll is waited for (up to the bound), later ones come at the pace the poll
    /// sets, and dropping the poller ends the thread.
    #[test]
    fn polls_at_its_pace_and_ends_when_dropped() {
        let calls = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let counted = Arc::clone(&calls);
        let p = Poller::start(
            "test-poller",
            0u32,
            (Duration::ZERO, Duration::from_secs(5)),
            move || {
                move |state: &Mutex<u32>| {
                    *state.locked() += 1;
                    counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    Duration::from_millis(20)
                }
            },
            |_, _| {},
        );
        assert!(*p.latest() >= 1, "the first poll was not waited for");
        std::thread::sleep(Duration::from_millis(200));
        assert!(*p.latest() >= 3);
        drop(p);
        std::thread::sleep(Duration::from_millis(60));
        let after = calls.load(std::sync::atomic::Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), after, "the thread outlived its poller");
    }

    #[test]
    fn changes_are_said_once() {
        let mut said = None;
        assert_eq!(change(&mut said, None), None);
        assert_eq!(change(&mut said, Some("down")), Some(Change::Failed("down".into())));
        assert_eq!(change(&mut said, Some("down")), None);
        assert_eq!(change(&mut said, Some("refused")), Some(Change::Failed("refused".into())));
        assert_eq!(change(&mut said, None), Some(Change::Recovered("refused".into())));
        assert_eq!(change(&mut said, None), None);
    }
}
