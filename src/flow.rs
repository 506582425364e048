//! Flow keys, per-flow state and the idle-expiry schedule.
//!
//! A flow is a bidirectional 5-tuple. [`FlowKey`] orders the two endpoints so
//! that both directions give the same key (and the same hash, which a later
//! multi-threaded pipeline uses to pick a worker). Which side is the client
//! is decided when the flow is created (see [`Flow`] and DESIGN.md) and may be
//! corrected once, when the other side turns out to send the ClientHello or the
//! HTTP request of a flow whose SYN was not seen.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Arc;

use crate::proto::reasm::Stream;

/// Ports that mark the server side of a flow when the opening packet was not seen.
pub const SERVER_PORTS: &[u16] = &[53, 80, 443, 853];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FlowKey {
    /// Addresses as 128-bit numbers (IPv4 mapped into ::ffff:0:0/96): cheap
    /// to compare and to hash.
    pub a: u128,
    pub b: u128,
    pub pa: u16,
    pub pb: u16,
    pub proto: u8,
}

#[inline]
fn addr_bits(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => 0xffff_0000_0000 | u32::from(v4) as u128,
        IpAddr::V6(v6) => u128::from(v6),
    }
}

impl FlowKey {
    /// Canonical key and whether (src, sport) is the `a` side.
    #[inline]
    pub fn new(src: IpAddr, sport: u16, dst: IpAddr, dport: u16, proto: u8) -> (FlowKey, bool) {
        let (s, d) = (addr_bits(src), addr_bits(dst));
        if (s, sport) <= (d, dport) {
            (
                FlowKey {
                    a: s,
                    b: d,
                    pa: sport,
                    pb: dport,
                    proto,
                },
                true,
            )
        } else {
            (
                FlowKey {
                    a: d,
                    b: s,
                    pa: dport,
                    pb: sport,
                    proto,
                },
                false,
            )
        }
    }

    /// The key's hash: the same for both directions (the key is normalised),
    /// a fixed function of it (the split between workers is reproducible).
    /// Computed once per packet: its high bits pick the worker, its low bits
    /// the place in the flow index.
    #[inline]
    pub fn hash32(&self) -> u32 {
        use std::hash::BuildHasher;
        let h = rustc_hash::FxBuildHasher.hash_one(self);
        // Fx's low bits are weak: fold the high half in.
        (h ^ (h >> 32)) as u32
    }
}

/// How a flow's server name was learned, in order of trust.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Via {
    TlsSni,
    QuicSni,
    HttpHost,
    Dns,
    IpRange,
}

impl Via {
    pub const ALL: [Via; 5] = [
        Via::TlsSni,
        Via::QuicSni,
        Via::HttpHost,
        Via::Dns,
        Via::IpRange,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Via::TlsSni => "tls-sni",
            Via::QuicSni => "quic-sni",
            Via::HttpHost => "http-host",
            Via::Dns => "dns",
            Via::IpRange => "ip-range",
        }
    }
}

/// What the application-layer inspection of a TCP flow is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppState {
    /// First client bytes not seen yet.
    Unknown,
    /// Reassembling a ClientHello.
    TlsHello,
    /// ClientHello seen; a second one may follow a HelloRetryRequest.
    TlsAfterHello,
    /// Reading HTTP/1.x request heads.
    Http,
    /// DNS over TCP (port 53): length-prefixed messages both ways.
    DnsTcp,
    /// Cleartext HTTP/2 (prior knowledge): frames both ways, DoH DATA.
    H2c,
    /// Neither TLS nor HTTP at the start: watching later client segments
    /// for a ClientHello (after a proxy CONNECT or SOCKS handshake).
    Probe,
    /// Nothing more to learn.
    Done,
}

/// Per-flow deep-inspection state; dropped when inspection ends.
#[derive(Debug)]
pub struct Inspect {
    pub state: AppState,
    /// Client-to-server stream.
    pub up: Stream,
    /// Server-to-client stream (DNS over TCP only).
    pub down: Stream,
    /// Client packets with payload seen while inspecting.
    pub client_segments: u16,
    /// HTTP: body bytes still to skip before the next request head.
    pub http_skip: u64,
}

/// One hour (or `bucket_seconds`) of a flow's bytes.
#[derive(Debug, Clone, Copy, Default)]
pub struct Bucket {
    pub index: i64,
    pub up: u64,
    pub down: u64,
}

#[derive(Debug)]
pub struct Flow {
    pub client: IpAddr,
    pub server: IpAddr,
    pub client_port: u16,
    pub server_port: u16,
    pub proto: u8,
    /// Whether the client is the `a` side of the key.
    pub client_is_a: bool,
    /// Orientation known for sure (SYN or SYN-ACK seen).
    pub orientation_sure: bool,
    pub first_ns: i64,
    pub last_ns: i64,
    pub bytes_up: u64,
    pub bytes_down: u64,
    pub packets_up: u64,
    pub packets_down: u64,
    pub fin_up: bool,
    pub fin_down: bool,
    pub rst: bool,
    /// Creation order (stable report ordering).
    pub serial: u64,
    pub sni: Vec<String>,
    pub alpn: Vec<String>,
    pub ech: bool,
    pub http_host: Option<String>,
    /// Client fingerprints of the (first) ClientHello.
    pub ja4: Option<String>,
    pub ja3: Option<String>,
    /// Name the client resolved for the server address before the flow started.
    pub dns_name: Option<Arc<str>>,
    pub inspect: Option<Box<Inspect>>,
    /// Bytes per time bucket: the current one and the closed ones.
    pub bucket: Bucket,
    pub past_buckets: Vec<Bucket>,
    /// UDP datagrams checked for DNS on a non-DNS port.
    pub udp_probes: u8,
    /// A DNS flow another worker owns: followed for its answers, not reported.
    pub shadow: bool,
    /// Where `sni` came from: a TLS-over-TCP or a QUIC ClientHello.
    pub sni_via: Via,
    /// QUIC Initial decryption state while inspecting.
    pub quic: Option<Box<QuicState>>,
    pub quic_status: QuicStatus,
    /// Bytes of reassembly buffers counted for this flow (see
    /// [`Flow::buffer_bytes`] and [`crate::limits`]).
    pub buffered: u32,
    /// The flow is in the engine's list of flows holding buffers.
    pub queued: bool,
}

/// QUIC inspection of a UDP flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuicStatus {
    /// No QUIC long header seen from the client.
    None,
    /// Decrypting client Initials.
    Inspecting,
    /// ClientHello found, or inspection ended.
    Done,
    /// QUIC, but with a version whose Initials we cannot decrypt.
    Undecryptable,
}

/// Per-flow QUIC Initial state.
#[derive(Debug, Default)]
pub struct QuicState {
    pub keys: Option<crate::proto::quic::InitialKeys>,
    pub crypto: crate::proto::quic::CryptoBuf,
    /// Client Initial packets seen / decrypted.
    pub initials: u8,
    pub decrypted: u8,
    /// A ClientHello was read; later Initials only matter if the client
    /// starts over with new keys (after a Retry).
    pub hello_done: bool,
    /// Source connection ID of a server Retry.
    pub retry_scid: Option<Vec<u8>>,
    /// The CRYPTO stream being read is a ClientHello resent after a Retry.
    pub resent_hello: bool,
}

impl Flow {
    /// Heap bytes of the buffers deep inspection holds: TCP streams being
    /// reassembled, QUIC Initial state and CRYPTO data.
    pub fn buffer_bytes(&self) -> usize {
        let tcp = self
            .inspect
            .as_ref()
            .map_or(0, |i| i.up.mem() + i.down.mem());
        let quic = self.quic.as_ref().map_or(0, |q| {
            std::mem::size_of::<QuicState>()
                + q.crypto.mem()
                + q.retry_scid.as_ref().map_or(0, |v| v.capacity())
        });
        tcp + quic
    }

    /// A flow seen first at `ts`, with nothing counted or learned yet.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        client: IpAddr,
        server: IpAddr,
        client_port: u16,
        server_port: u16,
        proto: u8,
        ts: i64,
        bucket: i64,
        serial: u64,
    ) -> Flow {
        Flow {
            client,
            server,
            client_port,
            server_port,
            proto,
            client_is_a: true,
            orientation_sure: false,
            first_ns: ts,
            last_ns: ts,
            bytes_up: 0,
            bytes_down: 0,
            packets_up: 0,
            packets_down: 0,
            fin_up: false,
            fin_down: false,
            rst: false,
            serial,
            sni: Vec::new(),
            alpn: Vec::new(),
            ech: false,
            http_host: None,
            ja4: None,
            ja3: None,
            dns_name: None,
            inspect: None,
            bucket: Bucket {
                index: bucket,
                up: 0,
                down: 0,
            },
            past_buckets: Vec::new(),
            udp_probes: 0,
            shadow: false,
            sni_via: Via::TlsSni,
            quic: None,
            quic_status: QuicStatus::None,
            buffered: 0,
            queued: false,
        }
    }

    pub fn closed(&self) -> bool {
        self.rst || (self.fin_up && self.fin_down)
    }
}

/// The flow table: a hash index from key to a slot in a slab of flows.
/// Slots are reused through a free list and carry a generation, so the expiry
/// schedule can refer to a flow by (slot, generation) — small, cheap to
/// compare — and notice when a slot was reused. The flows stay put in the
/// slab (no move on rehash).
///
/// The index is open addressing with linear probing over 8-byte entries (32
/// bits of the key's hash, slot + 1), at most half full: 64 k flows index in
/// 1 MiB, which mostly stays in the core's cache, where a map holding the
/// 40-byte keys themselves would spill to the shared cache on every lookup.
/// The key is compared in the slab, which the caller reads next anyway.
#[derive(Debug, Default)]
pub struct FlowTable {
    index: Vec<u64>,
    len: usize,
    slots: Vec<Slot>,
    free: Vec<u32>,
}

#[derive(Debug)]
struct Slot {
    key: FlowKey,
    gen: u32,
    flow: Option<Flow>,
}

impl FlowTable {
    /// What a flow costs at most, apart from its reassembly buffers (counted
    /// on their own, see [`crate::limits`]): its slot, two index entries
    /// (the index is at most half full), expiry entries, entries in the
    /// engine's list of flows holding buffers, the boxed TCP inspection
    /// state, and the names and fingerprints it keeps.
    pub const BYTES_PER_FLOW: usize = std::mem::size_of::<Slot>()
        + 2 * 8
        + 2 * 16
        + 2 * 8
        + std::mem::size_of::<Inspect>()
        + 16
        + 160;

    pub fn with_capacity(n: usize) -> FlowTable {
        FlowTable {
            // The index starts small (64 KiB) and doubles as flows come:
            // a short capture does not pay for zeroing a large table.
            index: vec![0; (n.clamp(8, 4096) * 2).next_power_of_two()],
            len: 0,
            slots: Vec::with_capacity(n),
            free: Vec::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    #[inline]
    fn mask(&self) -> usize {
        self.index.len() - 1
    }

    /// The slot of a key, given its [`FlowKey::hash32`] (computed once per packet).
    #[inline]
    pub fn find_hashed(&self, key: &FlowKey, tag: u32) -> Option<u32> {
        if self.index.is_empty() {
            return None;
        }
        let mask = self.mask();
        let mut i = tag as usize & mask;
        loop {
            let e = self.index[i];
            if e == 0 {
                return None;
            }
            if (e >> 32) as u32 == tag {
                let slot = (e as u32).wrapping_sub(1);
                if self.slots.get(slot as usize).is_some_and(|s| s.key == *key) {
                    return Some(slot);
                }
            }
            i = (i + 1) & mask;
        }
    }

    /// Puts `slot` (whose key hashes to `tag`) in the index.
    fn index_insert(&mut self, tag: u32, slot: u32) {
        if (self.len + 1) * 2 > self.index.len() {
            self.grow();
        }
        let mask = self.mask();
        let mut i = tag as usize & mask;
        while self.index[i] != 0 {
            i = (i + 1) & mask;
        }
        self.index[i] = (u64::from(tag) << 32) | u64::from(slot + 1);
        self.len += 1;
    }

    #[cold]
    fn grow(&mut self) {
        let new_len = (self.index.len() * 2).max(16);
        let old = std::mem::replace(&mut self.index, vec![0; new_len]);
        let mask = new_len - 1;
        for e in old.into_iter().filter(|&e| e != 0) {
            let mut i = (e >> 32) as usize & mask;
            while self.index[i] != 0 {
                i = (i + 1) & mask;
            }
            self.index[i] = e;
        }
    }

    /// Takes `slot` (whose key hashes to `tag`) out of the index, shifting
    /// the entries after it back so that no probe sequence is broken.
    fn index_remove(&mut self, tag: u32, slot: u32) {
        let mask = self.mask();
        let want = u64::from(slot + 1);
        let mut i = tag as usize & mask;
        loop {
            let e = self.index[i];
            if e == 0 {
                debug_assert!(false, "slot {slot} not in the index");
                return;
            }
            if e & 0xffff_ffff == want {
                break;
            }
            i = (i + 1) & mask;
        }
        let mut j = i;
        loop {
            j = (j + 1) & mask;
            let e = self.index[j];
            if e == 0 {
                break;
            }
            let home = (e >> 32) as usize & mask;
            // The entry at j may fill the hole at i unless its home lies
            // cyclically in (i, j].
            let stays = if i <= j {
                i < home && home <= j
            } else {
                i < home || home <= j
            };
            if !stays {
                self.index[i] = e;
                i = j;
            }
        }
        self.index[i] = 0;
        self.len -= 1;
    }

    /// Inserts a flow for a key that is not in the table, given the key's
    /// [`FlowKey::hash32`]; returns (slot, generation).
    pub fn insert_hashed(&mut self, key: FlowKey, tag: u32, flow: Flow) -> (u32, u32) {
        let idx = match self.free.pop() {
            Some(i) => {
                let s = &mut self.slots[i as usize];
                s.key = key;
                s.flow = Some(flow);
                i
            }
            None => {
                self.slots.push(Slot {
                    key,
                    gen: 0,
                    flow: Some(flow),
                });
                (self.slots.len() - 1) as u32
            }
        };
        self.index_insert(tag, idx);
        (idx, self.slots[idx as usize].gen)
    }

    #[inline]
    pub fn get(&self, idx: u32) -> Option<&Flow> {
        self.slots.get(idx as usize).and_then(|s| s.flow.as_ref())
    }

    #[inline]
    pub fn get_mut(&mut self, idx: u32) -> Option<&mut Flow> {
        self.slots
            .get_mut(idx as usize)
            .and_then(|s| s.flow.as_mut())
    }

    /// Generation of slot `idx` (changes each time the slot is freed).
    pub fn generation(&self, idx: u32) -> u32 {
        self.slots.get(idx as usize).map_or(0, |s| s.gen)
    }

    /// The same, mutable.
    pub fn get_gen_mut(&mut self, idx: u32, gen: u32) -> Option<&mut Flow> {
        let s = self.slots.get_mut(idx as usize)?;
        if s.gen == gen {
            s.flow.as_mut()
        } else {
            None
        }
    }

    /// The flow in `idx` if it is still the one of generation `gen`.
    pub fn get_gen(&self, idx: u32, gen: u32) -> Option<&Flow> {
        let s = self.slots.get(idx as usize)?;
        if s.gen == gen {
            s.flow.as_ref()
        } else {
            None
        }
    }

    /// Drops the flow in slot `idx` where it lies and frees the slot; false
    /// if the slot was free.
    pub fn remove(&mut self, idx: u32) -> bool {
        let Some(s) = self.slots.get_mut(idx as usize) else {
            return false;
        };
        if s.flow.is_none() {
            return false;
        }
        s.flow = None;
        s.gen = s.gen.wrapping_add(1);
        let tag = s.key.hash32();
        self.index_remove(tag, idx);
        self.free.push(idx);
        true
    }

    /// The occupied slots in flow creation order (`serial`), for a flush: take
    /// each flow's record from [`FlowTable::get_mut`], then [`FlowTable::clear`]. (Only
    /// the slot numbers are sorted: collecting the flows themselves meant
    /// allocating and zeroing hundreds of bytes per flow left at the end.)
    pub fn slots_by_serial(&self) -> Vec<u32> {
        let mut v: Vec<(u64, u32)> = self
            .slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.flow.as_ref().map(|f| (f.serial, i as u32)))
            .collect();
        v.sort_unstable();
        v.into_iter().map(|(_, i)| i).collect()
    }

    /// Empties the table.
    pub fn clear(&mut self) {
        self.index.iter_mut().for_each(|e| *e = 0);
        self.len = 0;
        self.slots.clear();
        self.free.clear();
    }
}

/// Idle-expiry schedule: a timer wheel of one-second slots holding
/// (deadline, slot, generation) entries, with a heap for deadlines beyond the
/// wheel's horizon. Each flow has an entry; an entry whose flow was refreshed
/// since is re-queued with the new deadline when it comes due, so refreshing
/// a flow costs nothing per packet, and pushing or popping is O(1).
#[derive(Debug)]
pub struct Expiry {
    slots: Vec<Vec<(i64, u32, u32)>>,
    /// Index of the slot for second `cursor_sec`.
    cursor: usize,
    cursor_sec: i64,
    started: bool,
    /// Entries in `slots`.
    in_wheel: usize,
    far: BinaryHeap<Reverse<(i64, u32, u32)>>,
}

/// Seconds covered by the wheel.
const WHEEL: usize = 1024;
/// Entries of a second compared to pick the one to evict.
const EARLIEST_SCAN: usize = 64;

fn second(ns: i64) -> i64 {
    ns.div_euclid(1_000_000_000)
}

impl Default for Expiry {
    fn default() -> Self {
        Expiry {
            slots: vec![Vec::new(); WHEEL],
            cursor: 0,
            cursor_sec: 0,
            started: false,
            in_wheel: 0,
            far: BinaryHeap::new(),
        }
    }
}

impl Expiry {
    /// Starts the wheel at the capture time of the first packet (deadlines
    /// before the wheel's start would wait for its first second to pass).
    pub fn set_now(&mut self, now: i64) {
        if !self.started {
            self.started = true;
            self.cursor_sec = second(now);
        }
    }

    pub fn push(&mut self, deadline: i64, idx: u32, gen: u32) {
        let s = second(deadline);
        if !self.started {
            self.started = true;
            self.cursor_sec = s;
        }
        let ahead = (s - self.cursor_sec).max(0);
        if ahead >= WHEEL as i64 {
            self.far.push(Reverse((deadline, idx, gen)));
        } else {
            let i = (self.cursor + ahead as usize) % WHEEL;
            self.slots[i].push((deadline, idx, gen));
            self.in_wheel += 1;
        }
    }

    /// Moves the cursor one second on, pulling in far entries that now fit.
    fn advance(&mut self) {
        self.cursor = (self.cursor + 1) % WHEEL;
        self.cursor_sec += 1;
        if self.in_wheel == 0 {
            // Nothing in the wheel: jump straight to the next far deadline.
            if let Some(Reverse((d, _, _))) = self.far.peek() {
                self.cursor_sec = self.cursor_sec.max(second(*d) - WHEEL as i64 + 1);
            }
        }
        let horizon = self.cursor_sec + WHEEL as i64;
        while let Some(Reverse((d, _, _))) = self.far.peek() {
            if second(*d) >= horizon {
                break;
            }
            let Reverse((d, idx, gen)) = self.far.pop().expect("peeked");
            self.push(d, idx, gen);
        }
    }

    /// An entry whose deadline is before the current second of `now`, if
    /// any. A slot is emptied only once its second is over, when every entry
    /// in it is due: each pop is O(1) (an entry waits at most a second).
    pub fn pop_due(&mut self, now: i64) -> Option<(i64, u32, u32)> {
        if !self.started {
            return None;
        }
        let now_sec = second(now);
        loop {
            if self.cursor_sec >= now_sec {
                return None;
            }
            if let Some(e) = self.slots[self.cursor].pop() {
                self.in_wheel -= 1;
                return Some(e);
            }
            if self.in_wheel == 0 && self.far.is_empty() {
                // Empty: restart the wheel at the current second.
                self.cursor_sec = now_sec;
                return None;
            }
            self.advance();
        }
    }

    /// An entry with the earliest deadline to one second, due or not: the
    /// earliest of the first [`EARLIEST_SCAN`] entries of the earliest
    /// second (a flood puts a hundred thousand flows in one second; finding
    /// the exact earliest of them for every eviction would cost that much
    /// each time).
    pub fn pop_earliest(&mut self) -> Option<(i64, u32, u32)> {
        if self.in_wheel > 0 {
            for k in 0..WHEEL {
                let i = (self.cursor + k) % WHEEL;
                let slot = &mut self.slots[i];
                let head = &slot[..slot.len().min(EARLIEST_SCAN)];
                if let Some((pos, _)) = head.iter().enumerate().min_by_key(|(_, e)| e.0) {
                    self.in_wheel -= 1;
                    return Some(slot.swap_remove(pos));
                }
            }
        }
        self.far.pop().map(|Reverse(e)| e)
    }

    pub fn len(&self) -> usize {
        self.in_wheel + self.far.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn clear(&mut self) {
        for s in &mut self.slots {
            s.clear();
        }
        self.in_wheel = 0;
        self.far.clear();
        self.started = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test_flow(serial: u64) -> Flow {
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        Flow::new(a, a, 0, 0, 6, 0, 0, serial)
    }

    proptest::proptest! {
        /// The open-addressing index against a hash map: random inserts and
        /// removals over few distinct keys (long probe runs, wrap-around,
        /// backward-shift deletion, growth from a tiny table).
        #[test]
        fn table_agrees_with_a_map(ops in proptest::collection::vec((0u16..300, proptest::bool::ANY), 1..600)) {
            let a: IpAddr = "192.0.2.1".parse().unwrap();
            let b: IpAddr = "198.51.100.7".parse().unwrap();
            let mut t = FlowTable::with_capacity(1);
            let mut model: std::collections::HashMap<u16, (u32, u64)> = Default::default();
            for (n, (port, insert)) in ops.into_iter().enumerate() {
                let (key, _) = FlowKey::new(a, port, b, 443, 6);
                match (model.get(&port).copied(), insert) {
                    (None, true) => {
                        let (slot, _) = t.insert_hashed(key, key.hash32(), test_flow(n as u64));
                        model.insert(port, (slot, n as u64));
                    }
                    (Some((slot, serial)), false) => {
                        proptest::prop_assert_eq!(t.get(slot).map(|f| f.serial), Some(serial));
                        proptest::prop_assert!(t.remove(slot));
                        proptest::prop_assert!(!t.remove(slot));
                        model.remove(&port);
                    }
                    _ => {}
                }
                proptest::prop_assert_eq!(t.len(), model.len());
                let (k, _) = FlowKey::new(a, port, b, 443, 6);
                proptest::prop_assert_eq!(t.find_hashed(&k, k.hash32()), model.get(&port).map(|e| e.0));
                if n % 32 != 0 {
                    continue;
                }
                for p in 0u16..300 {
                    let (k, _) = FlowKey::new(a, p, b, 443, 6);
                    let want = model.get(&p).map(|e| e.0);
                    proptest::prop_assert_eq!(t.find_hashed(&k, k.hash32()), want, "port {}", p);
                }
            }
            let order = t.slots_by_serial();
            proptest::prop_assert_eq!(order.len(), model.len());
            let serials: Vec<u64> = order.iter().map(|&i| t.get(i).expect("occupied").serial).collect();
            proptest::prop_assert!(serials.windows(2).all(|w| w[0] < w[1]));
            t.clear();
            proptest::prop_assert!(t.is_empty());
        }
    }

    #[test]
    fn wheel_pops_due_entries_in_time() {
        let s = 1_000_000_000i64;
        let mut e = Expiry::default();
        e.set_now(0);
        e.push(100 * s, 1, 0);
        e.push(5 * s, 2, 0);
        e.push(5 * s + 500, 3, 0);
        e.push(5000 * s, 4, 0); // beyond the wheel
        assert_eq!(e.len(), 4);
        assert_eq!(e.pop_due(4 * s), None);
        // Due once their second is over.
        assert_eq!(e.pop_due(5 * s + 900), None);
        let mut got = vec![];
        while let Some(x) = e.pop_due(6 * s) {
            got.push(x.1);
        }
        got.sort();
        assert_eq!(got, vec![2, 3]);
        assert_eq!(e.pop_due(100 * s), None);
        assert_eq!(e.pop_due(101 * s).map(|x| x.1), Some(1));
        assert_eq!(e.pop_earliest().map(|x| x.1), Some(4));
        assert!(e.is_empty());
        // A time jump far ahead, then entries pushed in the past are due at once.
        e.push(10_000 * s, 5, 0);
        assert_eq!(e.pop_due(20_000 * s).map(|x| x.1), Some(5));
        e.push(3 * s, 6, 0);
        assert_eq!(e.pop_due(20_001 * s).map(|x| x.1), Some(6));
        assert!(e.is_empty());
    }

    #[test]
    fn key_is_symmetric() {
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "1.2.3.4".parse().unwrap();
        let (k1, s1) = FlowKey::new(a, 5000, b, 443, 6);
        let (k2, s2) = FlowKey::new(b, 443, a, 5000, 6);
        assert_eq!(k1, k2);
        assert_ne!(s1, s2);
        assert_eq!(k1.hash32(), k2.hash32());
    }
}
