//! Panics caught where a bug must not take a program down: a family's reading (the runner
//! reports it through the family's status, once) and redb on a damaged file (the spool sets
//! the file aside). What catches a panic reports it; the default hook, which would print it
//! to standard error every sample, stays quiet for those.

use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};

thread_local! {
    /// Set while a caught section runs on this thread.
    static CAUGHT: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f`; a panic in it is the panic's message, not an unwinding thread, and nothing on
/// standard error.
pub(crate) fn catch<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    quiet_hook();
    let was = CAUGHT.with(|c| c.replace(true));
    let result = catch_unwind(AssertUnwindSafe(f));
    CAUGHT.with(|c| c.set(was));
    result.map_err(|payload| {
        payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".into())
    })
}

/// The default hook, silent inside [`catch`]; installed once.
fn quiet_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !CAUGHT.with(Cell::get) {
                default(info);
            }
        }));
    });
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_panic_is_its_message() {
        assert_eq!(super::catch(|| 7), Ok(7));
        assert_eq!(super::catch(|| -> u8 { panic!("index out of bounds") }), Err("index out of bounds".into()));
        let n = 3;
        assert_eq!(super::catch(|| -> u8 { panic!("{n} left") }), Err("3 left".into()));
    }
}
