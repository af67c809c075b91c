//! What redb's errors and panics mean for a spool: another process's lock, damage, an I/O
//! error, a value too large; redb's panics on damaged trees caught and called damage.

use redb::Database;

/// What a redb error means for the spool.
pub(super) enum Fault {
    Locked,
    Damaged(String),
    Io(std::io::Error),
    TooBig(u64),
}

pub(super) fn fault(e: redb::Error) -> Fault {
    use redb::Error as E;
    match e {
        E::DatabaseAlreadyOpen | E::LockProtocolMismatch => Fault::Locked,
        // a file cut short, or bytes that make no sense
        E::Io(io) if matches!(io.kind(), std::io::ErrorKind::InvalidData | std::io::ErrorKind::UnexpectedEof) => {
            Fault::Damaged(io.to_string())
        }
        E::Io(io) => Fault::Io(io),
        E::PreviousIo => Fault::Io(std::io::Error::other("an earlier write failed")),
        E::ValueTooLarge(n) => Fault::TooBig(n as u64),
        other => Fault::Damaged(other.to_string()),
    }
}

/// Runs `f`, turning a panic into damage: redb asserts on some damaged files.
pub(super) fn guarded<T>(f: impl FnOnce() -> Result<T, redb::Error>) -> Result<T, Fault> {
    match crate::panics::catch(f) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(fault(e)),
        Err(panic) => Err(Fault::Damaged(format!("redb panicked: {panic}"))),
    }
}

/// Closes a database, redb's panics caught: closing commits what the allocator freed, which
/// walks the tree, and redb panics there on some damaged files (seen in `--salvage-spool`).
/// What was committed before stays.
pub(super) fn close(db: Database) -> Result<(), Fault> {
    guarded(|| {
        drop(db);
        Ok(())
    })
}
