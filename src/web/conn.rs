//! Connections: at most `SYSTEM_STATS_MAX_CONNECTIONS` at a time, each with an idle and a
//! write timeout, so that clients that connect and never send, or send and never read, cannot
//! take the service down.
//!
//! Past the cap, a new connection takes the place of another, chosen in this order: one
//! waiting for a client that has not sent a byte in its first [`GRACE`], or for a client to
//! read what it was sent;
//! then one idle between requests (keep-alive) or in the middle of a slow request; last, one
//! just opened, or being answered. Within each, the one that has made no progress (no
//! byte read or written) for the longest goes first. Silent and never-reading clients go
//! first, while a connection being answered makes progress with every write and goes last. A new client
//! is answered as long as fewer than the cap of newer connections arrive before its request
//! does (a round trip on a LAN), however many are held open; refusing new connections instead
//! would let a client holding the cap with fresh ones shut everyone else out. The log says
//! when that starts and, once it has stopped for a while, how many were closed.

use crate::sync::Locked;
use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;

/// At most this many admitted connections not yet read from: past it, accepting pauses (new
/// clients wait in the kernel's queue) until they are, so that a flood of connections cannot
/// push a client that connected before it out before its request is read.
pub(crate) const MAX_UNREAD: usize = 32;

/// A new connection's client has this long to send its first byte before it counts as silent.
pub(crate) const GRACE: Duration = Duration::from_secs(1);

/// No byte either way for this long: the connection is closed (keep-alive idle included).
pub(crate) const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// A write that cannot progress for this long (a client that does not read): closed.
pub(crate) const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// An episode of refusals ends after this long without one.
const EPISODE_END: Duration = Duration::from_secs(10);

/// One connection as the registry sees it.
#[derive(Debug)]
pub(crate) struct Conn {
    id: u64,
    /// Milliseconds since the registry started, when it was admitted.
    admitted_at: u64,
    /// Milliseconds since the registry started, at the last byte read or written.
    last_progress: AtomicU64,
    /// What it is waiting for ([`READ_PENDING`], [`WRITE_PENDING`]) and whether the client
    /// has sent anything ([`GOT_BYTES`]).
    state: AtomicU8,
    /// Notified when the connection is to be closed for a newer one.
    pub evicted: Notify,
}

const READ_PENDING: u8 = 1;
const WRITE_PENDING: u8 = 2;
const GOT_BYTES: u8 = 4;
/// Read from at least once (or gone).
const POLLED: u8 = 8;

impl Conn {
    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// The order in which connections make room: lower first.
    fn rank(&self, now: u64) -> u8 {
        let s = self.state.load(Ordering::Relaxed) & !POLLED;
        let silent = s & READ_PENDING != 0 && s & GOT_BYTES == 0;
        if s & WRITE_PENDING != 0 || (silent && now.saturating_sub(self.admitted_at) >= GRACE.as_millis() as u64) {
            0
        } else if s & READ_PENDING != 0 && !silent {
            1
        } else {
            2
        }
    }

    fn set(&self, flag: u8, on: bool) {
        if on {
            self.state.fetch_or(flag, Ordering::Relaxed);
        } else {
            self.state.fetch_and(!flag, Ordering::Relaxed);
        }
    }
}

/// The open connections.
#[derive(Debug)]
pub(crate) struct Registry {
    max: usize,
    epoch: Instant,
    next: AtomicU64,
    open: Mutex<HashMap<u64, Arc<Conn>>>,
    episode: Mutex<Episode>,
    /// Admitted connections not yet read from, and a wake-up for when one is.
    unread: AtomicUsize,
    read_one: Notify,
    /// Wakes the housekeeping task when there is something to watch (an episode, a burst):
    /// an idle service does not wake up for it.
    pub busy: Notify,
}

/// Connections open at once from which a burst is watched (memory handed back after it).
pub(crate) const BURST: usize = 64;

#[derive(Debug, Default)]
struct Episode {
    since: Option<Instant>,
    last: Option<Instant>,
    closed: u64,
}

/// A registered connection; dropping it unregisters it.
pub(crate) struct Admitted {
    pub conn: Arc<Conn>,
    registry: Arc<Registry>,
}

impl Admitted {
    /// Called at each read: the first one counts the connection as read from.
    fn polled(&self) {
        if self.conn.state.fetch_or(POLLED, Ordering::Relaxed) & POLLED == 0 {
            self.registry.unread.fetch_sub(1, Ordering::Relaxed);
            self.registry.read_one.notify_one();
        }
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        self.polled();
        self.registry.open.locked().remove(&self.conn.id);
    }
}

impl Registry {
    pub(crate) fn new(max: usize) -> Arc<Registry> {
        Arc::new(Registry {
            max: max.max(1),
            epoch: Instant::now(),
            next: AtomicU64::new(0),
            open: Mutex::new(HashMap::new()),
            episode: Mutex::new(Episode::default()),
            unread: AtomicUsize::new(0),
            read_one: Notify::new(),
            busy: Notify::new(),
        })
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// Open connections.
    pub(crate) fn len(&self) -> usize {
        self.open.locked().len()
    }

    /// Returns when fewer than [`MAX_UNREAD`] admitted connections wait for their first read
    /// (checked again every 10 ms at most, in case a wake-up was missed).
    pub(crate) async fn backlog_room(&self) {
        while self.unread.load(Ordering::Relaxed) >= MAX_UNREAD {
            let _ = tokio::time::timeout(Duration::from_millis(10), self.read_one.notified()).await;
        }
    }

    /// Admits a new connection, closing the one idle the longest for it at the cap.
    pub(crate) fn admit(self: &Arc<Self>) -> Admitted {
        let now = self.now_ms();
        let mut open = self.open.locked();
        if open.len() >= self.max {
            let stalest = open
                .values()
                .min_by_key(|c| (c.rank(now), c.last_progress.load(Ordering::Relaxed), c.id))
                .map(Arc::clone);
            if let Some(old) = stalest {
                tracing::debug!(
                    "connection {} makes room (rank {}, state {:#x}, idle {} ms, open {} ms)",
                    old.id,
                    old.rank(now),
                    old.state.load(Ordering::Relaxed),
                    now.saturating_sub(old.last_progress.load(Ordering::Relaxed)),
                    now.saturating_sub(old.admitted_at)
                );
                open.remove(&old.id);
                old.evicted.notify_one();
                self.note();
            }
        }
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        self.unread.fetch_add(1, Ordering::Relaxed);
        let conn = Arc::new(Conn {
            id,
            admitted_at: now,
            last_progress: AtomicU64::new(now),
            state: AtomicU8::new(0),
            evicted: Notify::new(),
        });
        open.insert(id, Arc::clone(&conn));
        if open.len() == BURST {
            self.busy.notify_one();
        }
        Admitted { conn, registry: Arc::clone(self) }
    }

    /// Counts a connection closed for a new one; logs the start of an episode.
    fn note(&self) {
        let mut e = self.episode.locked();
        let now = Instant::now();
        if e.since.is_none() {
            tracing::warn!(
                "{} connections open (SYSTEM_STATS_MAX_CONNECTIONS): closing the one idle the longest for each new \
                 one (logged again when it is over)",
                self.max
            );
            e.since = Some(now);
            self.busy.notify_one();
        }
        e.last = Some(now);
        e.closed += 1;
    }

    /// Whether an episode of the connection limit is going on.
    pub(crate) fn in_episode(&self) -> bool {
        self.episode.locked().since.is_some()
    }

    /// Ends an episode that has been quiet long enough (with one line); called periodically.
    pub(crate) fn tick(&self) {
        let mut e = self.episode.locked();
        if let (Some(since), Some(last)) = (e.since, e.last)
            && last.elapsed() >= EPISODE_END
        {
            tracing::info!(
                "back under the connection limit after {:.0} s: {} idle connection(s) closed for new ones",
                (last - since).as_secs_f64(),
                e.closed,
            );
            *e = Episode::default();
        }
    }

    fn progress(&self, conn: &Conn) {
        conn.last_progress.store(self.now_ms(), Ordering::Relaxed);
    }
}

/// A connection's stream, timed: a read or write that cannot progress for too long fails, and
/// every byte that passes counts as progress for the registry.
pub(crate) struct Timed<S> {
    inner: S,
    admitted: Admitted,
    /// Armed while a read or write is pending.
    read_deadline: Option<Pin<Box<tokio::time::Sleep>>>,
    write_deadline: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<S> Timed<S> {
    pub(crate) fn new(inner: S, admitted: Admitted) -> Timed<S> {
        Timed { inner, admitted, read_deadline: None, write_deadline: None }
    }

    fn progressed(&mut self) {
        self.admitted.registry.progress(&self.admitted.conn);
    }
}

/// Whether the deadline (armed now if it is not) has passed.
fn expired(deadline: &mut Option<Pin<Box<tokio::time::Sleep>>>, after: Duration, cx: &mut Context<'_>) -> bool {
    let d = deadline.get_or_insert_with(|| Box::pin(tokio::time::sleep(after)));
    d.as_mut().poll(cx).is_ready()
}

use std::future::Future;

impl<S: AsyncRead + Unpin> AsyncRead for Timed<S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        this.admitted.polled();
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(r) => {
                this.read_deadline = None;
                this.admitted.conn.set(READ_PENDING, false);
                if buf.filled().len() > before {
                    this.admitted.conn.set(GOT_BYTES, true);
                    this.progressed();
                }
                Poll::Ready(r)
            }
            // idle: no byte either way for IDLE_TIMEOUT (a long answer the client is still
            // reading is progress, not idleness)
            Poll::Pending => loop {
                this.admitted.conn.set(READ_PENDING, true);
                let last = this.admitted.conn.last_progress.load(Ordering::Relaxed);
                let idle_for = Duration::from_millis(this.admitted.registry.now_ms().saturating_sub(last));
                if idle_for >= IDLE_TIMEOUT {
                    this.read_deadline = None;
                    return Poll::Ready(Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "idle")));
                }
                let left = IDLE_TIMEOUT - idle_for;
                let d = this.read_deadline.get_or_insert_with(|| Box::pin(tokio::time::sleep(left)));
                if d.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                // the timer fired; progress may have come meanwhile: look again
                this.read_deadline = None;
            },
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Timed<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<std::io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write(cx, data) {
            Poll::Ready(r) => {
                self.write_deadline = None;
                self.admitted.conn.set(WRITE_PENDING, false);
                if matches!(r, Ok(n) if n > 0) {
                    self.progressed();
                }
                Poll::Ready(r)
            }
            Poll::Pending => {
                self.admitted.conn.set(WRITE_PENDING, true);
                if expired(&mut self.write_deadline, WRITE_TIMEOUT, cx) {
                    self.write_deadline = None;
                    return Poll::Ready(Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "client not reading")));
                }
                Poll::Pending
            }
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write_vectored(cx, bufs) {
            Poll::Ready(r) => {
                self.write_deadline = None;
                self.admitted.conn.set(WRITE_PENDING, false);
                if matches!(r, Ok(n) if n > 0) {
                    self.progressed();
                }
                Poll::Ready(r)
            }
            Poll::Pending => {
                self.admitted.conn.set(WRITE_PENDING, true);
                if expired(&mut self.write_deadline, WRITE_TIMEOUT, cx) {
                    self.write_deadline = None;
                    return Poll::Ready(Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "client not reading")));
                }
                Poll::Pending
            }
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// Raises the soft limit of open files to the hard one (as Go programs do), and says how
/// many connections fit under it, leaving room for the collectors' files.
pub fn fit_connections(wanted: usize) -> usize {
    const RESERVE: u64 = 256;
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit with a valid pointer to a rlimit.
    let soft = unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return wanted;
        }
        if lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit { rlim_cur: lim.rlim_max, rlim_max: lim.rlim_max };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                lim.rlim_cur = lim.rlim_max;
            }
        }
        // rlim_t is 32 bits on 32-bit ARM (armhf), 64 elsewhere
        #[allow(clippy::useless_conversion)]
        u64::from(lim.rlim_cur)
    };
    let room = soft.saturating_sub(RESERVE).max(16) as usize;
    if room < wanted {
        tracing::warn!(
            "SYSTEM_STATS_MAX_CONNECTIONS={wanted} does not fit under the open-file limit {soft}: at most {room} \
             connections (raise LimitNOFILE)"
        );
    }
    wanted.min(room)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// At the cap, the connection idle the longest makes room, and is told to close.
    #[test]
    fn the_idlest_makes_room() {
        let r = Registry::new(2);
        let a = r.admit();
        std::thread::sleep(Duration::from_millis(5));
        let b = r.admit();
        std::thread::sleep(Duration::from_millis(5));
        // a third takes a's place
        let c = r.admit();
        assert_eq!(r.len(), 2);
        assert!(!r.open.lock().unwrap().contains_key(&a.conn.id));
        assert!(futures_ready(a.conn.evicted.notified()));
        // b makes progress: c, idle since it came, goes next
        std::thread::sleep(Duration::from_millis(5));
        r.progress(&b.conn);
        let _d = r.admit();
        assert!(!r.open.lock().unwrap().contains_key(&c.conn.id));
        assert!(r.open.lock().unwrap().contains_key(&b.conn.id));
        assert_eq!(r.episode.lock().unwrap().closed, 2);
        drop(b);
        assert_eq!(r.len(), 1);
    }

    /// A connection being answered outlasts silent and never-reading ones, and a client that
    /// has just connected has [`GRACE`] to send its request before it counts as silent.
    #[test]
    fn waiting_ones_go_before_busy_ones() {
        let r = Registry::new(4);
        let silent = r.admit();
        silent.conn.set(READ_PENDING, true);
        let busy = r.admit(); // not read from yet
        let stuck = r.admit();
        stuck.conn.set(GOT_BYTES, true);
        stuck.conn.set(WRITE_PENDING, true);
        let now = r.now_ms();
        assert_eq!((silent.conn.rank(now), busy.conn.rank(now), stuck.conn.rank(now)), (2, 2, 0));
        let later = now + GRACE.as_millis() as u64;
        assert_eq!((silent.conn.rank(later), busy.conn.rank(later)), (0, 2));
        let idle = r.admit(); // keep-alive, between requests
        idle.conn.set(GOT_BYTES, true);
        idle.conn.set(READ_PENDING, true);
        assert_eq!(idle.conn.rank(now), 1);
        // at the cap: the never-reading one goes first although it made progress last
        r.progress(&stuck.conn);
        let _a = r.admit();
        assert!(!r.open.lock().unwrap().contains_key(&stuck.conn.id));
        // then the keep-alive one, before the silent one still within its grace
        let _b = r.admit();
        let open = r.open.lock().unwrap();
        assert!(!open.contains_key(&idle.conn.id));
        assert!(open.contains_key(&silent.conn.id) && open.contains_key(&busy.conn.id));
    }

    /// Whether a future is ready at its first poll.
    fn futures_ready(f: impl std::future::Future) -> bool {
        let mut f = std::pin::pin!(f);
        let waker = std::task::Waker::noop();
        f.as_mut().poll(&mut Context::from_waker(waker)).is_ready()
    }
}
