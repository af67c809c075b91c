//! What the families share: the readers of kernel files and filesystems, the lists of what
//! is left out, the interfaces' addresses, counters made monotonic, the rotation of slowly
//! changing facts, and the thread a family polls on. Nothing here is a family.

pub mod counters;
pub mod exclude;
pub mod files;
pub mod fs;
pub mod ifaddrs;
pub mod poller;
pub mod rotation;
