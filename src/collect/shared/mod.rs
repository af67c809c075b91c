//! What the families share: the readers of kernel files and filesystems, the lists of what
//! is left out, the interfaces' addresses, counters made monotonic, the rotation of slowly
//! changing facts, and the thread a family polls on. Nothing here is a family.

pub(crate) mod counters;
pub(crate) mod exclude;
pub mod files;
pub(crate) mod fs;
pub mod ifaddrs;
pub(crate) mod poller;
pub(crate) mod program;
pub(crate) mod rotation;
