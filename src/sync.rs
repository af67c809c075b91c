//! Locks shared between threads, taken whatever happened to an earlier holder.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// A lock taken even when a holder panicked while holding it. Every lock of the programs
/// guards state that stays valid between two writes (a sample's status, a spool, the page's
/// history, connection counts): a family's panic is caught and reported by the runner, and
/// refusing every later sample or request because of it would turn one bug into an outage.
pub(crate) trait Locked<T> {
    fn locked(&self) -> MutexGuard<'_, T>;
}

impl<T> Locked<T> for Mutex<T> {
    fn locked(&self) -> MutexGuard<'_, T> {
        self.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A lock whose holder panicked is taken all the same, with what was written before.
    #[test]
    fn a_poisoned_lock_is_taken() {
        let m = std::sync::Arc::new(Mutex::new(1));
        let held = std::sync::Arc::clone(&m);
        let _ = std::thread::spawn(move || {
            let mut g = held.lock().unwrap();
            *g = 2;
            panic!("while holding it");
        })
        .join();
        assert!(m.is_poisoned());
        assert_eq!(*m.locked(), 2);
    }
}
