//! IPv4 and IPv6 fragment reassembly, bounded in memory and time.
//!
//! A datagram's fragments are collected by (source, destination, protocol,
//! identification) until they cover it from offset 0 to the end the last
//! fragment gives; the datagram is then decoded as one packet (its transport
//! header, or the tunnel it carries) at the frame of the fragment that
//! completed it, as tshark does. Its bytes in flow counters are those of its
//! fragments, each with its IP header, as on the wire; it counts as one
//! packet.
//!
//! Bounds (what each turns away is counted):
//! - a datagram waits [`TIMEOUT_NS`] of capture time for its fragments (30 s,
//!   as Linux's `ipfrag_time`), then is given up (`defrag_incomplete`), as are
//!   those still waiting at the end of the input;
//! - all datagrams waiting hold at most the engine's defrag budget (a share
//!   of `--max-memory`); over it, the oldest are given up (`defrag_dropped`);
//! - at most [`MAX_PIECES`] fragments per datagram, and 65,535 bytes of IP
//!   payload (anomalies `ip_frag_too_many`, `ip_frag_too_large`);
//! - overlapping fragments keep the bytes that came first (anomaly
//!   `ip_frag_overlap`), as most systems do; a second "last" fragment that
//!   gives another length gives the datagram up (`ip_frag_inconsistent`).
//!
//! A fragment storm of random identifiers therefore costs at most the budget,
//! and each fragment O(1) work plus a copy of its bytes.
//!
//! Only whole fragments are reassembled: one cut by the snap length cannot
//! be (the engine decodes a cut first fragment on its own, as tshark does).

use std::collections::VecDeque;
use std::net::IpAddr;

use rustc_hash::FxHashMap;

use crate::decode::{Frag, Packet};
use crate::stats::Stats;

/// How long a datagram waits for its fragments, in capture time.
pub const TIMEOUT_NS: i64 = 30_000_000_000;
/// Fragments kept per datagram at most.
pub const MAX_PIECES: usize = 64;
/// Largest datagram payload (IP payload length).
const MAX_LEN: u32 = 65_535;
/// Bytes a waiting datagram costs besides its data: its map entry, its
/// expiry entry, its range lists.
pub const ENTRY_COST: usize = 192;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Key {
    src: IpAddr,
    dst: IpAddr,
    id: u32,
    proto: u8,
}

/// A datagram being reassembled.
#[derive(Debug)]
struct Pending {
    first_ns: i64,
    data: Vec<u8>,
    /// Byte ranges received: sorted, merged.
    wire: Vec<(u32, u32)>,
    /// Payload length, once the last fragment came.
    total: Option<u32>,
    /// IP bytes of the fragments so far.
    ip_bytes: u64,
    pieces: usize,
}

impl Pending {
    fn cost(&self) -> usize {
        ENTRY_COST + self.data.capacity() + 8 * self.wire.capacity()
    }
}

/// A whole datagram.
#[derive(Debug)]
pub struct Datagram {
    /// Its IP payload.
    pub data: Vec<u8>,
    /// IP bytes of its fragments (each with its header).
    pub ip_bytes: u64,
}

/// Adds `(s, e)` to a sorted list of disjoint ranges, merging; true if it
/// overlapped what was there.
fn add_range(v: &mut Vec<(u32, u32)>, s: u32, e: u32) -> bool {
    if s >= e {
        return false;
    }
    let overlap = v.iter().any(|&(a, b)| s < b && a < e);
    let (mut s, mut e) = (s, e);
    v.retain(|&(a, b)| {
        if a <= e && s <= b {
            s = s.min(a);
            e = e.max(b);
            false
        } else {
            true
        }
    });
    let at = v.partition_point(|&(a, _)| a < s);
    v.insert(at, (s, e));
    overlap
}

/// Fragment reassembly (see the module documentation).
#[derive(Debug, Default)]
pub struct Defrag {
    map: FxHashMap<Key, Pending>,
    /// Datagrams in the order they started: (first capture time, key).
    order: VecDeque<(i64, Key)>,
    bytes: usize,
    cap: usize,
}

impl Defrag {
    /// With at most `cap` bytes for the datagrams waiting.
    pub fn new(cap: usize) -> Self {
        Defrag {
            cap,
            ..Defrag::default()
        }
    }

    /// Datagrams waiting.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Bytes the waiting datagrams hold.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Adds a whole fragment (`pkt.frag` is not `No`, and its payload is
    /// `pkt.frag_len` bytes) seen at `ts`; returns the datagram if this
    /// fragment completed it.
    pub fn push(&mut self, pkt: &Packet<'_>, ts: i64, stats: &mut Stats) -> Option<Datagram> {
        let key = Key {
            src: pkt.src,
            dst: pkt.dst,
            id: pkt.frag_id,
            proto: pkt.proto,
        };
        let start = u32::from(pkt.frag_offset);
        let end = start + u32::from(pkt.frag_len);
        if end > MAX_LEN || (pkt.frag == Frag::More && pkt.frag_len % 8 != 0 && pkt.frag_len > 0) {
            // Past the largest datagram, or a middle fragment whose length
            // is not a multiple of 8 (RFC 791 / 8200): not a real one.
            stats.anomaly(if end > MAX_LEN {
                "ip_frag_too_large"
            } else {
                "ip_frag_bad_length"
            });
            self.give_up(&key);
            return None;
        }
        let new = !self.map.contains_key(&key);
        let e = match self.map.get_mut(&key) {
            Some(e) => e,
            None => {
                self.order.push_back((ts, key));
                self.map.entry(key).or_insert(Pending {
                    first_ns: ts,
                    data: Vec::new(),
                    wire: Vec::new(),
                    total: None,
                    ip_bytes: 0,
                    pieces: 0,
                })
            }
        };
        // (What the budget counts for it so far.)
        let before = if new { 0 } else { e.cost() };
        e.pieces += 1;
        e.ip_bytes += u64::from(pkt.ip_len);
        let mut bad = None;
        if e.pieces > MAX_PIECES {
            bad = Some("ip_frag_too_many");
        }
        if pkt.frag == Frag::Last {
            match e.total {
                Some(t) if t != end => bad = Some("ip_frag_inconsistent"),
                _ => e.total = Some(end),
            }
        }
        if e.total.is_some_and(|t| end > t) {
            bad = Some("ip_frag_inconsistent");
        }
        if let Some(reason) = bad {
            stats.anomaly(reason);
            self.bytes = self.bytes.saturating_sub(before);
            self.map.remove(&key);
            return None;
        }
        // The bytes go where none came yet (the first ones win).
        let len = (end - start) as usize;
        if e.data.len() < end as usize {
            e.data.resize(end as usize, 0);
        }
        let src = &pkt.payload[..len.min(pkt.payload.len())];
        let o = start as usize;
        let mut at = start;
        for &(a, b) in &e.wire {
            if b <= at {
                continue;
            }
            if a >= end {
                break;
            }
            if a > at {
                e.data[at as usize..a as usize]
                    .copy_from_slice(&src[at as usize - o..a as usize - o]);
            }
            at = at.max(b);
            if at >= end {
                break;
            }
        }
        if at < end {
            e.data[at as usize..end as usize]
                .copy_from_slice(&src[at as usize - o..end as usize - o]);
        }
        if add_range(&mut e.wire, start, end) {
            stats.anomaly("ip_frag_overlap");
        }
        let after = e.cost();
        self.bytes = self.bytes + after - before.min(after);
        let done = e.total.is_some_and(|t| e.wire == [(0, t)]);
        if done {
            let e = self.map.remove(&key).expect("present");
            self.bytes = self.bytes.saturating_sub(e.cost());
            stats.reassembled += 1;
            let mut data = e.data;
            data.truncate(e.total.unwrap_or(0) as usize);
            return Some(Datagram {
                data,
                ip_bytes: e.ip_bytes,
            });
        }
        // Over the budget: the oldest datagrams go.
        while self.bytes > self.cap {
            let Some((t, k)) = self.order.pop_front() else {
                break;
            };
            if self.map.get(&k).is_some_and(|e| e.first_ns == t) {
                stats.defrag_dropped += 1;
                self.give_up(&k);
            }
        }
        self.compact();
        None
    }

    fn give_up(&mut self, key: &Key) {
        if let Some(e) = self.map.remove(key) {
            self.bytes = self.bytes.saturating_sub(e.cost());
        }
    }

    /// Entries of datagrams gone pile up in `order`: drop them now and then.
    fn compact(&mut self) {
        if self.order.len() > 2 * self.map.len() + 1024 {
            let map = &self.map;
            self.order
                .retain(|(t, k)| map.get(k).is_some_and(|e| e.first_ns == *t));
        }
    }

    /// Gives up the datagrams that waited longer than [`TIMEOUT_NS`] at
    /// capture time `now`.
    pub fn expire(&mut self, now: i64, stats: &mut Stats) {
        while let Some(&(t, k)) = self.order.front() {
            if t.saturating_add(TIMEOUT_NS) > now {
                break;
            }
            self.order.pop_front();
            if self.map.get(&k).is_some_and(|e| e.first_ns == t) {
                stats.defrag_incomplete += 1;
                self.give_up(&k);
            }
        }
    }

    /// End of input: every datagram still waiting is given up.
    pub fn clear(&mut self, stats: &mut Stats) {
        stats.defrag_incomplete += self.map.len() as u64;
        self.map.clear();
        self.order.clear();
        self.bytes = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{decode, linktype, Outcome};

    /// IPv4 fragments (Ethernet frames) of `payload` (a UDP datagram's
    /// bytes) cut at `cuts`.
    fn v4_fragments(id: u16, payload: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
        crate::testutil::eth_ipv4_fragments([10, 0, 0, 53], [10, 0, 0, 5], 17, id, payload, cuts)
    }

    fn frag(f: &[u8]) -> Packet<'_> {
        match decode(linktype::ETHERNET, f) {
            Outcome::Ip(p) => p,
            o => panic!("{o:?}"),
        }
    }

    fn udp_payload(n: usize) -> Vec<u8> {
        let mut u = vec![0x13, 0x88, 0, 53];
        u.extend_from_slice(&((8 + n) as u16).to_be_bytes());
        u.extend_from_slice(&[0, 0]);
        u.extend((0..n).map(|i| i as u8));
        u
    }

    #[test]
    fn in_order_out_of_order_and_duplicates() {
        let udp = udp_payload(3000);
        let frags = v4_fragments(7, &udp, &[1480, 2960]);
        for order in [[0, 1, 2], [2, 0, 1], [1, 2, 0]] {
            let mut d = Defrag::new(1 << 20);
            let mut st = Stats::default();
            let mut got = None;
            for (n, &i) in order.iter().enumerate() {
                let r = d.push(&frag(&frags[i]), n as i64, &mut st);
                assert_eq!(r.is_some(), n == 2);
                got = got.or(r);
                if n == 0 {
                    // A duplicate changes nothing.
                    assert!(d.push(&frag(&frags[i]), 0, &mut st).is_none());
                }
            }
            let g = got.unwrap();
            assert_eq!(g.data, udp);
            // Each fragment's bytes with its header, the duplicate too.
            // (IP bytes: the frames less their Ethernet header.)
            let ip = |f: &Vec<u8>| f.len() as u64 - 14;
            let wire: u64 = frags.iter().map(ip).sum();
            assert_eq!(g.ip_bytes, wire + ip(&frags[order[0]]));
            assert_eq!((st.reassembled, d.len(), d.bytes()), (1, 0, 0));
            assert_eq!(st.anomalies.get("ip_frag_overlap"), Some(&1));
        }
    }

    #[test]
    fn overlaps_keep_the_first_bytes() {
        let udp = udp_payload(100);
        let mut f = v4_fragments(9, &udp, &[56]);
        // A second copy of the first fragment with other bytes, then the rest.
        let mut evil = f[0].clone();
        for b in &mut evil[42..] {
            *b = 0xee;
        }
        let mut d = Defrag::new(1 << 20);
        let mut st = Stats::default();
        assert!(d.push(&frag(&f[0]), 0, &mut st).is_none());
        assert!(d.push(&frag(&evil), 0, &mut st).is_none());
        let g = d.push(&frag(&f.pop().unwrap()), 0, &mut st).unwrap();
        assert_eq!(g.data, udp);
    }

    #[test]
    fn timeouts_budget_and_end_of_input_are_counted() {
        let udp = udp_payload(3000);
        let frags = v4_fragments(1, &udp, &[1480, 2960]);
        let mut d = Defrag::new(1 << 20);
        let mut st = Stats::default();
        d.push(&frag(&frags[0]), 0, &mut st);
        d.expire(TIMEOUT_NS - 1, &mut st);
        assert_eq!(d.len(), 1);
        d.expire(TIMEOUT_NS, &mut st);
        assert_eq!((d.len(), d.bytes(), st.defrag_incomplete), (0, 0, 1));
        // Late fragments start over and never complete.
        assert!(d.push(&frag(&frags[1]), TIMEOUT_NS, &mut st).is_none());
        assert!(d.push(&frag(&frags[2]), TIMEOUT_NS, &mut st).is_none());
        d.clear(&mut st);
        assert_eq!(st.defrag_incomplete, 2);
        // A storm of random identifiers stays within the budget.
        let mut d = Defrag::new(64 * 1024);
        for id in 0..10_000u16 {
            let f = v4_fragments(id, &udp, &[1480, 2960]);
            assert!(d.push(&frag(&f[1]), i64::from(id), &mut st).is_none());
            assert!(d.bytes() <= 64 * 1024);
        }
        assert!(st.defrag_dropped > 9_900, "{}", st.defrag_dropped);
        assert_eq!(d.len() as u64 + st.defrag_dropped, 10_000);
    }

    #[test]
    fn hostile_fragments() {
        let mut d = Defrag::new(1 << 20);
        let mut st = Stats::default();
        let udp = udp_payload(100);
        let f = v4_fragments(3, &udp, &[56]);
        // Past 65,535 bytes.
        let mut far = f[1].clone();
        far[20..22].copy_from_slice(&0x1fffu16.to_be_bytes());
        assert!(d.push(&frag(&far), 0, &mut st).is_none());
        assert_eq!(st.anomalies.get("ip_frag_too_large"), Some(&1));
        // Two last fragments that disagree.
        let mut other_end = f[1].clone();
        other_end[20..22].copy_from_slice(&10u16.to_be_bytes());
        d.push(&frag(&f[1]), 0, &mut st);
        assert!(d.push(&frag(&other_end), 0, &mut st).is_none());
        assert_eq!(st.anomalies.get("ip_frag_inconsistent"), Some(&1));
        assert_eq!(d.len(), 0);
        // Too many pieces.
        for i in 0..=MAX_PIECES as u16 {
            let mut p = f[0].clone();
            p[20..22].copy_from_slice(&(0x2000u16 | i).to_be_bytes());
            d.push(&frag(&p), 0, &mut st);
        }
        assert_eq!(st.anomalies.get("ip_frag_too_many"), Some(&1));
        assert_eq!((d.len(), d.bytes()), (0, 0));
    }

    #[test]
    fn ranges_merge() {
        let mut v = Vec::new();
        assert!(!add_range(&mut v, 10, 20));
        assert!(!add_range(&mut v, 30, 40));
        assert!(!add_range(&mut v, 20, 30));
        assert_eq!(v, vec![(10, 40)]);
        assert!(add_range(&mut v, 0, 15));
        assert_eq!(v, vec![(0, 40)]);
        assert!(!add_range(&mut v, 50, 60));
        assert_eq!(v, vec![(0, 40), (50, 60)]);
    }
}
