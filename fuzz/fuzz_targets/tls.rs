//! A client byte stream that may start with a TLS ClientHello (records,
//! fragments, extensions, SNI, ALPN, ECH, fingerprints).
#![no_main]

use lanterne::proto::{fingerprint, tls};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let tls::HelloResult::Done(h, _) = tls::parse_client_hello(data) {
        let _ = fingerprint::ja4(&h, false);
        let _ = fingerprint::ja3(&h);
    }
    let _ = tls::parse_handshake(data);
});
