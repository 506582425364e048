//! IP fragments of a few datagrams, in any order, with any offsets, lengths,
//! overlaps and contradictions, through the decoder and the reassembly, then
//! each datagram that completes through the engine; the reassembly stays
//! within its budget.
#![no_main]

use lanterne::decode::{decode, linktype, Outcome};
use lanterne::defrag::Defrag;
use lanterne::stats::Stats;
use libfuzzer_sys::fuzz_target;

const CAP: usize = 64 * 1024;

fuzz_target!(|data: &[u8]| {
    let mut d = Defrag::new(CAP);
    let mut st = Stats::default();
    // Records: [kind, id, offset/8 (2 bytes), len, ...payload]; kind picks
    // IPv4 or IPv6, the more-fragments flag and the protocol.
    let mut rest = data;
    let mut ts = 0i64;
    while rest.len() >= 5 {
        let (h, tail) = rest.split_at(5);
        let len = (h[4] as usize).min(tail.len());
        let (payload, tail) = tail.split_at(len);
        rest = tail;
        let more = h[0] & 1 == 1;
        let proto = [6u8, 17, 4, 41, 47][(h[0] as usize >> 1) % 5];
        let off = u16::from_be_bytes([h[2], h[3]]) & 0x1fff;
        let frame = if h[0] & 0x80 == 0 {
            let mut ip = lanterne::testutil::ipv4([10, 0, 0, 1], [10, 0, 0, 2], proto, payload);
            ip[4..6].copy_from_slice(&u16::from(h[1]).to_be_bytes());
            ip[6..8].copy_from_slice(&(off | if more { 0x2000 } else { 0 }).to_be_bytes());
            ip
        } else {
            let f = lanterne::testutil::eth_ipv6_fragments(
                [1; 16],
                [2; 16],
                proto,
                u32::from(h[1]),
                payload,
                &[],
            );
            let mut ip = f[0][14..].to_vec();
            ip[42..44].copy_from_slice(&((off << 3) | u16::from(more)).to_be_bytes());
            ip
        };
        // A snap length cut now and then.
        let cut = if h[0] & 0x40 != 0 { frame.len() / 2 } else { frame.len() };
        ts += i64::from(h[1]) * 100_000_000;
        if let Outcome::Ip(p) = decode(linktype::RAW, &frame[..cut]) {
            if p.frag != lanterne::decode::Frag::No && p.payload.len() == usize::from(p.frag_len) {
                if let Some(g) = d.push(&p, ts, &mut st) {
                    let _ = lanterne::decode::datagram(&p, g.data.len() as u32, &g.data);
                }
            }
        }
        assert!(d.bytes() <= CAP + 70_000, "{}", d.bytes());
        d.expire(ts, &mut st);
    }
    d.clear(&mut st);
    assert_eq!(d.bytes(), 0);
});
