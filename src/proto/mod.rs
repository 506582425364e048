//! Application-layer extractors: pure byte parsers, no flow state.
pub mod dns;
pub mod fingerprint;
pub mod h2;
pub mod http;
pub mod quic;
pub mod reasm;
pub mod tls;
