//! Duplicate frames from overlapping mirror sessions.
//!
//! Two SPAN sessions that both see a link, or a TAP and a SPAN port, deliver
//! the same packet twice within microseconds; counted twice it would double a
//! host's upload. A frame is a duplicate when a frame with the same content
//! was seen less than the window ago. The content is the frame from its IP
//! header on, with the fields a router changes on the way (IPv4 TTL and
//! header checksum, IPv6 hop limit) left out, so that a copy taken before and
//! one taken after a routed hop also match; the link layer (MACs, VLAN tags)
//! is left out for the same reason. A retransmission is not a duplicate: its
//! IPv4 identification (or, over IPv6, its TCP timestamp) differs.
//!
//! The memory is a direct-mapped table of 64 k entries (1 MiB): a frame
//! whose entry was overwritten by another frame in the meantime is not
//! recognised (a missed duplicate is counted twice, as without the table); a
//! false match needs two different frames with the same 64-bit hash.

use std::hash::Hasher;

use crate::decode::linktype;

const SLOTS: usize = 1 << 16;

/// Duplicate detection for live capture (see the module documentation).
pub struct Dedup {
    window_ns: i64,
    /// (hash, capture time) of the last frame seen per slot.
    table: Vec<(u64, i64)>,
}

impl Dedup {
    pub fn new(window_ns: i64) -> Self {
        Dedup {
            window_ns,
            table: vec![(0, i64::MIN); SLOTS],
        }
    }

    /// True if the same frame was seen less than the window before `ts`;
    /// remembers it either way.
    pub fn is_duplicate(&mut self, link: u32, frame: &[u8], ts: i64) -> bool {
        let h = content_hash(link, frame);
        let slot = &mut self.table[(h as usize) & (SLOTS - 1)];
        let dup = slot.0 == h && ts.saturating_sub(slot.1) < self.window_ns && ts >= slot.1;
        *slot = (h, ts);
        dup
    }
}

/// Hash of the frame from its IP header on, without the fields routers change.
fn content_hash(link: u32, frame: &[u8]) -> u64 {
    let l3 = match link {
        linktype::ETHERNET => {
            let mut at = 12;
            // VLAN tags (802.1Q, QinQ): a SPAN session may add or strip one.
            while let Some(et) = frame
                .get(at..at + 2)
                .map(|b| u16::from_be_bytes([b[0], b[1]]))
            {
                if !matches!(et, 0x8100 | 0x88a8 | 0x9100) {
                    break;
                }
                at += 4;
            }
            frame.get(at + 2..).unwrap_or_default()
        }
        _ => frame,
    };
    let mut head = [0u8; 64];
    let n = l3.len().min(head.len());
    head[..n].copy_from_slice(&l3[..n]);
    match head[0] >> 4 {
        4 if n >= 20 => {
            head[8] = 0; // TTL
            head[10] = 0; // header checksum
            head[11] = 0;
        }
        6 if n >= 40 => head[7] = 0, // hop limit
        _ => {}
    }
    let mut h = rustc_hash::FxHasher::default();
    h.write(&head[..n]);
    h.write(l3.get(n..).unwrap_or_default());
    h.write_usize(l3.len());
    // Fx's low bits are weak: fold the high half in (the slot comes from them).
    let x = h.finish();
    x ^ (x >> 29)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::eth_ipv4_tcp;

    #[test]
    fn same_frame_within_the_window_only() {
        let f = eth_ipv4_tcp([10, 0, 0, 1], [1, 2, 3, 4], 40000, 443, 7, 0x18, b"hello");
        let mut d = Dedup::new(50_000_000);
        assert!(!d.is_duplicate(linktype::ETHERNET, &f, 1_000_000_000));
        assert!(d.is_duplicate(linktype::ETHERNET, &f, 1_000_010_000));
        // Later than the window after the last copy: a new packet.
        assert!(!d.is_duplicate(linktype::ETHERNET, &f, 1_100_000_000));
    }

    #[test]
    fn routed_copy_and_vlan_tag_still_match_but_a_retransmission_does_not() {
        let f = eth_ipv4_tcp([10, 0, 0, 1], [1, 2, 3, 4], 40000, 443, 7, 0x18, b"hello");
        let mut d = Dedup::new(50_000_000);
        assert!(!d.is_duplicate(linktype::ETHERNET, &f, 0));
        // One hop later: TTL and checksum differ, other MACs, and a VLAN tag.
        let mut routed = f.clone();
        routed[14 + 8] -= 1;
        routed[14 + 10] ^= 0x55;
        routed[0] ^= 0xff;
        let mut tagged = routed[..12].to_vec();
        tagged.extend_from_slice(&[0x81, 0x00, 0x00, 0x0a]);
        tagged.extend_from_slice(&routed[12..]);
        assert!(d.is_duplicate(linktype::ETHERNET, &tagged, 1000));
        // A retransmission: same segment, another IP identification.
        let mut retx = f.clone();
        retx[14 + 5] ^= 1;
        assert!(!d.is_duplicate(linktype::ETHERNET, &retx, 2000));
        // Another payload byte.
        let mut other = f.clone();
        *other.last_mut().unwrap() ^= 1;
        assert!(!d.is_duplicate(linktype::ETHERNET, &other, 3000));
    }
}
