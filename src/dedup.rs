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
//! The copies of a frame reach the analysis in different batches when they
//! come from different interfaces, so the later copy may be analysed first:
//! a frame is remembered for the window plus [`REORDER_NS`] of capture time
//! after the newest frame seen, and two copies match when their capture times
//! differ by less than the window, whichever came first. At most a set
//! number of frames are remembered (5 % of `--max-memory`, see
//! [`crate::limits`]; the oldest are forgotten first), which bounds the memory whatever the traffic.

use std::collections::VecDeque;
use std::hash::{BuildHasher, Hasher};

use rustc_hash::FxHashMap;

use crate::decode::linktype;

/// How far out of capture-time order the copies of a frame can be analysed
/// (batches of different interfaces: the kernel hands a block over at most
/// 100 ms late, a batch waits at most 20 ms).
pub const REORDER_NS: i64 = 500_000_000;
/// Frames remembered at most by default (`--max-memory` sets it, see
/// [`crate::limits`]).
pub const MAX_REMEMBERED: usize = 1 << 20;
/// A frame this far behind the newest one means the clock stepped back.
const CLOCK_STEP_NS: i64 = 5_000_000_000;

/// Duplicate detection for live capture (see the module documentation).
pub struct Dedup {
    window_ns: i64,
    /// Content hash → capture time of the first copy.
    seen: FxHashMap<u64, i64>,
    /// The same, in the order they were remembered (for forgetting).
    order: VecDeque<(i64, u64)>,
    newest: i64,
    /// Frames remembered at most.
    max: usize,
    /// Random keys of the content hash (SipHash): a sender who cannot know
    /// them cannot craft a frame that hides another as its "duplicate".
    keys: std::collections::hash_map::RandomState,
}

impl Dedup {
    pub fn new(window_ns: i64) -> Self {
        Self::with_capacity(window_ns, MAX_REMEMBERED)
    }

    /// Remembering at most `max` frames.
    pub fn with_capacity(window_ns: i64, max: usize) -> Self {
        Dedup {
            max: max.max(1),
            keys: Default::default(),
            window_ns,
            seen: FxHashMap::default(),
            order: VecDeque::new(),
            newest: i64::MIN,
        }
    }

    /// True if a copy of this frame was seen within the window of `ts`
    /// (before or after it); remembers the frame otherwise.
    pub fn is_duplicate(&mut self, link: u32, frame: &[u8], ts: i64) -> bool {
        let h = content_hash(&self.keys, link, frame);
        if ts < self.newest.saturating_sub(CLOCK_STEP_NS) {
            // The clock stepped back (NTP): start over rather than forget
            // every frame until time catches up.
            self.seen.clear();
            self.order.clear();
            self.newest = ts;
        }
        self.newest = self.newest.max(ts);
        let horizon = self
            .newest
            .saturating_sub(self.window_ns.saturating_add(REORDER_NS));
        while let Some(&(t, k)) = self.order.front() {
            if t >= horizon && self.order.len() < self.max {
                break;
            }
            self.order.pop_front();
            if self.seen.get(&k) == Some(&t) {
                self.seen.remove(&k);
            }
        }
        if let Some(&t) = self.seen.get(&h) {
            if ts.abs_diff(t) < self.window_ns.unsigned_abs() {
                return true;
            }
        }
        self.seen.insert(h, ts);
        self.order.push_back((ts, h));
        false
    }
}

/// Hash of the frame from its IP header on, without the fields routers change.
fn content_hash(keys: &impl BuildHasher, link: u32, frame: &[u8]) -> u64 {
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
    let mut h = keys.build_hasher();
    h.write(&head[..n]);
    h.write(l3.get(n..).unwrap_or_default());
    h.write_usize(l3.len());
    h.finish()
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
        // Later than the window after the first copy: a new packet.
        assert!(!d.is_duplicate(linktype::ETHERNET, &f, 1_100_000_000));
        // A copy analysed before the frame it copies (another interface's
        // batch came first) still matches.
        let g = eth_ipv4_tcp([10, 0, 0, 2], [1, 2, 3, 4], 40001, 443, 7, 0x18, b"later");
        assert!(!d.is_duplicate(linktype::ETHERNET, &g, 2_000_000_000));
        assert!(d.is_duplicate(linktype::ETHERNET, &g, 1_999_999_000));
    }

    #[test]
    fn memory_is_bounded_and_old_frames_are_forgotten() {
        let mut d = Dedup::new(10_000_000);
        for i in 0..(MAX_REMEMBERED as u32 + 1000) {
            let f = eth_ipv4_tcp([10, 0, 0, 1], [1, 2, 3, 4], 40000, 443, i, 0x10, b"");
            assert!(!d.is_duplicate(linktype::ETHERNET, &f, 1_000_000_000));
        }
        assert!(d.order.len() <= MAX_REMEMBERED && d.seen.len() <= MAX_REMEMBERED);
        // The clock steps back a minute: detection starts over and works.
        let g = eth_ipv4_tcp([10, 0, 0, 8], [1, 2, 3, 4], 40000, 443, 0, 0x10, b"x");
        assert!(!d.is_duplicate(linktype::ETHERNET, &g, 1_000_000_000 - 60_000_000_000));
        assert!(d.is_duplicate(linktype::ETHERNET, &g, 1_000_000_000 - 59_999_000_000));
        assert_eq!(d.order.len(), 1);
        // Capture time moves on: everything older than the horizon goes.
        let f = eth_ipv4_tcp([10, 0, 0, 9], [1, 2, 3, 4], 40000, 443, 0, 0x10, b"");
        assert!(!d.is_duplicate(linktype::ETHERNET, &f, 10_000_000_000));
        assert_eq!(d.order.len(), 1);
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
