//! UDP datagrams from a client to port 443: QUIC long headers, Initial key
//! derivation and decryption, CRYPTO frames across packets, the ClientHello
//! inside; the input is split into datagrams by 2-byte lengths.
#![no_main]

use lanterne::engine::{Config, Engine};
use lanterne::report::{AggOptions, Aggregator};
use lanterne::signatures::Catalog;
use lanterne::source::RawPacket;
use lanterne::testutil::eth_ipv4_udp;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    thread_local! {
        static CATALOG: &'static Catalog = Box::leak(Box::new(Catalog::builtin()));
    }
    let cat = CATALOG.with(|c| *c);
    let mut engine = Engine::new(Config::default(), cat, Some(Box::new(std::io::sink())));
    let mut agg = Aggregator::new(AggOptions::default());
    let mut rest = data;
    let mut frame = 0u64;
    while rest.len() >= 2 {
        let n = (u16::from_be_bytes([rest[0], rest[1]]) as usize).min(rest.len() - 2);
        let (dgram, tail) = rest[2..].split_at(n);
        rest = tail;
        frame += 1;
        // Client datagrams, and every fourth one back from the server.
        let bytes = if frame % 4 == 0 {
            eth_ipv4_udp([1, 2, 3, 4], [10, 0, 0, 1], 443, 50000, dgram)
        } else {
            eth_ipv4_udp([10, 0, 0, 1], [1, 2, 3, 4], 50000, 443, dgram)
        };
        let raw = RawPacket {
            ts_ns: frame as i64 * 1_000_000,
            linktype: 1,
            data: &bytes,
            orig_len: bytes.len() as u32,
            frame,
        };
        engine.process(&raw, &mut agg);
    }
    engine.flush(&mut agg);
});
