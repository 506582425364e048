//! Packet sources (see pcapfile.rs).
pub mod pcapfile;
