//! The analysis engine of one worker: decode → flow table → extractors → ended flows.
//!
//! [`Engine::process`] takes one captured frame. The hot path for a packet of
//! a flow that is already classified is: decode (slices, no copy), one hash
//! lookup, a few counter updates. Deep inspection (TLS ClientHello, HTTP
//! request heads, DNS) runs only while a flow's extractors are still unsure,
//! and DNS messages on DNS ports.
//!
//! Ended flows (FIN/RST both ways plus a short linger, idle timeout, table
//! full, end of input) become [`FlowRecord`]s handed to a [`FlowSink`].

use std::io::Write;
use std::net::IpAddr;
use std::sync::Arc;

use rustc_hash::FxHashMap;

use crate::decode::{self, tcpflag, Frag, Outcome, Packet, PROTO_TCP, PROTO_UDP};
use crate::facts::{Fact, FactSink};
use crate::flow::{
    AppState, Bucket, Expiry, Flow, FlowKey, FlowTable, Inspect, QuicState, QuicStatus, Via,
    SERVER_PORTS,
};
use crate::limits::Limits;
use crate::proto::{dns, fingerprint, h2, http, quic, reasm::Push, reasm::Stream, tls};
use crate::signatures::Catalog;
use crate::source::pcapfile::RawPacket;
use crate::stats::Stats;

/// Engine settings (from the command line).
#[derive(Debug, Clone)]
pub struct Config {
    pub tcp_timeout_ns: i64,
    pub udp_timeout_ns: i64,
    /// Time a closed TCP flow lingers to absorb the last ACKs.
    pub close_linger_ns: i64,
    /// The caps of the memory budget (see [`crate::limits`]); with several
    /// workers, this worker's share (see [`Engine::set_shard`]).
    pub limits: Limits,
    /// Grace added to a DNS answer's TTL.
    pub dns_grace_ns: i64,
    pub bucket_ns: i64,
    /// Bytes of a client stream buffered to find a ClientHello / request head.
    pub max_stream_buffer: usize,
    /// Client segments inspected before giving up on a flow.
    pub max_inspect_segments: u16,
    /// Compute JA4/JA3 client fingerprints and keep ALPN lists (only flow
    /// events show them).
    pub fingerprints: bool,
    /// Time every packet's processing into a histogram (`--stats`).
    pub latency: bool,
    /// Drop a frame identical to one seen less than this long before (live
    /// capture from overlapping mirror sessions; 0: off). See [`crate::dedup`].
    pub dedup_ns: i64,
    /// How internal addresses are shown in facts (`--pseudonymize`,
    /// `--host-prefix`).
    pub hosts: crate::privacy::HostView,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            tcp_timeout_ns: 300 * 1_000_000_000,
            udp_timeout_ns: 120 * 1_000_000_000,
            close_linger_ns: 5 * 1_000_000_000,
            limits: Limits::default(),
            dns_grace_ns: 300 * 1_000_000_000,
            bucket_ns: 3600 * 1_000_000_000,
            max_stream_buffer: 32 * 1024,
            max_inspect_segments: 24,
            fingerprints: true,
            latency: false,
            dedup_ns: 0,
            hosts: Default::default(),
        }
    }
}

/// Why a flow ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    Closed,
    Idle,
    Evicted,
    EndOfInput,
}

/// A flow that ended, with everything the reports need.
#[derive(Debug, Clone)]
pub struct FlowRecord {
    pub serial: u64,
    pub ts_start: i64,
    pub ts_end: i64,
    pub client: IpAddr,
    pub server: IpAddr,
    pub client_port: u16,
    pub server_port: u16,
    pub proto: u8,
    pub server_name: Option<String>,
    pub via: Option<Via>,
    /// Index of the matched service in the catalog.
    pub service: Option<u16>,
    /// Catalog pattern that matched (for events).
    pub pattern: Option<u32>,
    pub bytes_up: u64,
    pub bytes_down: u64,
    pub packets_up: u64,
    pub packets_down: u64,
    /// Encrypted Client Hello in use: the extension, with an ECH provider's
    /// public name as the outer SNI (see [`ech_in_use`]).
    pub ech: bool,
    /// The ClientHello carried the ECH extension (browsers also send it as
    /// GREASE, with the real name as SNI).
    pub ech_offered: bool,
    pub alpn: Vec<String>,
    /// Outer SNI of an ECH ClientHello (when the flow was named otherwise).
    pub sni: Vec<String>,
    pub ja4: Option<String>,
    pub ja3: Option<String>,
    /// The flow's closed time buckets (see [`FlowRecord::buckets`]).
    pub past_buckets: Vec<Bucket>,
    /// Its last bucket (a flow within one bucket allocates none).
    pub bucket: Bucket,
    pub end: EndReason,
    /// QUIC long headers were seen from the client.
    pub quic: bool,
    /// QUIC, but no client Initial could be decrypted (unknown version, failures).
    pub quic_undecryptable: bool,
}

impl FlowRecord {
    /// Bytes per time bucket, oldest first: the closed ones and the last one
    /// (the last even if empty when it is the only one).
    pub fn buckets(&self) -> impl Iterator<Item = &Bucket> {
        let last = (self.bucket.up + self.bucket.down > 0 || self.past_buckets.is_empty())
            .then_some(&self.bucket);
        self.past_buckets.iter().chain(last)
    }
}

/// Receives ended flows.
pub trait FlowSink {
    fn flow_ended(&mut self, rec: FlowRecord, catalog: &Catalog);
}

/// DNS-learned names: (client, server address) → name, valid until `expires`.
#[derive(Debug, Clone)]
struct DnsEntry {
    name: Arc<str>,
    expires: i64,
}

/// The DNS name cache, bounded in bytes: two generations. Names go into the
/// young one; when it holds half the budget it becomes the old one and the
/// previous old one is forgotten. A lookup tries the young one, then the old
/// one. A flood of answers thus pushes out at most the older half of the
/// names, never all of them at once, and costs O(1) per name.
#[derive(Debug, Default)]
struct DnsCache {
    young: FxHashMap<(IpAddr, IpAddr), DnsEntry>,
    old: FxHashMap<(IpAddr, IpAddr), DnsEntry>,
    young_bytes: usize,
    cap_bytes: usize,
    /// Names dropped to stay within the budget (expired ones included).
    evicted: u64,
}

impl DnsCache {
    fn new(cap_bytes: usize) -> Self {
        DnsCache {
            cap_bytes,
            ..DnsCache::default()
        }
    }

    fn cost(e: &DnsEntry) -> usize {
        crate::limits::DNS_ENTRY_COST + e.name.len()
    }

    fn insert(&mut self, key: (IpAddr, IpAddr), entry: DnsEntry) {
        let cost = Self::cost(&entry);
        if self.young_bytes + cost > self.cap_bytes / 2 && !self.young.is_empty() {
            self.evicted += self.old.len() as u64;
            self.old = std::mem::take(&mut self.young);
            self.young_bytes = 0;
        }
        self.young_bytes += cost;
        if let Some(prev) = self.young.insert(key, entry) {
            self.young_bytes -= Self::cost(&prev);
        }
    }

    fn get(&self, key: &(IpAddr, IpAddr)) -> Option<&DnsEntry> {
        self.young.get(key).or_else(|| self.old.get(key))
    }
}

/// A name a DNS response teaches: `client` resolved `name` to `ip`.
/// With several workers, the worker that routes a UDP DNS response parses it
/// once and every worker learns these, in packet order (see [`Engine::route`]).
#[derive(Debug, Clone)]
pub struct DnsLearn {
    client: IpAddr,
    ip: IpAddr,
    entry: DnsEntry,
}

/// Where a DNS response's names go.
enum Learn<'e> {
    /// The engine's own cache (one worker, DNS over TCP).
    Cache(&'e mut DnsCache),
    /// The chunk's list, for every worker (the router of a UDP response).
    List(&'e mut Vec<DnsLearn>),
    /// Nowhere (a retransmission dissected again for facts only).
    Nowhere,
}

/// What the extractors write to, borrowed from the engine apart from its
/// flow table: settings, counters, the fact sink and where DNS names go.
struct Out<'e> {
    cfg: &'e Config,
    stats: &'e mut Stats,
    facts: &'e mut Option<FactSink>,
    learn: Learn<'e>,
}

/// An [`Out`] from the engine's fields (a macro, so that the flow table stays
/// borrowable beside it).
macro_rules! out {
    ($e:expr) => {
        &mut Out {
            cfg: &$e.cfg,
            stats: &mut $e.stats,
            facts: &mut $e.facts,
            learn: Learn::Cache(&mut $e.dns_cache),
        }
    };
}

/// The catalog an engine classifies with: the caller's, or one it was
/// given later (a reload, see [`Engine::set_catalog`]) and shares.
enum Cat<'c> {
    Borrowed(&'c Catalog),
    Shared(Arc<Catalog>),
}

impl std::ops::Deref for Cat<'_> {
    type Target = Catalog;
    fn deref(&self) -> &Catalog {
        match self {
            Cat::Borrowed(c) => c,
            Cat::Shared(c) => c,
        }
    }
}

/// The engine of one worker.
pub struct Engine<'c> {
    cfg: Config,
    catalog: Cat<'c>,
    flows: FlowTable,
    expiry: Expiry,
    dns_cache: DnsCache,
    /// Bytes held by the flows' reassembly buffers ([`Flow::buffered`]).
    buffered: usize,
    /// Flows holding reassembly buffers, in the order they started to:
    /// the first to go when the buffers outgrow their budget (slot,
    /// generation; stale entries are skipped).
    buffering: std::collections::VecDeque<(u32, u32)>,
    /// QUIC Initial decryptions of new connections (capture time).
    quic_budget: crate::limits::Budget,
    now: i64,
    next_check: i64,
    serial: u64,
    pub stats: Stats,
    facts: Option<FactSink>,
    /// Scratch buffer for decrypting QUIC Initials (no allocation per packet).
    quic_buf: Vec<u8>,
    /// Per-packet processing time in nanoseconds, when `cfg.latency`.
    pub latency: Option<hdrhistogram::Histogram<u64>>,
    /// This worker's shard and the number of shards (see [`Engine::set_shard`]).
    shard_id: u32,
    shards: u32,
    /// Processing a DNS flow another worker owns (see `process`).
    shadow: bool,
    /// This engine counts packet-level statistics (packets, bytes, undecodable...).
    packet_stats: bool,
    /// Duplicate detection, when `cfg.dedup_ns` > 0.
    dedup: Option<Box<crate::dedup::Dedup>>,
    /// Flows of this worker evicted, and whose inspection gave up for the
    /// reassembly budget. Kept here, not in `stats`: an eviction or a drop
    /// may happen while following another worker's DNS flow, when `stats` is
    /// set aside (see `ip_packet`); copied in by `sync_counters`.
    evicted: u64,
    reassembly_dropped: u64,
    /// IP fragments waiting for their datagram.
    defrag: crate::defrag::Defrag,
    /// Handling a datagram from fragments (see `fragment`).
    from_fragments: bool,
}

/// Where a frame goes (see [`Engine::route`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// The flow's owner.
    Worker(u32),
    /// Every worker: DNS over TCP (each one reassembles it for its names).
    All,
    /// A UDP DNS message, parsed by the router: the flow's owner, and every
    /// other worker too if the message taught names (`learned[start..end]` of
    /// the chunk's list).
    Dns { owner: u32, start: u32, end: u32 },
}

/// A packet as decoded by the worker that routed it, with its payload as a
/// range of the chunk buffer: the worker that owns the flow does not decode it
/// again, and touches the packet's bytes only if it inspects the payload.
#[derive(Debug, Clone, Copy)]
pub struct Routed {
    pub ts_ns: i64,
    pub frame: u64,
    src: IpAddr,
    dst: IpAddr,
    ip_len: u32,
    /// For UDP, where no sequence numbers exist: the range of the names the
    /// message taught in the chunk's list (see [`Route::Dns`]).
    tcp_seq: u32,
    tcp_ack: u32,
    payload_at: u32,
    payload_len: u32,
    sport: u16,
    dport: u16,
    ip_version: u8,
    proto: u8,
    tcp_flags: u8,
    tunnels: u8,
    frag: Frag,
    frag_offset: u16,
    frag_len: u16,
    frag_id: u32,
    /// The flow key's [`FlowKey::hash32`].
    hash: u32,
}

impl Routed {
    /// `pkt`, decoded from `raw`, which lies in `buf`; `hash` as from [`Engine::route`].
    pub fn new(pkt: &Packet<'_>, raw: &RawPacket<'_>, buf: &[u8], hash: u32) -> Self {
        let at = (pkt.payload.as_ptr() as usize).wrapping_sub(buf.as_ptr() as usize);
        let (payload_at, payload_len) = match u32::try_from(at) {
            Ok(at) if (at as usize).saturating_add(pkt.payload.len()) <= buf.len() => {
                (at, pkt.payload.len() as u32)
            }
            _ => (0, 0),
        };
        Routed {
            hash,
            ts_ns: raw.ts_ns,
            frame: raw.frame,
            src: pkt.src,
            dst: pkt.dst,
            ip_len: pkt.ip_len,
            tcp_seq: pkt.tcp_seq,
            tcp_ack: pkt.tcp_ack,
            payload_at,
            payload_len,
            sport: pkt.sport,
            dport: pkt.dport,
            ip_version: pkt.ip_version,
            proto: pkt.proto,
            tcp_flags: pkt.tcp_flags,
            tunnels: pkt.tunnels,
            frag: pkt.frag,
            frag_offset: pkt.frag_offset,
            frag_len: pkt.frag_len,
            frag_id: pkt.frag_id,
        }
    }

    /// The record of a UDP DNS message that taught `learned[start..end]`.
    pub fn with_learned(mut self, start: u32, end: u32) -> Self {
        debug_assert_eq!(self.proto, PROTO_UDP);
        self.tcp_seq = start;
        self.tcp_ack = end;
        self
    }

    /// The names the message taught, as a range of the chunk's list.
    fn learned(&self) -> std::ops::Range<usize> {
        if self.proto == PROTO_UDP && self.frag == Frag::No {
            self.tcp_seq as usize..self.tcp_ack as usize
        } else {
            0..0
        }
    }

    fn packet<'a>(&self, buf: &'a [u8]) -> Packet<'a> {
        let at = self.payload_at as usize;
        let udp = self.proto == PROTO_UDP;
        Packet {
            ip_version: self.ip_version,
            src: self.src,
            dst: self.dst,
            proto: self.proto,
            ip_len: self.ip_len,
            sport: self.sport,
            dport: self.dport,
            tcp_seq: if udp { 0 } else { self.tcp_seq },
            tcp_ack: if udp { 0 } else { self.tcp_ack },
            tcp_flags: self.tcp_flags,
            payload: buf
                .get(at..at.saturating_add(self.payload_len as usize))
                .unwrap_or_default(),
            frag: self.frag,
            frag_id: self.frag_id,
            frag_offset: self.frag_offset,
            frag_len: self.frag_len,
            tunnels: self.tunnels,
        }
    }
}

/// Context of the current frame for facts.
#[derive(Clone, Copy)]
struct FrameCtx {
    frame: u64,
    ts: i64,
}

impl<'c> Engine<'c> {
    pub fn new(cfg: Config, catalog: &'c Catalog, facts: Option<Box<dyn Write + Send>>) -> Self {
        Self::with_facts(cfg, catalog, facts.map(FactSink::new))
    }

    /// An engine with a given fact sink (e.g. [`FactSink::memory`] for workers).
    pub fn with_facts(cfg: Config, catalog: &'c Catalog, mut facts: Option<FactSink>) -> Self {
        if let Some(f) = facts.as_mut() {
            f.view = cfg.hosts.clone();
        }
        let latency = cfg_latency(&cfg);
        let cfg_dedup = cfg.dedup_ns;
        let l = cfg.limits;
        Engine {
            flows: FlowTable::with_capacity(l.max_flows.min(RESERVED_FLOWS)),
            cfg,
            catalog: Cat::Borrowed(catalog),
            expiry: Expiry::default(),
            dns_cache: DnsCache::new(l.dns_cache_bytes),
            buffered: 0,
            buffering: Default::default(),
            quic_budget: crate::limits::Budget::new(l.quic_decrypts_per_sec),
            now: i64::MIN,
            next_check: i64::MIN,
            serial: 0,
            stats: Stats::default(),
            facts,
            quic_buf: Vec::with_capacity(2048),
            latency,
            shard_id: 0,
            shards: 1,
            shadow: false,
            packet_stats: true,
            dedup: (cfg_dedup > 0).then(|| {
                Box::new(crate::dedup::Dedup::with_capacity(
                    cfg_dedup,
                    l.dedup_entries,
                ))
            }),
            evicted: 0,
            reassembly_dropped: 0,
            defrag: crate::defrag::Defrag::new(l.defrag_bytes),
            from_fragments: false,
        }
    }

    /// The worker that owns a flow, from its key's [`FlowKey::hash32`].
    #[inline]
    pub fn owner_of(&self, hash: u32) -> u32 {
        // The hash scaled to [0, shards): no division.
        ((u64::from(hash) * u64::from(self.shards)) >> 32) as u32
    }

    /// Makes this engine worker `id` of `n`. A flow belongs to the worker its
    /// symmetric hash picks, so both directions land on the same worker; the
    /// pipeline hands each worker its own packets (see [`Engine::route`]).
    /// DNS is the exception: its answers name other workers' flows, so every
    /// worker learns every name, in packet order, which makes DNS-learned
    /// names independent of the number of workers and of thread timing. A UDP
    /// message is parsed once, by the worker that routes it (its counters and
    /// facts are that worker's), and the names it taught go to every worker
    /// ([`Route::Dns`]); DNS over TCP is followed by every worker, which
    /// reassembles it, but only the owner reports the flow. Packet-level
    /// counters are kept by whoever routes the packet, not here. Each worker
    /// gets its share of the memory budget's caps ([`Limits::share`]).
    pub fn set_shard(&mut self, id: u32, n: u32) {
        self.shard_id = id;
        self.shards = n.max(1);
        self.packet_stats = self.shards == 1;
        let l = self.cfg.limits.share(self.shards as usize);
        self.cfg.limits = l;
        debug_assert!(self.flows.is_empty(), "set_shard before any packet");
        self.flows = FlowTable::with_capacity(l.max_flows.min(RESERVED_FLOWS));
        self.dns_cache = DnsCache::new(l.dns_cache_bytes);
        self.defrag = crate::defrag::Defrag::new(l.defrag_bytes);
        self.quic_budget = crate::limits::Budget::new(l.quic_decrypts_per_sec);
    }

    /// Which workers must see a frame: counts its packet-level statistics
    /// (once per frame, in whichever worker routes it) and returns the owner of
    /// its flow, or every worker for DNS, with the decoded packet; `None` for
    /// frames no flow uses. A UDP DNS message is parsed here, once: its
    /// counters and facts are this worker's, the names it teaches are pushed
    /// to `learned` for every worker to learn (see [`Route::Dns`]).
    #[inline]
    pub fn route<'a>(
        &mut self,
        raw: &RawPacket<'a>,
        learned: &mut Vec<DnsLearn>,
    ) -> Option<(Route, Packet<'a>, u32)> {
        let outcome = decode::decode(raw.linktype, raw.data);
        count_packet(&mut self.stats, raw, &outcome);
        let Outcome::Ip(pkt) = outcome else {
            return None;
        };
        if pkt.frag != Frag::No {
            // A fragment: every worker reassembles the datagram, whose owner
            // is known once it is whole (see `fragment`).
            return reassemblable(&pkt).then_some((Route::All, pkt, 0));
        }
        if pkt.proto != PROTO_TCP && pkt.proto != PROTO_UDP {
            return None;
        }
        let (key, _) = FlowKey::new(pkt.src, pkt.sport, pkt.dst, pkt.dport, pkt.proto);
        let hash = key.hash32();
        let owner = self.owner_of(hash);
        let route = if !(is_dns_port(pkt.sport) || is_dns_port(pkt.dport)) {
            Route::Worker(owner)
        } else if pkt.proto == PROTO_TCP {
            Route::All
        } else if pkt.payload.is_empty() {
            Route::Worker(owner)
        } else {
            let start = learned.len();
            let ctx = FrameCtx {
                frame: raw.frame,
                ts: raw.ts_ns,
            };
            let out = &mut Out {
                cfg: &self.cfg,
                stats: &mut self.stats,
                facts: &mut self.facts,
                learn: Learn::List(learned),
            };
            handle_dns_message(pkt.payload, &pkt, ctx, out);
            // (Counts far below 2^32 in a chunk of at most 2^32 bytes.)
            Route::Dns {
                owner,
                start: start as u32,
                end: learned.len() as u32,
            }
        };
        Some((route, pkt, hash))
    }

    /// The input file being read (facts of several workers are merged by (file, frame)).
    pub fn set_file(&mut self, index: u32) {
        if let Some(fs) = self.facts.as_mut() {
            fs.file_index = index;
        }
    }

    /// The read chunk whose packets come next (worker mode: facts are
    /// kept tagged with it).
    pub fn set_chunk(&mut self, seq: u64) {
        if let Some(fs) = self.facts.as_mut() {
            fs.chunk = seq;
        }
    }

    /// Facts kept in memory of chunks up to `seq` (worker mode).
    pub fn take_facts_upto(&mut self, seq: u64) -> Vec<crate::facts::Kept> {
        self.facts
            .as_mut()
            .map(|f| f.take_memory_upto(seq))
            .unwrap_or_default()
    }

    /// Whether this engine keeps the packet-level counters (worker 0).
    pub fn counts_packets(&self) -> bool {
        self.packet_stats
    }

    pub fn active_flows(&self) -> usize {
        self.flows.len()
    }

    /// Processes one frame.
    #[inline]
    pub fn process(&mut self, raw: &RawPacket<'_>, sink: &mut dyn FlowSink) {
        self.timed(|e| e.process_frame(raw, sink));
    }

    /// Runs `f`, timing it into the latency histogram when `--stats` asks.
    #[inline]
    fn timed(&mut self, f: impl FnOnce(&mut Self)) {
        if self.latency.is_none() {
            return f(self);
        }
        let t0 = std::time::Instant::now();
        f(self);
        let ns = t0.elapsed().as_nanos().min(u64::MAX as u128) as u64;
        if let Some(h) = self.latency.as_mut() {
            h.saturating_record(ns.max(1));
        }
    }

    fn process_frame(&mut self, raw: &RawPacket<'_>, sink: &mut dyn FlowSink) {
        if let Some(d) = self.dedup.as_mut() {
            if d.is_duplicate(raw.linktype, raw.data, raw.ts_ns) {
                self.stats.duplicates += 1;
                return;
            }
        }
        self.tick(raw.ts_ns, sink);
        let outcome = decode::decode(raw.linktype, raw.data);
        if self.packet_stats {
            count_packet(&mut self.stats, raw, &outcome);
        }
        let Outcome::Ip(pkt) = outcome else {
            return;
        };
        let ctx = FrameCtx {
            frame: raw.frame,
            ts: raw.ts_ns,
        };
        self.ip_packet(&pkt, ctx, None, sink);
    }

    /// Processes a packet decoded and routed here by another worker (see
    /// [`Engine::route`]); `buf` is the buffer its payload lies in.
    #[inline]
    pub fn process_routed(
        &mut self,
        r: &Routed,
        buf: &[u8],
        learned: &[DnsLearn],
        sink: &mut dyn FlowSink,
    ) {
        let learned = learned.get(r.learned()).unwrap_or_default();
        self.process_decoded(&r.packet(buf), r.ts_ns, r.frame, r.hash, learned, sink);
    }

    /// Processes a packet this worker decoded and routed to itself; `hash` is
    /// its flow key's [`FlowKey::hash32`], `learned` the names it taught if it
    /// is a UDP DNS message (see [`Engine::route`]).
    #[inline]
    pub fn process_decoded(
        &mut self,
        pkt: &Packet<'_>,
        ts_ns: i64,
        frame: u64,
        hash: u32,
        learned: &[DnsLearn],
        sink: &mut dyn FlowSink,
    ) {
        self.timed(|e| {
            e.tick(ts_ns, sink);
            e.ip_packet(pkt, FrameCtx { frame, ts: ts_ns }, Some(hash), sink);
            if !learned.is_empty() {
                e.learn_dns(learned);
            }
        });
    }

    /// Learns the names a DNS response taught (as `dns_udp` does with one worker).
    fn learn_dns(&mut self, learned: &[DnsLearn]) {
        for l in learned {
            self.dns_cache.insert((l.client, l.ip), l.entry.clone());
        }
    }

    /// Moves the engine's clock to `ts` (live capture on a quiet link: the
    /// wall clock, less a margin), ending the flows idle past their timeout.
    pub fn advance_clock(&mut self, ts: i64, sink: &mut dyn FlowSink) {
        self.tick(ts, sink);
    }

    /// Capture time moves on: runs the expiry once per second of it.
    #[inline]
    fn tick(&mut self, ts: i64, sink: &mut dyn FlowSink) {
        if ts > self.now {
            self.now = ts;
        }
        if self.now >= self.next_check {
            self.expire(self.now, sink);
            self.next_check = self.now.saturating_add(1_000_000_000);
            if !self.defrag.is_empty() {
                let mut scratch = Stats::default();
                let st = defrag_stats(self.shard_id, &mut self.stats, &mut scratch);
                self.defrag.expire(self.now, st);
            }
            self.sync_counters();
        }
    }

    /// `hash`: the flow key's hash if the router computed it already.
    #[inline]
    fn ip_packet(
        &mut self,
        pkt: &Packet<'_>,
        ctx: FrameCtx,
        hash: Option<u32>,
        sink: &mut dyn FlowSink,
    ) {
        if pkt.frag != Frag::No {
            self.fragment(pkt, ctx, sink);
            return;
        }
        if pkt.proto != PROTO_TCP && pkt.proto != PROTO_UDP {
            return;
        }
        let (key, src_is_a) = FlowKey::new(pkt.src, pkt.sport, pkt.dst, pkt.dport, pkt.proto);
        let hash = match hash {
            Some(h) if !self.from_fragments => h,
            _ => key.hash32(),
        };
        if self.shards > 1 && self.owner_of(hash) != self.shard_id {
            let dns = is_dns_port(pkt.sport) || is_dns_port(pkt.dport);
            if !dns || (pkt.proto == PROTO_UDP && !self.from_fragments) {
                // (UDP DNS: the router parsed it, the caller learns its names;
                // a reassembled one every worker parses for its names.)
                return;
            }
            // Another worker's DNS flow: follow it for the DNS cache only,
            // with counters and facts going nowhere.
            let stats = std::mem::take(&mut self.stats);
            let facts = self.facts.take();
            self.shadow = true;
            self.packet(pkt, key, hash, src_is_a, ctx, sink);
            self.shadow = false;
            self.stats = stats;
            self.facts = facts;
            return;
        }
        self.packet(pkt, key, hash, src_is_a, ctx, sink);
    }

    /// An IP fragment: kept until its datagram is whole, which is then
    /// handled as one packet at this frame (see [`crate::defrag`]). A
    /// fragment the snap length cut cannot be reassembled: the first one is
    /// handled on its own (its transport header and what follows), the
    /// others only counted, as tshark does. With several workers every one
    /// reassembles (fragments carry no ports to route by); only the first
    /// counts, the datagram's flow owner handles it, and every worker learns
    /// the names of a DNS response.
    fn fragment(&mut self, pkt: &Packet<'_>, ctx: FrameCtx, sink: &mut dyn FlowSink) {
        if !reassemblable(pkt) {
            return;
        }
        let mut scratch = Stats::default();
        let cut = pkt.payload.len() < usize::from(pkt.frag_len);
        let datagram = if cut {
            None
        } else {
            let st = defrag_stats(self.shard_id, &mut self.stats, &mut scratch);
            match self.defrag.push(pkt, ctx.ts, st) {
                Some(d) => Some(d),
                None => return,
            }
        };
        if cut && pkt.frag_offset != 0 {
            return;
        }
        let (ip_len, payload) = match &datagram {
            // (The datagram's IP length as its header would give it.)
            Some(d) => (
                pkt.ip_len
                    .saturating_sub(u32::from(pkt.frag_len))
                    .saturating_add(d.data.len() as u32),
                &d.data[..],
            ),
            None => (pkt.ip_len, pkt.payload),
        };
        match decode::datagram(pkt, ip_len, payload) {
            Outcome::Ip(mut inner) => {
                if let (Some(d), true) = (&datagram, inner.tunnels == pkt.tunnels) {
                    // Counted as its fragments were on the wire.
                    inner.ip_len = u32::try_from(d.ip_bytes).unwrap_or(u32::MAX);
                }
                let was = std::mem::replace(&mut self.from_fragments, true);
                self.ip_packet(&inner, ctx, None, sink);
                self.from_fragments = was;
            }
            Outcome::Undecodable(reason) => {
                defrag_stats(self.shard_id, &mut self.stats, &mut scratch).anomaly(reason);
            }
            Outcome::NonIp => {}
        }
    }

    fn packet(
        &mut self,
        pkt: &Packet<'_>,
        key: FlowKey,
        hash: u32,
        src_is_a: bool,
        ctx: FrameCtx,
        sink: &mut dyn FlowSink,
    ) {
        let is_tcp = pkt.proto == PROTO_TCP;
        let syn_only = is_tcp && pkt.tcp_flags & (tcpflag::SYN | tcpflag::ACK) == tcpflag::SYN;

        let mut idx = self.flows.find_hashed(&key, hash);
        // A flow idle past its timeout ends here even if the periodic expiry
        // has not run yet: where flows split never depends on when it runs.
        if let Some(i) = idx {
            if let Some(f) = self.flows.get(i) {
                if self.deadline(f) < ctx.ts {
                    self.end_flow(i, None, sink);
                    idx = None;
                }
            }
        }
        // A new SYN on a closed flow starts a new flow (port reuse).
        if syn_only {
            if let Some(i) = idx {
                if self.flows.get(i).is_some_and(|f| f.closed()) {
                    self.end_flow(i, Some(EndReason::Closed), sink);
                    idx = None;
                }
            }
        }
        let idx = match idx {
            Some(i) => i,
            None => {
                if self.flows.len() >= self.cfg.limits.max_flows {
                    self.evict_one(sink);
                }
                let flow = self.new_flow(pkt, src_is_a, ctx.ts);
                let timeout = if is_tcp {
                    self.cfg.tcp_timeout_ns
                } else {
                    self.cfg.udp_timeout_ns
                };
                let (i, gen) = self.flows.insert_hashed(key, hash, flow);
                self.expiry.set_now(self.now);
                self.expiry.push(ctx.ts.saturating_add(timeout), i, gen);
                self.stats.flows += 1;
                i
            }
        };
        let bucket_ns = self.cfg.bucket_ns;
        let flow = self.flows.get_mut(idx).expect("present");
        let up = flow.client_is_a == src_is_a;
        if ctx.ts > flow.last_ns {
            flow.last_ns = ctx.ts;
        }
        // Still in the flow's current time bucket? (no division per packet)
        let bucket_start = flow.bucket.index.saturating_mul(bucket_ns);
        if !matches!(ctx.ts.checked_sub(bucket_start), Some(d) if (0..bucket_ns).contains(&d)) {
            let bi = ctx.ts.div_euclid(bucket_ns);
            if flow.bucket.up + flow.bucket.down > 0 {
                flow.past_buckets.push(flow.bucket);
            }
            flow.bucket = Bucket {
                index: bi,
                up: 0,
                down: 0,
            };
        }
        let len = pkt.ip_len as u64;
        if up {
            flow.bytes_up += len;
            flow.packets_up += 1;
            flow.bucket.up += len;
        } else {
            flow.bytes_down += len;
            flow.packets_down += 1;
            flow.bucket.down += len;
        }
        if is_tcp && pkt.tcp_flags & (tcpflag::FIN | tcpflag::RST) != 0 {
            let was_closed = flow.closed();
            if pkt.tcp_flags & tcpflag::FIN != 0 {
                if up {
                    flow.fin_up = true;
                } else {
                    flow.fin_down = true;
                }
            }
            if pkt.tcp_flags & tcpflag::RST != 0 {
                flow.rst = true;
            }
            if !was_closed && flow.closed() {
                // Closed: schedule the end after the linger, not at the idle
                // timeout, so closed flows leave the table within seconds.
                let gen = self.flows.generation(idx);
                self.expiry
                    .push(ctx.ts.saturating_add(self.cfg.close_linger_ns), idx, gen);
            }
        }
        let flow = self.flows.get_mut(idx).expect("present");

        // DNS on its ports, both transports.
        let dns_port = is_dns_port(pkt.sport) || is_dns_port(pkt.dport);
        if !is_tcp {
            if pkt.payload.is_empty() {
                return;
            }
            if dns_port {
                // (Several workers: the router parsed it, see `Engine::route`,
                // unless it was reassembled from fragments.)
                if self.shards == 1 || self.from_fragments {
                    self.dns_udp(pkt, ctx);
                }
                return;
            }
            if !up && pkt.payload[0] & 0x80 != 0 {
                if let Some(st) = flow.quic.as_mut() {
                    // Remember a Retry's new connection ID (see quic_datagram).
                    if let Ok(h) = quic::parse_long_header(pkt.payload) {
                        // A client acts on the first Retry only (RFC 9000 §17.2.5.2).
                        if h.ptype == quic::PacketType::Retry && st.retry_scid.is_none() {
                            st.retry_scid = Some(h.scid.to_vec());
                        }
                    }
                }
            }
            if up && pkt.payload[0] & 0x80 == 0 && flow.quic.as_ref().is_some_and(|q| q.hello_done)
            {
                // 1-RTT packets from the client: the handshake is over.
                flow.quic = None;
                flow.quic_status = QuicStatus::Done;
            }
            if up
                && pkt.payload[0] & 0x80 != 0
                && matches!(flow.quic_status, QuicStatus::None | QuicStatus::Inspecting)
            {
                let budget = &mut self.quic_budget;
                quic_datagram(flow, pkt, ctx, &mut self.quic_buf, budget, out!(self));
            }
            if flow.quic.is_some() || flow.buffered > 0 {
                self.account_buffers(idx);
            }
            let flow = self.flows.get_mut(idx).expect("present");
            if flow.quic_status == QuicStatus::None
                && flow.udp_probes < 4
                && !is_netbios(pkt.sport)
                && !is_netbios(pkt.dport)
            {
                // DNS on another port (e.g. resolvers answering on 443): a
                // strict content check on a flow's first datagrams only.
                flow.udp_probes += 1;
                if dns::looks_like_dns(pkt.payload) {
                    self.dns_udp(pkt, ctx);
                }
            }
            return;
        }
        let flow = self.flows.get_mut(idx).expect("present");
        if flow.inspect.is_some() {
            Self::inspect_tcp(flow, pkt, up, ctx, out!(self));
            self.account_buffers(idx);
        }
    }

    fn new_flow(&mut self, pkt: &Packet<'_>, src_is_a: bool, ts: i64) -> Flow {
        // Decide who the client is.
        let (client_is_src, sure) = if pkt.proto == PROTO_TCP {
            let syn = pkt.tcp_flags & tcpflag::SYN != 0;
            let ack = pkt.tcp_flags & tcpflag::ACK != 0;
            if syn && !ack {
                (true, true)
            } else if syn && ack {
                (false, true)
            } else {
                (port_says_src_is_client(pkt.sport, pkt.dport), false)
            }
        } else {
            (port_says_src_is_client(pkt.sport, pkt.dport), false)
        };
        let (client, server, cp, sp) = if client_is_src {
            (pkt.src, pkt.dst, pkt.sport, pkt.dport)
        } else {
            (pkt.dst, pkt.src, pkt.dport, pkt.sport)
        };
        self.serial += 1;
        let dns_name = self.dns_lookup(client, server, ts);
        let is_dns_tcp = pkt.proto == PROTO_TCP && (is_dns_port(cp) || is_dns_port(sp));
        let inspect = if pkt.proto == PROTO_TCP {
            let mut i = Box::new(Inspect {
                state: if is_dns_tcp {
                    AppState::DnsTcp
                } else {
                    AppState::Unknown
                },
                up: Stream::new(),
                down: Stream::new(),
                client_segments: 0,
                http_skip: 0,
            });
            if pkt.tcp_flags & tcpflag::SYN != 0 {
                let s = pkt.tcp_seq.wrapping_add(1);
                if client_is_src {
                    i.up.start_at(s);
                } else {
                    i.down.start_at(s);
                }
            }
            Some(i)
        } else {
            None
        };
        let mut flow = Flow::new(
            client,
            server,
            cp,
            sp,
            pkt.proto,
            ts,
            ts.div_euclid(self.cfg.bucket_ns),
            self.serial,
        );
        flow.client_is_a = client_is_src == src_is_a;
        flow.orientation_sure = sure;
        flow.dns_name = dns_name;
        flow.inspect = inspect;
        flow.shadow = self.shadow;
        flow
    }

    fn dns_lookup(&self, client: IpAddr, server: IpAddr, ts: i64) -> Option<Arc<str>> {
        let e = self.dns_cache.get(&(client, server))?;
        (ts <= e.expires).then(|| e.name.clone())
    }

    fn inspect_tcp(flow: &mut Flow, pkt: &Packet<'_>, up: bool, ctx: FrameCtx, out: &mut Out<'_>) {
        let Some(insp) = flow.inspect.as_mut() else {
            return;
        };
        let syn = pkt.tcp_flags & tcpflag::SYN != 0;
        if syn {
            let s = pkt.tcp_seq.wrapping_add(1);
            if up {
                insp.up.start_at(s);
            } else {
                insp.down.start_at(s);
            }
        }
        if pkt.payload.is_empty() {
            return;
        }
        if insp.state == AppState::H2c {
            let stream = if up { &mut insp.up } else { &mut insp.down };
            match stream.push(pkt.tcp_seq, pkt.payload, h2::MAX_FRAME + 9) {
                Push::Added => Self::h2_drain(flow, up, pkt, ctx, out),
                Push::Overflow => {
                    out.stats.anomaly("h2_buffer_full");
                    end_inspection(flow);
                }
                _ => {}
            }
            return;
        }
        if insp.state == AppState::DnsTcp {
            let stream = if up { &mut insp.up } else { &mut insp.down };
            match stream.push(pkt.tcp_seq, pkt.payload, 64 * 1024 + 2) {
                Push::Overflow => {
                    out.stats.anomaly("dns_tcp_buffer_full");
                    stream.clear();
                }
                Push::Pending => {
                    // Beyond a gap (lost segment): if the segment holds whole
                    // messages, read them and resynchronise after it.
                    if dns::split_tcp_messages(pkt.payload, |_| {}) == pkt.payload.len() {
                        out.stats.anomaly("dns_tcp_gap_skipped");
                        let used = tcp_dns_messages(pkt.payload, pkt, ctx, out);
                        *stream = Stream::new();
                        stream.start_at(pkt.tcp_seq.wrapping_add(used as u32));
                    }
                }
                Push::Duplicate => {
                    // tshark dissects a retransmitted DNS segment again: so do
                    // the facts (not the cache), when it holds whole messages.
                    if out.facts.is_some()
                        && dns::split_tcp_messages(pkt.payload, |_| {}) == pkt.payload.len()
                    {
                        tcp_dns_messages(
                            pkt.payload,
                            pkt,
                            ctx,
                            &mut Out {
                                cfg: out.cfg,
                                stats: out.stats,
                                facts: out.facts,
                                learn: Learn::Nowhere,
                            },
                        );
                    }
                }
                Push::Added => {
                    let used = tcp_dns_messages(stream.data(), pkt, ctx, out);
                    stream.consume(used);
                }
            }
            return;
        }
        if !up {
            // A server that speaks first with a ClientHello or a request means we
            // guessed the orientation wrong (SYN not seen): swap once.
            if !flow.orientation_sure
                && matches!(insp.state, AppState::Unknown | AppState::Probe)
                && (starts_client_hello(pkt.payload)
                    || http::looks_like_request(pkt.payload) == Some(true))
            {
                swap_orientation(flow);
                out.stats.anomaly("orientation_corrected");
                return Self::inspect_tcp(flow, pkt, true, ctx, out);
            }
            return;
        }
        insp.client_segments = insp.client_segments.saturating_add(1);
        // HTTP keep-alive flows stay inspected (each request head is a cheap
        // check at a segment start); other flows give up after a few segments.
        if insp.state != AppState::Http && insp.client_segments > out.cfg.max_inspect_segments {
            end_inspection(flow);
            out.stats.anomaly("inspection_gave_up");
            return;
        }
        if insp.state == AppState::Probe {
            // Not TLS or HTTP at the start (a proxy handshake, STARTTLS-like
            // protocols): look for a ClientHello at later segment starts.
            if !starts_client_hello(pkt.payload) {
                return;
            }
            insp.up = Stream::new();
            insp.state = AppState::Unknown;
        }
        // Fast path: nothing buffered and the segment is in order: parse in place.
        let in_place = insp.up.is_in_order_empty(pkt.tcp_seq);
        let push_res;
        let data: &[u8] = if in_place {
            push_res = Push::Added;
            pkt.payload
        } else {
            push_res = insp
                .up
                .push(pkt.tcp_seq, pkt.payload, out.cfg.max_stream_buffer);
            insp.up.data()
        };
        match push_res {
            Push::Overflow => {
                out.stats.anomaly("stream_buffer_full");
                end_inspection(flow);
                return;
            }
            Push::Duplicate | Push::Pending => return,
            Push::Added => {}
        }
        if insp.state == AppState::Unknown {
            if data.is_empty() {
                return;
            }
            let h2c = if data[0] == b'P' {
                h2::preface(data)
            } else {
                Some(false)
            };
            if h2c.is_none() {
                // A prefix of the HTTP/2 preface: wait for the rest.
                if in_place {
                    insp.up
                        .push(pkt.tcp_seq, pkt.payload, out.cfg.max_stream_buffer);
                }
                return;
            }
            if h2c == Some(true) {
                // Cleartext HTTP/2 with prior knowledge (e.g. DoH without TLS).
                insp.state = AppState::H2c;
                let n = h2::PREFACE.len();
                if in_place {
                    insp.up.skip_in_place(pkt.tcp_seq, n);
                    insp.up.push(
                        pkt.tcp_seq.wrapping_add(n as u32),
                        &pkt.payload[n..],
                        h2::MAX_FRAME + 9,
                    );
                } else {
                    insp.up.consume(n);
                }
                Self::h2_drain(flow, true, pkt, ctx, out);
                return;
            }
            if data[0] == 0x16 {
                insp.state = AppState::TlsHello;
            } else {
                match http::looks_like_request(data) {
                    Some(true) => insp.state = AppState::Http,
                    Some(false) => {
                        insp.state = AppState::Probe;
                        return;
                    }
                    None => {
                        if in_place {
                            insp.up
                                .push(pkt.tcp_seq, pkt.payload, out.cfg.max_stream_buffer);
                        }
                        return;
                    }
                }
            }
        }
        match insp.state {
            AppState::TlsHello => match tls::parse_client_hello_opts(data, out.cfg.fingerprints) {
                tls::HelloResult::NeedMore => {
                    if in_place {
                        insp.up
                            .push(pkt.tcp_seq, pkt.payload, out.cfg.max_stream_buffer);
                    }
                }
                tls::HelloResult::Done(h, used) => {
                    let start = if in_place {
                        pkt.tcp_seq
                    } else {
                        insp.up.next_seq().wrapping_sub(data.len() as u32)
                    };
                    emit_sni_facts(out.facts, pkt, ctx, &h);
                    out.stats.tls_client_hellos += 1;
                    // Retransmissions of these bytes are not new hellos (as tshark).
                    let end = start.wrapping_add(used as u32);
                    let rest_in_place = if in_place {
                        pkt.payload.get(used..).map(<[u8]>::to_vec)
                    } else {
                        None
                    };
                    let mut next = Stream::new();
                    next.start_at(end);
                    if !in_place {
                        let buffered = insp
                            .up
                            .data()
                            .get(used..)
                            .map(<[u8]>::to_vec)
                            .unwrap_or_default();
                        next.push(end, &buffered, out.cfg.max_stream_buffer);
                    } else if let Some(r) = rest_in_place {
                        next.push(end, &r, out.cfg.max_stream_buffer);
                    }
                    insp.up = next;
                    insp.state = AppState::TlsAfterHello;
                    if flow.sni.is_empty() && flow.ja4.is_none() {
                        if out.cfg.fingerprints {
                            flow.ja4 = Some(fingerprint::ja4(&h, false));
                            flow.ja3 = Some(fingerprint::ja3(&h));
                        }
                        flow.sni = h.sni;
                        flow.alpn = h.alpn;
                        flow.ech = h.ech;
                    }
                    Self::tls_after_hello(flow, pkt, ctx, out);
                }
                tls::HelloResult::NotTls => insp.state = AppState::Probe,
                tls::HelloResult::Error(reason) => {
                    out.stats.anomaly(reason);
                    end_inspection(flow);
                }
            },
            AppState::Http => {
                Self::http_requests(flow, pkt, ctx, in_place, out);
            }
            AppState::TlsAfterHello => {
                if in_place {
                    insp.up
                        .push(pkt.tcp_seq, pkt.payload, out.cfg.max_stream_buffer);
                }
                Self::tls_after_hello(flow, pkt, ctx, out);
            }
            _ => {}
        }
    }

    /// Reads the complete HTTP/2 frames of one direction; DATA payloads that
    /// are DNS messages (DoH over h2c) go to the DNS extractor.
    fn h2_drain(flow: &mut Flow, up: bool, pkt: &Packet<'_>, ctx: FrameCtx, out: &mut Out<'_>) {
        let Some(insp) = flow.inspect.as_mut() else {
            return;
        };
        let stream = if up { &mut insp.up } else { &mut insp.down };
        let data = stream.data();
        let mut bodies: Vec<&[u8]> = Vec::new();
        match h2::split_frames(data, |t, _, _, p| {
            if t == h2::TYPE_DATA && dns::looks_like_dns(p) {
                bodies.push(p)
            }
        }) {
            Ok(used) => {
                for b in bodies {
                    handle_dns_message(b, pkt, ctx, out);
                }
                stream.consume(used);
            }
            Err(reason) => {
                out.stats.anomaly(reason);
                end_inspection(flow);
            }
        }
    }

    /// After a ClientHello: a second ClientHello may follow (answer to a
    /// TLS 1.3 HelloRetryRequest), after ChangeCipherSpec records. Anything
    /// else (application data) ends the inspection.
    fn tls_after_hello(flow: &mut Flow, pkt: &Packet<'_>, ctx: FrameCtx, out: &mut Out<'_>) {
        let Some(insp) = flow.inspect.as_mut() else {
            return;
        };
        loop {
            let data = insp.up.data();
            if data.len() < 5 {
                return;
            }
            match data[0] {
                0x14 => {
                    let n = 5 + u16::from_be_bytes([data[3], data[4]]) as usize;
                    if data.len() < n {
                        return;
                    }
                    insp.up.consume(n);
                }
                0x16 => match tls::parse_client_hello_opts(data, false) {
                    tls::HelloResult::NeedMore => return,
                    tls::HelloResult::Done(h, _) => {
                        emit_sni_facts(out.facts, pkt, ctx, &h);
                        out.stats.tls_client_hellos += 1;
                        end_inspection(flow);
                        return;
                    }
                    _ => {
                        end_inspection(flow);
                        return;
                    }
                },
                _ => {
                    end_inspection(flow);
                    return;
                }
            }
        }
    }

    /// Parses as many request heads as the client stream holds.
    fn http_requests(
        flow: &mut Flow,
        pkt: &Packet<'_>,
        ctx: FrameCtx,
        in_place: bool,
        out: &mut Out<'_>,
    ) {
        let Some(insp) = flow.inspect.as_mut() else {
            return;
        };
        let mut off = 0usize;
        loop {
            let data: &[u8] = if in_place {
                &pkt.payload[off.min(pkt.payload.len())..]
            } else {
                insp.up.data()
            };
            if insp.http_skip > 0 {
                let n = (insp.http_skip as usize).min(data.len());
                insp.http_skip -= n as u64;
                if in_place {
                    off += n;
                } else {
                    insp.up.consume(n);
                }
                if insp.http_skip > 0 {
                    if in_place {
                        insp.up.skip_in_place(pkt.tcp_seq, pkt.payload.len());
                    }
                    return;
                }
                continue;
            }
            if data.is_empty() {
                if in_place {
                    insp.up.skip_in_place(pkt.tcp_seq, pkt.payload.len());
                }
                return;
            }
            match http::parse_request_head(data) {
                http::HeadResult::NeedMore => {
                    if in_place {
                        // Keep the unparsed tail for the next segment.
                        let consumed = off;
                        insp.up.skip_in_place(pkt.tcp_seq, consumed);
                        insp.up.push(
                            pkt.tcp_seq.wrapping_add(consumed as u32),
                            &pkt.payload[consumed..],
                            out.cfg.max_stream_buffer,
                        );
                    }
                    return;
                }
                http::HeadResult::NotHttp => {
                    // Body bytes we could not size (chunked) or a non-HTTP
                    // payload: stop looking for more requests in this segment.
                    if in_place {
                        insp.up.skip_in_place(pkt.tcp_seq, pkt.payload.len());
                    } else {
                        let n = insp.up.data().len();
                        insp.up.consume(n);
                    }
                    if flow.http_host.is_none() && insp.client_segments > 4 {
                        end_inspection(flow);
                    }
                    return;
                }
                http::HeadResult::Done(head) => {
                    out.stats.http_requests += 1;
                    if let Some(h) = &head.host {
                        if let Some(fs) = out.facts.as_mut() {
                            fs.write(
                                &Fact::new(ctx.frame, ctx.ts, pkt, "http_host", h)
                                    .method(&head.method),
                            );
                        }
                        if flow.http_host.is_none() {
                            flow.http_host = Some(h.clone());
                        }
                    }
                    let body = if head.chunked {
                        0
                    } else {
                        head.content_length.unwrap_or(0)
                    };
                    insp.http_skip = body;
                    if head.method.eq_ignore_ascii_case("CONNECT") {
                        // A proxy tunnel: TLS follows the proxy's answer.
                        insp.state = AppState::Probe;
                        return;
                    }
                    if in_place {
                        off += head.head_len;
                    } else {
                        insp.up.consume(head.head_len);
                    }
                    // Later requests of the flow are only read for facts.
                    if out.facts.is_none() && flow.http_host.is_some() {
                        end_inspection(flow);
                        return;
                    }
                }
            }
        }
    }

    fn dns_udp(&mut self, pkt: &Packet<'_>, ctx: FrameCtx) {
        handle_dns_message(pkt.payload, pkt, ctx, out!(self));
    }

    /// Counters kept outside [`Stats`], copied in (once a second of
    /// capture time, and at the end). Every worker holds the same DNS names,
    /// so only the first one reports the cache's.
    fn sync_counters(&mut self) {
        if self.shadow {
            return;
        }
        self.stats.evicted_flows = self.evicted;
        self.stats.reassembly_dropped = self.reassembly_dropped;
        if self.shard_id == 0 {
            self.stats.dns_cache_evictions = self.dns_cache.evicted;
        }
    }

    /// Counts again the reassembly buffers of the flow in slot `idx` after
    /// inspection changed them. Over the budget, the flows that started
    /// buffering first stop being inspected (an endless ClientHello sent
    /// slowly on many connections holds buffers until its flows time out;
    /// a real one is complete within a round trip).
    fn account_buffers(&mut self, idx: u32) {
        let Some(f) = self.flows.get_mut(idx) else {
            return;
        };
        let now = f.buffer_bytes();
        let before = f.buffered as usize;
        if now == before {
            return;
        }
        f.buffered = now as u32;
        self.buffered = self.buffered + now - before;
        if before == 0 && !f.queued {
            f.queued = true;
            let gen = self.flows.generation(idx);
            self.buffering.push_back((idx, gen));
        }
        while self.buffered > self.cfg.limits.reassembly_bytes {
            let Some((i, gen)) = self.buffering.pop_front() else {
                break;
            };
            let Some(f) = self.flows.get_gen_mut(i, gen) else {
                continue;
            };
            f.queued = false;
            if f.buffered == 0 {
                continue;
            }
            self.buffered -= f.buffered as usize;
            f.buffered = 0;
            f.inspect = None;
            if f.quic.take().is_some() && f.quic_status == QuicStatus::Inspecting {
                f.quic_status = QuicStatus::Done;
            }
            if !f.shadow {
                self.reassembly_dropped += 1;
            }
        }
        // Entries of flows that ended since pile up: drop them now and then.
        if self.buffering.len() > 2 * self.flows.len() + 1024 {
            let flows = &self.flows;
            self.buffering
                .retain(|&(i, gen)| flows.get_gen(i, gen).is_some_and(|f| f.queued));
        }
    }

    /// Ends flows whose idle deadline passed.
    fn expire(&mut self, now: i64, sink: &mut dyn FlowSink) {
        while let Some((_, idx, gen)) = self.expiry.pop_due(now) {
            let Some(f) = self.flows.get_gen(idx, gen) else {
                continue;
            };
            let deadline = self.deadline(f);
            if deadline <= now {
                self.end_flow(idx, None, sink);
            } else {
                self.expiry.push(deadline, idx, gen);
            }
        }
    }

    /// Ends the flow in slot `idx` where it lies (a flow is not moved out of
    /// the table: it is hundreds of bytes), reports it and frees the slot.
    /// `end`: `None` for a flow whose deadline passed, closed or idle.
    fn end_flow(&mut self, idx: u32, end: Option<EndReason>, sink: &mut dyn FlowSink) {
        let Some(f) = self.flows.get_mut(idx) else {
            return;
        };
        self.buffered -= f.buffered as usize;
        let end = end.unwrap_or(if f.closed() {
            EndReason::Closed
        } else {
            EndReason::Idle
        });
        // (A shadow flow: another worker reports this DNS flow.)
        let rec = (!f.shadow).then(|| flow_record(&self.catalog, f, end));
        self.flows.remove(idx);
        if let Some(rec) = rec {
            sink.flow_ended(rec, &self.catalog);
        }
    }

    fn deadline(&self, f: &Flow) -> i64 {
        let t = if f.closed() {
            self.cfg.close_linger_ns
        } else if f.proto == PROTO_TCP {
            self.cfg.tcp_timeout_ns
        } else {
            self.cfg.udp_timeout_ns
        };
        f.last_ns.saturating_add(t)
    }

    /// The table is full: end a flow with the earliest deadline (to the
    /// second, see [`Expiry::pop_earliest`]).
    fn evict_one(&mut self, sink: &mut dyn FlowSink) {
        while let Some((d, idx, gen)) = self.expiry.pop_earliest() {
            let Some(f) = self.flows.get_gen(idx, gen) else {
                continue;
            };
            let deadline = self.deadline(f);
            // A stale entry (the flow saw packets since) goes back at its real deadline.
            if deadline > d {
                self.expiry.push(deadline, idx, gen);
                continue;
            }
            if !f.shadow {
                self.evicted += 1;
            }
            self.end_flow(idx, Some(EndReason::Evicted), sink);
            return;
        }
    }

    /// Ends every flow still open (end of input), in creation order.
    pub fn flush(&mut self, sink: &mut dyn FlowSink) {
        for i in self.flows.slots_by_serial() {
            if let Some(f) = self.flows.get_mut(i) {
                if !f.shadow {
                    sink.flow_ended(
                        flow_record(&self.catalog, f, EndReason::EndOfInput),
                        &self.catalog,
                    );
                }
            }
        }
        self.flows.clear();
        self.expiry.clear();
        let mut scratch = Stats::default();
        let st = defrag_stats(self.shard_id, &mut self.stats, &mut scratch);
        self.defrag.clear(st);
        self.buffering.clear();
        self.buffered = 0;
        self.sync_counters();
        if let Some(fs) = self.facts.as_mut() {
            fs.flush();
        }
    }

    /// Classifies with `catalog` from now on (a reload). Flows that end
    /// later are named with it, whenever they started; what ended before keeps
    /// its service (the aggregator remaps its counts, see
    /// [`crate::report::Aggregator::remap_services`]).
    pub fn set_catalog(&mut self, catalog: Arc<Catalog>) {
        self.catalog = Cat::Shared(catalog);
    }

    /// The catalog in use.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// Reports every flow still open to `sink` as if it ended now, in
    /// creation order, and leaves it open: a live snapshot's view.
    pub fn snapshot(&self, sink: &mut dyn FlowSink) {
        for i in self.flows.slots_by_serial() {
            if let Some(f) = self.flows.get(i).filter(|f| !f.shadow) {
                let rec = record_with(
                    &self.catalog,
                    f,
                    EndReason::EndOfInput,
                    RecordLists::copied(f),
                );
                sink.flow_ended(rec, &self.catalog);
            }
        }
    }

    /// Writes out the facts buffered so far (live capture does this every
    /// second, so that a crash loses little).
    pub fn flush_facts(&mut self) {
        if let Some(fs) = self.facts.as_mut() {
            fs.flush();
        }
    }

    /// Facts write errors (e.g. a closed pipe), if any.
    pub fn facts_error(&self) -> Option<String> {
        self.facts.as_ref().and_then(|f| f.error())
    }
}

/// The record of a flow that ends, its names, fingerprints and buckets taken
/// out of it (the flow itself is dropped next).
fn flow_record(catalog: &Catalog, f: &mut Flow, end: EndReason) -> FlowRecord {
    let lists = RecordLists {
        alpn: std::mem::take(&mut f.alpn),
        sni: std::mem::take(&mut f.sni),
        ja4: f.ja4.take(),
        ja3: f.ja3.take(),
        past_buckets: std::mem::take(&mut f.past_buckets),
    };
    record_with(catalog, f, end, lists)
}

/// What a [`FlowRecord`] owns of its flow: taken out of a flow that ends,
/// copied from one that goes on (a snapshot).
struct RecordLists {
    alpn: Vec<String>,
    sni: Vec<String>,
    ja4: Option<String>,
    ja3: Option<String>,
    past_buckets: Vec<Bucket>,
}

impl RecordLists {
    fn copied(f: &Flow) -> Self {
        RecordLists {
            alpn: f.alpn.clone(),
            sni: f.sni.clone(),
            ja4: f.ja4.clone(),
            ja3: f.ja3.clone(),
            past_buckets: f.past_buckets.clone(),
        }
    }
}

fn record_with(catalog: &Catalog, f: &Flow, end: EndReason, lists: RecordLists) -> FlowRecord {
    // (`f`'s own lists may have been taken already: names come from `lists`.)
    let (server_name, via) = resolve_name(f, &lists.sni);
    let m = server_name.as_deref().and_then(|n| catalog.match_name(n));
    // A name that matches no service still leaves the address: a catalog
    // (or policy) CIDR names the service, `via: ip-range`.
    let (service, pattern, via) = match m {
        Some(m) => (Some(m.service), Some(m.pattern), via),
        None => match catalog.match_ip(&f.server) {
            Some(s) => (Some(s), None, Some(Via::IpRange)),
            None => (None, None, via),
        },
    };
    FlowRecord {
        serial: f.serial,
        ts_start: f.first_ns,
        ts_end: f.last_ns,
        client: f.client,
        server: f.server,
        client_port: f.client_port,
        server_port: f.server_port,
        proto: f.proto,
        server_name,
        via,
        service,
        pattern,
        bytes_up: f.bytes_up,
        bytes_down: f.bytes_down,
        packets_up: f.packets_up,
        packets_down: f.packets_down,
        ech: ech_in_use(f.ech, &lists.sni),
        ech_offered: f.ech,
        alpn: lists.alpn,
        sni: lists.sni,
        ja4: lists.ja4,
        ja3: lists.ja3,
        past_buckets: lists.past_buckets,
        bucket: f.bucket,
        end,
        quic: f.quic_status != QuicStatus::None,
        quic_undecryptable: matches!(f.quic_status, QuicStatus::Undecryptable)
            || (f.quic_status == QuicStatus::Inspecting
                && f.quic.as_ref().is_some_and(|q| q.decrypted == 0)),
    }
}

/// Packet-level counters of one frame.
fn count_packet(stats: &mut Stats, raw: &RawPacket<'_>, outcome: &Outcome<'_>) {
    stats.packets += 1;
    stats.bytes += raw.orig_len as u64;
    stats.see_time(raw.ts_ns);
    match outcome {
        Outcome::NonIp => stats.non_ip += 1,
        Outcome::Undecodable(reason) => stats.undecodable(reason),
        Outcome::Ip(pkt) => {
            if pkt.tunnels > 0 {
                stats.tunneled += 1;
            }
            if pkt.frag != Frag::No {
                stats.fragments += 1;
            }
            if pkt.proto != PROTO_TCP && pkt.proto != PROTO_UDP {
                stats.other_ip += 1;
            }
        }
    }
}

/// Flow slots reserved up front (address space only until used, and the
/// slots are never moved while the table fills up to it): the flow cap, up
/// to 2 Mi slots (about 800 MB of address space); a larger table grows.
const RESERVED_FLOWS: usize = 1 << 21;

/// A fragment whose datagram may carry a flow: TCP, UDP, or a tunnel.
fn reassemblable(pkt: &Packet<'_>) -> bool {
    matches!(pkt.proto, PROTO_TCP | PROTO_UDP | 4 | 41 | 47)
}

/// Where fragment reassembly counts: every worker reassembles the same
/// datagrams, so only the first one counts them (the others into `scratch`).
fn defrag_stats<'s>(shard: u32, stats: &'s mut Stats, scratch: &'s mut Stats) -> &'s mut Stats {
    if shard == 0 {
        stats
    } else {
        scratch
    }
}

/// Client Initials decrypted per flow at most (a handshake needs 1-3).
const MAX_QUIC_INITIALS: u8 = 8;

/// Looks at one client datagram of a UDP flow that starts with a QUIC long
/// header: walks the coalesced packets, decrypts client Initials, collects
/// CRYPTO data and, once the ClientHello is complete, names the flow.
fn quic_datagram(
    flow: &mut Flow,
    pkt: &Packet<'_>,
    ctx: FrameCtx,
    buf: &mut Vec<u8>,
    budget: &mut crate::limits::Budget,
    out: &mut Out<'_>,
) {
    let p = pkt.payload;
    let mut pos = 0usize;
    let mut first_version: Option<u32> = None;
    while pos < p.len() {
        let rest = &p[pos..];
        if rest[0] & 0x80 == 0 {
            break; // a short-header packet fills the rest of the datagram
        }
        let h = match quic::parse_long_header(rest) {
            Ok(h) => h,
            Err(reason) => {
                if pos > 0 || flow.quic_status != QuicStatus::None {
                    // Junk after coalesced packets, or a damaged packet.
                    out.stats.anomaly(reason);
                }
                break;
            }
        };
        first_version.get_or_insert(h.version);
        if h.ptype == quic::PacketType::VersionNegotiation || h.ptype == quic::PacketType::Retry {
            break;
        }
        if h.ptype == quic::PacketType::Initial {
            let Some(params) = quic::version_params(h.version) else {
                if flow.quic_status == QuicStatus::None
                    && looks_like_quic_port(pkt)
                    && quic::is_quic_like_version(h.version)
                {
                    out.stats.anomaly("quic_unknown_version");
                    flow.quic_status = QuicStatus::Undecryptable;
                }
                return;
            };
            let st = flow
                .quic
                .get_or_insert_with(|| Box::new(QuicState::default()));
            flow.quic_status = QuicStatus::Inspecting;
            st.initials += 1;
            if st.initials > MAX_QUIC_INITIALS {
                out.stats.anomaly("quic_too_many_initials");
                flow.quic_status = if st.decrypted == 0 {
                    QuicStatus::Undecryptable
                } else {
                    QuicStatus::Done
                };
                flow.quic = None;
                return;
            }
            let packet = &rest[..h.end];
            // Keys come from the DCID of the client's first Initial; after a
            // Retry the client starts over with a new DCID.
            let mut range = None;
            if let Some(k) = st.keys.as_ref().filter(|k| k.version == h.version) {
                range = k.open(packet, h.pn_offset, buf).ok();
            }
            let mut new_connection = false;
            if range.is_none() {
                if st.keys.is_none() && !budget.take(ctx.ts) {
                    // A new connection over the decryption budget (a flood).
                    out.stats.quic_decryptions_skipped += 1;
                    flow.quic = None;
                    flow.quic_status = QuicStatus::Done;
                    return;
                }
                let k = quic::InitialKeys::new(h.version, params, h.dcid);
                match k.open(packet, h.pn_offset, buf) {
                    Ok(r) => {
                        range = Some(r);
                        new_connection = st.keys.is_some();
                        st.keys = Some(k);
                    }
                    Err(reason) => out.stats.anomaly(reason),
                }
            }
            if new_connection {
                // New keys: the client starts its CRYPTO stream over. After a
                // Retry (DCID = the Retry's SCID) it resends the same
                // ClientHello: a retransmission, not a new fact (as tshark).
                // A fresh DCID is a new connection attempt: a new hello.
                st.crypto = quic::CryptoBuf::default();
                st.hello_done = false;
                st.resent_hello = st.retry_scid.as_deref() == Some(h.dcid);
            }
            if st.hello_done {
                // Later Initials of a connection already named (ACKs,
                // retransmissions): nothing new.
                range = None;
                st.decrypted += 1;
            }
            if let Some(r) = range {
                st.decrypted += 1;
                out.stats.quic_initials_decrypted += 1;
                let crypto = &mut st.crypto;
                let mut err = None;
                if let Err(e) = quic::crypto_frames(&buf[r], params.crypto_frame, |off, data| {
                    if let Err(e) = crypto.insert(off, data) {
                        err = Some(e);
                    }
                }) {
                    out.stats.anomaly(e);
                }
                if let Some(e) = err {
                    out.stats.anomaly(e);
                }
            }
        }
        pos += h.end.max(1);
    }
    let Some(st) = flow.quic.as_mut() else {
        return;
    };
    if st.crypto.too_large() {
        out.stats.anomaly("quic_crypto_too_large");
        flow.quic = None;
        flow.quic_status = QuicStatus::Done;
        return;
    }
    let Some(msg) = st.crypto.handshake_message() else {
        return;
    };
    match tls::parse_handshake_opts(msg, out.cfg.fingerprints) {
        Some(h) if st.resent_hello => {
            // The ClientHello resent after a Retry.
            let _ = h;
            st.crypto = quic::CryptoBuf::default();
            st.hello_done = true;
        }
        Some(h) => {
            if let Some(fs) = out.facts.as_mut() {
                let v = format!("0x{:08x}", first_version.unwrap_or(0));
                for s in &h.sni {
                    fs.write(&Fact::new(ctx.frame, ctx.ts, pkt, "quic_sni", s).quic_version(&v));
                }
            }
            out.stats.quic_client_hellos += 1;
            if flow.sni.is_empty() && flow.ja4.is_none() {
                if out.cfg.fingerprints {
                    flow.ja4 = Some(fingerprint::ja4(&h, true));
                    flow.ja3 = Some(fingerprint::ja3(&h));
                }
                flow.sni = h.sni;
                flow.alpn = h.alpn;
                flow.ech = h.ech;
                flow.sni_via = Via::QuicSni;
            }
            // Keep the keys (not the data) until the client's first
            // short-header packet: a Retry may still start a new handshake.
            st.crypto = quic::CryptoBuf::default();
            st.hello_done = true;
        }
        None => {
            out.stats.anomaly("quic_malformed_client_hello");
            flow.quic = None;
            flow.quic_status = QuicStatus::Done;
        }
    }
}

/// QUIC with a version we cannot decrypt is only reported on QUIC's ports.
fn looks_like_quic_port(pkt: &Packet<'_>) -> bool {
    [443, 8443, 784, 853].contains(&pkt.dport) || [443, 8443, 784, 853].contains(&pkt.sport)
}

fn cfg_latency(cfg: &Config) -> Option<hdrhistogram::Histogram<u64>> {
    cfg.latency.then(|| {
        hdrhistogram::Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("valid bounds")
    })
}

/// Picks the server name by trust order (DESIGN.md): SNI (unless ECH), HTTP
/// Host, the DNS-learned name, then the ECH outer name.
/// Public names ECH providers put in the outer ClientHello (the real name is
/// encrypted). A ClientHello with the ECH extension and another SNI is GREASE
/// ECH (Chrome sends it on every connection): the SNI is the real name.
pub const ECH_PUBLIC_NAMES: &[&str] = &["cloudflare-ech.com", "public.test.defo.ie"];

/// ECH really hides the name: the extension, and an outer SNI that is an ECH
/// public name (or no SNI at all).
/// ECH in use: the extension (`ech`), with an ECH provider's public name as
/// the outer SNI, or none.
pub fn ech_in_use(ech: bool, sni: &[String]) -> bool {
    ech && sni.first().map_or(true, |s| {
        s.is_empty() || ECH_PUBLIC_NAMES.iter().any(|p| p.eq_ignore_ascii_case(s))
    })
}

/// The flow's name and how it was learned; `sni` is the flow's SNI list.
fn resolve_name(f: &Flow, sni: &[String]) -> (Option<String>, Option<Via>) {
    let sni = sni.first().filter(|s| !s.is_empty());
    if let Some(s) = sni {
        if !ech_in_use(f.ech, std::slice::from_ref(s)) {
            return (Some(s.clone()), Some(f.sni_via));
        }
    }
    if let Some(h) = &f.http_host {
        let host = strip_port(h);
        if !host.is_empty() {
            return (Some(host.to_string()), Some(Via::HttpHost));
        }
    }
    if let Some(d) = &f.dns_name {
        return (Some(d.to_string()), Some(Via::Dns));
    }
    if let Some(s) = sni {
        return (Some(s.clone()), Some(f.sni_via));
    }
    (None, None)
}

/// `host:port` → `host`; `[v6]:port` → `v6`.
fn strip_port(h: &str) -> &str {
    if let Some(rest) = h.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match h.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => {
            host
        }
        _ => h,
    }
}

fn end_inspection(flow: &mut Flow) {
    flow.inspect = None;
}

fn swap_orientation(flow: &mut Flow) {
    std::mem::swap(&mut flow.client, &mut flow.server);
    std::mem::swap(&mut flow.client_port, &mut flow.server_port);
    std::mem::swap(&mut flow.bytes_up, &mut flow.bytes_down);
    std::mem::swap(&mut flow.packets_up, &mut flow.packets_down);
    std::mem::swap(&mut flow.fin_up, &mut flow.fin_down);
    std::mem::swap(&mut flow.bucket.up, &mut flow.bucket.down);
    for b in &mut flow.past_buckets {
        std::mem::swap(&mut b.up, &mut b.down);
    }
    flow.client_is_a = !flow.client_is_a;
    flow.orientation_sure = true;
    if let Some(i) = flow.inspect.as_mut() {
        // What the wrong "client" sent told us nothing: start over.
        i.up = Stream::new();
        i.down = Stream::new();
        i.state = AppState::Unknown;
        i.client_segments = 0;
    }
}

fn starts_client_hello(p: &[u8]) -> bool {
    p.len() >= 6 && tls::looks_like_tls(p) && p[5] == 1
}

/// NetBIOS name/datagram service: DNS-like wire format, not DNS.
fn is_netbios(p: u16) -> bool {
    (137..=139).contains(&p)
}

/// DNS, mDNS and LLMNR ports.
pub fn is_dns_port(p: u16) -> bool {
    p == 53 || p == 5353 || p == 5355
}

/// Without an opening packet: the side on a well-known server port is the
/// server; otherwise the sender of the first packet is the client, unless its
/// port is a privileged one and the other is not.
fn port_says_src_is_client(sport: u16, dport: u16) -> bool {
    let s_srv = SERVER_PORTS.contains(&sport);
    let d_srv = SERVER_PORTS.contains(&dport);
    if s_srv != d_srv {
        return d_srv;
    }
    if s_srv && d_srv {
        return true;
    }
    !(sport < 1024 && dport >= 1024)
}

fn emit_sni_facts(
    facts: &mut Option<FactSink>,
    pkt: &Packet<'_>,
    ctx: FrameCtx,
    h: &tls::ClientHello,
) {
    if let Some(fs) = facts.as_mut() {
        for s in &h.sni {
            fs.write(&Fact::new(ctx.frame, ctx.ts, pkt, "tls_sni", s));
        }
    }
}

/// Reads every whole length-prefixed DNS message at the start of `bytes`
/// (DNS over TCP); returns the bytes they took.
fn tcp_dns_messages(bytes: &[u8], pkt: &Packet<'_>, ctx: FrameCtx, out: &mut Out<'_>) -> usize {
    dns::split_tcp_messages(bytes, |m| handle_dns_message(m, pkt, ctx, out))
}

fn handle_dns_message(msg: &[u8], pkt: &Packet<'_>, ctx: FrameCtx, out: &mut Out<'_>) {
    // Answers' owner names and CNAME targets show in facts only.
    let Some(m) = dns::parse_message_opts(msg, out.facts.is_some()) else {
        out.stats.anomaly("dns_too_short");
        return;
    };
    out.stats.dns_messages += 1;
    if m.error.is_some() {
        out.stats.anomaly("dns_malformed");
    }
    let flavor = if pkt.sport == 5353 || pkt.dport == 5353 {
        "mdns"
    } else if pkt.sport == 5355 || pkt.dport == 5355 {
        "llmnr"
    } else {
        "dns"
    };
    if let Some(fs) = out.facts.as_mut() {
        // UPDATE (opcode 5) carries a zone section, not questions (as tshark).
        let questions: &[dns::Question] = if m.opcode == 5 { &[] } else { &m.questions };
        for q in questions {
            fs.write(
                &Fact::new(ctx.frame, ctx.ts, pkt, "dns_query", &q.name).dns_query(
                    q.qtype,
                    m.is_response,
                    m.id,
                    flavor,
                ),
            );
        }
        let first_q = m.questions.first().map(|q| q.name.as_str());
        for a in &m.answers {
            let (rtype, data) = match &a.data {
                dns::RData::A(ip) => ("A", ip.to_string()),
                dns::RData::Aaaa(ip) => ("AAAA", ip.to_string()),
                dns::RData::Cname(n) => ("CNAME", n.clone()),
                _ => continue,
            };
            fs.write(
                &Fact::new(ctx.frame, ctx.ts, pkt, "dns_answer", &a.name)
                    .dns_answer(rtype, &data, first_q, m.id, flavor),
            );
        }
    }
    // Learn names from responses: the client is the response's destination.
    // Only answers from port 53 teach names: every worker follows those flows
    // (see Engine::set_shard), so what is learned does not depend on workers.
    if !m.is_response || m.rcode != 0 || flavor != "dns" || pkt.sport != 53 {
        return;
    }
    let Some(q) = m.questions.first() else {
        return;
    };
    if q.name.is_empty() || q.name == "<Root>" {
        return;
    }
    let name: Arc<str> = Arc::from(q.name.as_str());
    let client = pkt.dst;
    for a in &m.answers {
        let ttl_ns = (a.ttl as i64).min(7 * 86400) * 1_000_000_000;
        let expires = ctx
            .ts
            .saturating_add(ttl_ns)
            .saturating_add(out.cfg.dns_grace_ns);
        let mut learn = |ip: IpAddr| {
            let entry = DnsEntry {
                name: name.clone(),
                expires,
            };
            match &mut out.learn {
                Learn::Cache(cache) => {
                    cache.insert((client, ip), entry);
                }
                Learn::List(list) => list.push(DnsLearn { client, ip, entry }),
                Learn::Nowhere => {}
            }
        };
        match &a.data {
            dns::RData::A(ip) => learn(IpAddr::V4(*ip)),
            dns::RData::Aaaa(ip) => learn(IpAddr::V6(*ip)),
            dns::RData::Https {
                ipv4hint, ipv6hint, ..
            } => {
                for ip in ipv4hint {
                    learn(IpAddr::V4(*ip));
                }
                for ip in ipv6hint {
                    learn(IpAddr::V6(*ip));
                }
            }
            _ => {}
        }
    }
    out.stats.dns_names_learned += 1;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc as SArc, Mutex};

    /// A Write that tests can read back.
    #[derive(Clone, Default)]
    struct Shared(SArc<Mutex<Vec<u8>>>);
    impl Write for Shared {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[derive(Default)]
    struct Collect(Vec<FlowRecord>);
    impl FlowSink for Collect {
        fn flow_ended(&mut self, r: FlowRecord, _c: &Catalog) {
            self.0.push(r);
        }
    }

    const C: [u8; 4] = [10, 0, 0, 5];
    const S: [u8; 4] = [104, 18, 32, 47];

    use crate::testutil::{eth_ipv4_tcp as tcp, eth_ipv4_udp as udp};

    struct Run<'c> {
        e: Engine<'c>,
        sink: Collect,
        facts: Shared,
        frame: u64,
    }

    impl<'c> Run<'c> {
        fn new(cat: &'c Catalog, cfg: Config) -> Self {
            let facts = Shared::default();
            Run {
                e: Engine::new(cfg, cat, Some(Box::new(facts.clone()))),
                sink: Collect::default(),
                facts,
                frame: 0,
            }
        }
        fn feed(&mut self, ts_ms: i64, f: &[u8]) {
            self.frame += 1;
            let p = RawPacket {
                ts_ns: 1_700_000_000_000_000_000 + ts_ms * 1_000_000,
                linktype: 1,
                data: f,
                orig_len: f.len() as u32,
                frame: self.frame,
            };
            self.e.process(&p, &mut self.sink);
        }
        fn done(mut self) -> (Vec<FlowRecord>, Vec<serde_json::Value>, Stats) {
            self.e.flush(&mut self.sink);
            let text = String::from_utf8(self.facts.0.lock().unwrap().clone()).unwrap();
            let facts = text
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect();
            (self.sink.0, facts, self.e.stats.clone())
        }
    }

    fn handshake(r: &mut Run<'_>, sp: u16) {
        r.feed(0, &tcp(C, S, sp, 443, 999, tcpflag::SYN, &[]));
        r.feed(
            1,
            &tcp(S, C, 443, sp, 5000, tcpflag::SYN | tcpflag::ACK, &[]),
        );
        r.feed(2, &tcp(C, S, sp, 443, 1000, tcpflag::ACK, &[]));
    }

    #[test]
    fn hello_out_of_order_and_retransmitted() {
        let cat = Catalog::builtin();
        let mut r = Run::new(&cat, Config::default());
        handshake(&mut r, 50000);
        let ch = tls::build_client_hello(Some("claude.ai"), &["h2"], true, 1800);
        let (a, rest) = ch.split_at(700);
        let (b, c) = rest.split_at(700);
        let ack = tcpflag::ACK;
        r.feed(3, &tcp(C, S, 50000, 443, 1700, ack, b)); // frame 4: 2nd part first
        r.feed(4, &tcp(C, S, 50000, 443, 2400, ack, c)); // frame 5: 3rd part
        r.feed(5, &tcp(C, S, 50000, 443, 1700, ack, b)); // frame 6: retransmission
        r.feed(6, &tcp(C, S, 50000, 443, 1000, ack, a)); // frame 7: completes
        r.feed(7, &tcp(C, S, 50000, 443, 1000, ack, a)); // frame 8: retransmission
        r.feed(
            8,
            &tcp(S, C, 443, 50000, 5001, ack, &[0x16, 3, 3, 0, 2, 2, 0]),
        );
        let (flows, facts, stats) = r.done();
        assert_eq!(flows.len(), 1);
        let f = &flows[0];
        assert_eq!(f.sni, vec!["claude.ai"]);
        // The ECH extension next to a real name is GREASE ECH: the SNI names the flow.
        assert!(f.ech_offered && !f.ech);
        assert_eq!(f.server_name.as_deref(), Some("claude.ai"));
        assert_eq!(cat.service(f.service.unwrap()).id, "claude");
        assert_eq!(f.alpn, vec!["h2"]);
        assert_eq!((f.packets_up, f.packets_down), (7, 2));
        assert_eq!(facts.len(), 1, "{facts:?}");
        assert_eq!(facts[0]["frame"], 7);
        assert_eq!(facts[0]["kind"], "tls_sni");
        assert_eq!(stats.tls_client_hellos, 1);
    }

    #[test]
    fn fin_linger_and_port_reuse() {
        let cat = Catalog::builtin();
        let mut r = Run::new(&cat, Config::default());
        handshake(&mut r, 40000);
        let ch = tls::build_client_hello(Some("chatgpt.com"), &[], false, 0);
        r.feed(
            3,
            &tcp(C, S, 40000, 443, 1000, tcpflag::ACK | tcpflag::PSH, &ch),
        );
        r.feed(
            4,
            &tcp(C, S, 40000, 443, 1000, tcpflag::FIN | tcpflag::ACK, &[]),
        );
        r.feed(
            5,
            &tcp(S, C, 443, 40000, 5001, tcpflag::FIN | tcpflag::ACK, &[]),
        );
        r.feed(6, &tcp(C, S, 40000, 443, 1001, tcpflag::ACK, &[])); // last ACK: same flow
        handshake(&mut r, 40000); // port reuse: a new flow
        let (flows, _, _) = r.done();
        assert_eq!(flows.len(), 2);
        assert_eq!(flows[0].packets_up + flows[0].packets_down, 7);
        assert_eq!(flows[0].end, EndReason::Closed);
        assert_eq!(flows[1].packets_up + flows[1].packets_down, 3);
        assert_eq!(flows[0].bytes_up, 40 * 5 + ch.len() as u64);
    }

    fn dns_answer(name: &str, ip: [u8; 4], ttl: u32) -> Vec<u8> {
        let mut m = vec![0xab, 0xcd, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0];
        for l in name.split('.') {
            m.push(l.len() as u8);
            m.extend_from_slice(l.as_bytes());
        }
        m.extend_from_slice(&[0, 0, 1, 0, 1, 0xc0, 0x0c, 0, 1, 0, 1]);
        m.extend_from_slice(&ttl.to_be_bytes());
        m.extend_from_slice(&[0, 4]);
        m.extend_from_slice(&ip);
        m
    }

    #[test]
    fn sni_less_flow_named_through_dns_within_ttl() {
        let cat = Catalog::builtin();
        let cfg = Config {
            dns_grace_ns: 0,
            ..Config::default()
        };
        let mut r = Run::new(&cat, cfg);
        r.feed(
            0,
            &udp(
                [10, 0, 0, 53],
                C,
                53,
                33333,
                &dns_answer("chat.mistral.ai", S, 30),
            ),
        );
        handshake(&mut r, 41000);
        let ch = tls::build_client_hello(None, &["h2"], false, 0);
        r.feed(3, &tcp(C, S, 41000, 443, 1000, tcpflag::ACK, &ch));
        // Another client did not resolve it: not named.
        r.feed(4, &tcp([10, 0, 0, 6], S, 41001, 443, 7, tcpflag::SYN, &[]));
        // Same client after the TTL: not named either.
        r.feed(40_000, &tcp(C, S, 41002, 443, 7, tcpflag::SYN, &[]));
        let (flows, facts, _) = r.done();
        let named: Vec<_> = flows.iter().filter(|f| f.proto == PROTO_TCP).collect();
        assert_eq!(named.len(), 3);
        assert_eq!(named[0].server_name.as_deref(), Some("chat.mistral.ai"));
        assert_eq!(named[0].via, Some(Via::Dns));
        assert_eq!(cat.service(named[0].service.unwrap()).id, "le-chat");
        assert!(named[1].server_name.is_none());
        assert!(named[2].server_name.is_none());
        let kinds: Vec<&str> = facts.iter().map(|f| f["kind"].as_str().unwrap()).collect();
        assert_eq!(kinds, vec!["dns_query", "dns_answer"]);
        assert_eq!(facts[1]["data"], "104.18.32.47");
    }

    #[test]
    fn eviction_and_idle_timeout_are_counted() {
        let cat = Catalog::builtin();
        let cfg = Config {
            limits: Limits {
                max_flows: 2,
                ..Limits::default()
            },
            ..Config::default()
        };
        let mut r = Run::new(&cat, cfg);
        for (i, sp) in [(0, 1000u16), (1, 1001), (2, 1002)] {
            r.feed(i, &udp(C, S, sp, 443, b"x"));
        }
        assert_eq!(r.e.active_flows(), 2);
        // 200 s later the UDP flows have timed out: the same tuple is a new flow.
        r.feed(200_000, &udp(C, S, 1002, 443, b"x"));
        let (flows, _, stats) = r.done();
        assert_eq!(stats.evicted_flows, 1);
        assert_eq!(flows.len(), 4);
        assert_eq!(
            flows.iter().filter(|f| f.end == EndReason::Evicted).count(),
            1
        );
        assert_eq!(flows.iter().filter(|f| f.end == EndReason::Idle).count(), 2);
    }

    #[test]
    fn http_host_any_port_and_mid_stream_orientation() {
        let cat = Catalog::builtin();
        let mut r = Run::new(&cat, Config::default());
        // No handshake seen; the server's port is not well known: the request
        // sender is found to be the client.
        let req =
            b"POST /v1/chat HTTP/1.1\r\nHost: api.openai.com:8080\r\nContent-Length: 3\r\n\r\nabc";
        r.feed(
            0,
            &tcp(
                S,
                C,
                8080,
                50123,
                1,
                tcpflag::ACK,
                b"HTTP/1.1 100 Continue\r\n\r\n",
            ),
        );
        r.feed(1, &tcp(C, S, 50123, 8080, 77, tcpflag::ACK, req));
        let (flows, facts, _) = r.done();
        assert_eq!(flows.len(), 1);
        assert_eq!(flows[0].server_name.as_deref(), Some("api.openai.com"));
        assert_eq!(flows[0].via, Some(Via::HttpHost));
        assert_eq!(flows[0].client, IpAddr::from(C));
        assert_eq!(facts.len(), 1);
        assert_eq!(facts[0]["name"], "api.openai.com:8080");
        assert_eq!(facts[0]["method"], "POST");
    }

    #[test]
    fn ports_and_names() {
        assert!(port_says_src_is_client(51000, 443));
        assert!(!port_says_src_is_client(443, 51000));
        assert!(!port_says_src_is_client(53, 40000));
        assert!(port_says_src_is_client(40000, 40001));
        assert!(!port_says_src_is_client(22, 40001));
        assert_eq!(strip_port("example.com:8080"), "example.com");
        assert_eq!(strip_port("example.com"), "example.com");
        assert_eq!(strip_port("[2001:db8::1]:80"), "2001:db8::1");
        assert_eq!(strip_port("2001:db8::1"), "2001:db8::1");
    }

    /// Endless ClientHellos on many connections: the reassembly buffers stay
    /// within their budget, the flows that started buffering first give up,
    /// and a later connection is still named.
    #[test]
    fn reassembly_budget_drops_the_oldest_buffering_flows() {
        let cat = Catalog::builtin();
        let budget = 10_000;
        let cfg = Config {
            limits: Limits {
                reassembly_bytes: budget,
                ..Limits::default()
            },
            ..Config::default()
        };
        let mut r = Run::new(&cat, cfg);
        let ch = tls::build_client_hello(Some("claude.ai"), &[], false, 1800);
        let ack = tcpflag::ACK;
        for i in 0..20u16 {
            handshake(&mut r, 30000 + i);
            r.feed(3, &tcp(C, S, 30000 + i, 443, 1000, ack, &ch[..700]));
            assert!(r.e.buffered <= budget, "{}", r.e.buffered);
        }
        let dropped = r.e.reassembly_dropped;
        assert!((5..20).contains(&dropped), "{dropped}");
        // Everyone sends the rest: only the flows still inspected are named.
        for i in 0..20u16 {
            r.feed(4, &tcp(C, S, 30000 + i, 443, 1700, ack, &ch[700..]));
        }
        assert_eq!(r.e.buffered, 0);
        let (flows, _, stats) = r.done();
        let named: Vec<bool> = flows.iter().map(|f| f.server_name.is_some()).collect();
        let expect: Vec<bool> = (0..20).map(|i| i >= dropped).collect();
        assert_eq!(named, expect);
        assert_eq!(stats.reassembly_dropped, dropped);
        assert_eq!(stats.tls_client_hellos, 20 - dropped);
    }

    /// A flood of DNS answers: the cache keeps within its bytes, forgets the
    /// oldest names (counted) and still names flows from recent answers.
    #[test]
    fn dns_cache_keeps_the_recent_names_within_its_budget() {
        let cat = Catalog::builtin();
        let per_name = crate::limits::DNS_ENTRY_COST + "chat.mistral.ai".len();
        let cfg = Config {
            limits: Limits {
                dns_cache_bytes: 2 * 10 * per_name,
                ..Limits::default()
            },
            ..Config::default()
        };
        let mut r = Run::new(&cat, cfg);
        for i in 0..100u8 {
            let ip = [104, 18, 0, i];
            r.feed(
                0,
                &udp(
                    [10, 0, 0, 53],
                    C,
                    53,
                    33333,
                    &dns_answer("chat.mistral.ai", ip, 300),
                ),
            );
        }
        assert_eq!(
            (r.e.dns_cache.young.len(), r.e.dns_cache.old.len()),
            (10, 10)
        );
        r.feed(
            1,
            &tcp(C, [104, 18, 0, 99], 41000, 443, 7, tcpflag::SYN, &[]),
        );
        r.feed(
            1,
            &tcp(C, [104, 18, 0, 0], 41001, 443, 7, tcpflag::SYN, &[]),
        );
        let (flows, _, stats) = r.done();
        let by_port = |p: u16| flows.iter().find(|f| f.client_port == p).unwrap();
        assert_eq!(by_port(41000).via, Some(Via::Dns));
        assert_eq!(by_port(41001).server_name, None);
        // 100 names, 10 per generation: 8 rotations forgot 80 names.
        assert_eq!(stats.dns_cache_evictions, 80);
        assert_eq!(stats.dns_names_learned, 100);
    }

    /// A flood of QUIC Initials: new connections beyond the decryption
    /// budget are not decrypted (counted); the budget refills with capture
    /// time.
    #[test]
    fn quic_decryption_budget() {
        use crate::testutil::{crypto_frame, quic_initial};
        let cat = Catalog::builtin();
        let cfg = Config {
            limits: Limits {
                quic_decrypts_per_sec: 5,
                ..Limits::default()
            },
            ..Config::default()
        };
        let mut r = Run::new(&cat, cfg);
        let rec = tls::build_client_hello(Some("gemini.google.com"), &["h3"], false, 0);
        let p = quic_initial(1, &[7u8; 8], 0, &crypto_frame(0, &rec[5..]), 1200);
        for i in 0..20u16 {
            r.feed(0, &udp(C, S, 40000 + i, 443, &p));
        }
        r.feed(1000, &udp(C, S, 40100, 443, &p));
        let (flows, facts, stats) = r.done();
        assert_eq!(stats.quic_decryptions_skipped, 15);
        assert_eq!(stats.quic_client_hellos, 6);
        assert_eq!(facts.len(), 6);
        let named: Vec<u16> = flows
            .iter()
            .filter(|f| f.server_name.is_some())
            .map(|f| f.client_port)
            .collect();
        assert_eq!(named, vec![40000, 40001, 40002, 40003, 40004, 40100]);
        assert!(flows.iter().all(|f| f.quic && !f.quic_undecryptable));
    }

    /// IP fragments: a DNS response over IPv4 and one over IPv6 whose
    /// fragments come out of order, and a ClientHello in a fragmented TCP
    /// segment, are reassembled and handled at the frame that completes them;
    /// a flow's bytes are its fragments'; a first fragment cut by the snap
    /// length is handled on its own (as tshark does).
    #[test]
    fn fragmented_datagrams_are_reassembled() {
        use crate::testutil::{eth_ipv4_fragments, eth_ipv6_fragments, tcp as seg, udp as dgram};
        let cat = Catalog::builtin();
        let mut r = Run::new(&cat, Config::default());
        // DNS over IPv4: chatgpt.com is 104.18.32.47, in three fragments, the
        // last one first.
        let mut answer = dns_answer("chatgpt.com", S, 300);
        answer.resize(answer.len() + 1000, 0); // (trailing bytes, as EDNS padding)
        let frags = eth_ipv4_fragments(
            [10, 0, 0, 53],
            C,
            17,
            77,
            &dgram(53, 33333, &answer),
            &[400, 800],
        );
        r.feed(0, &frags[2]); // frame 1
        r.feed(0, &frags[0]); // frame 2
        assert_eq!(r.e.defrag.len(), 1);
        r.feed(0, &frags[1]); // frame 3: complete
        assert_eq!(r.e.defrag.len(), 0);
        // An SNI-less hello to that address is named through DNS; its
        // ClientHello segment comes in two IP fragments.
        handshake(&mut r, 42000); // frames 4-6
        let ch = tls::build_client_hello(None, &[], false, 0);
        let hello = seg(42000, 443, 1000, tcpflag::ACK | tcpflag::PSH, &ch);
        let hfrags = eth_ipv4_fragments(C, S, 6, 78, &hello, &[96]);
        for f in &hfrags {
            r.feed(10, f); // frames 7, 8
        }
        // DNS over IPv6, fragments in order.
        let c6 = [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5];
        let r6 = [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x53];
        let a6 = dns_answer("claude.ai", [160, 79, 104, 10], 60);
        let f6 = eth_ipv6_fragments(r6, c6, 17, 0xabcdef, &dgram(53, 5353, &a6), &[16]);
        r.feed(20, &f6[0]); // frame 9
        r.feed(20, &f6[1]); // frame 10
                            // A first fragment cut by the snap length: handled alone.
        let q = dns_answer("mistral.ai", [1, 2, 3, 4], 60);
        let cut = eth_ipv4_fragments([10, 0, 0, 53], C, 17, 79, &dgram(53, 40000, &q), &[40]);
        r.feed(30, &cut[0][..cut[0].len() - 4]); // frame 11
        let (flows, facts, stats) = r.done();
        assert_eq!(stats.fragments, 8);
        assert_eq!(stats.reassembled, 3);
        let at = |kind: &str, name: &str| -> Vec<u64> {
            facts
                .iter()
                .filter(|f| f["kind"] == kind && f["name"] == name)
                .map(|f| f["frame"].as_u64().unwrap())
                .collect()
        };
        assert_eq!(at("dns_answer", "chatgpt.com"), vec![3]);
        assert_eq!(at("dns_answer", "claude.ai"), vec![10]);
        assert_eq!(
            facts.iter().find(|f| f["frame"] == 10).unwrap()["ip_version"],
            6
        );
        // The cut fragment: its question (the answer is cut off).
        assert_eq!(at("dns_query", "mistral.ai"), vec![11]);
        let hello_flow = flows.iter().find(|f| f.client_port == 42000).unwrap();
        assert_eq!(hello_flow.server_name.as_deref(), Some("chatgpt.com"));
        assert_eq!(hello_flow.via, Some(Via::Dns));
        let frag_bytes: u64 = hfrags.iter().map(|f| f.len() as u64 - 14).sum();
        assert_eq!(hello_flow.bytes_up, 2 * 40 + frag_bytes);
        assert_eq!(hello_flow.packets_up, 3);
        let dns_flow = flows.iter().find(|f| f.client_port == 33333).unwrap();
        let all: u64 = frags.iter().map(|f| f.len() as u64 - 14).sum();
        assert_eq!(dns_flow.bytes_down, all);
        assert_eq!(stats.defrag_incomplete, 0);
    }

    #[test]
    fn quic_hello_split_over_initials_with_junk() {
        use crate::testutil::{crypto_frame, quic_initial};
        let cat = Catalog::builtin();
        let mut r = Run::new(&cat, Config::default());
        let rec = tls::build_client_hello(Some("gemini.google.com"), &["h3"], false, 1600);
        let hello = &rec[5..]; // the handshake message, without the TLS record header
        let dcid = [7u8; 8];
        // Second half first, in two frames, then PING; then the first half.
        let mut f2 = crypto_frame(1000, &hello[1000..1300]);
        f2.push(0x01);
        f2.extend(crypto_frame(1300, &hello[1300..]));
        let p2 = quic_initial(1, &dcid, 1, &f2, 1100);
        let p1 = quic_initial(1, &dcid, 0, &crypto_frame(0, &hello[..1000]), 1100);
        r.feed(0, &udp(C, S, 50001, 443, &p2));
        let mut d1 = p1.clone();
        d1.extend_from_slice(&[0xc0, 0, 0, 0, 1, 30]); // junk after the coalesced packet
        r.feed(1, &udp(C, S, 50001, 443, &d1));
        r.feed(2, &udp(C, S, 50001, 443, &p1)); // retransmission: no new fact
        r.feed(
            3,
            &udp(C, S, 50001, 443, &[0x40, 1, 2, 3, 4, 5, 6, 7, 8, 9]),
        );
        // Another flow: an unknown (but QUIC-like) version, and a failed decryption.
        let mut bogus = quic_initial(1, &dcid, 0, &crypto_frame(0, &hello[..100]), 1100);
        bogus[1..5].copy_from_slice(&0x5130_3939u32.to_be_bytes()); // "Q099"
        r.feed(4, &udp(C, S, 50002, 443, &bogus));
        let mut broken = p1.clone();
        broken[500] ^= 0xff;
        r.feed(5, &udp(C, S, 50003, 443, &broken));
        let (flows, facts, stats) = r.done();
        assert_eq!(facts.len(), 1, "{facts:?}");
        assert_eq!(facts[0]["kind"], "quic_sni");
        assert_eq!(facts[0]["frame"], 2);
        assert_eq!(facts[0]["quic_version"], "0x00000001");
        let f = flows.iter().find(|f| f.client_port == 50001).unwrap();
        assert_eq!(f.via, Some(Via::QuicSni));
        assert_eq!(cat.service(f.service.unwrap()).id, "gemini");
        assert!(f.ja4.as_deref().unwrap().starts_with("q12d0203h3_"));
        assert!(!f.quic_undecryptable);
        let unknown = flows.iter().find(|f| f.client_port == 50002).unwrap();
        assert!(unknown.quic && unknown.quic_undecryptable);
        let failed = flows.iter().find(|f| f.client_port == 50003).unwrap();
        assert!(failed.quic && failed.quic_undecryptable);
        assert_eq!(stats.anomalies.get("quic_unknown_version"), Some(&1));
        assert!(stats.anomalies.contains_key("quic_decrypt_failed"));
        assert!(
            stats.anomalies.contains_key("quic_truncated_header"),
            "{:?}",
            stats.anomalies
        );
        assert_eq!(stats.quic_client_hellos, 1);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        /// Hostile input: random frames and mutated real-looking frames, on
        /// every link type, never panic and are all counted.
        #[test]
        fn random_and_mutated_frames_never_panic(
            frames in proptest::collection::vec(
                (0u32..300, proptest::collection::vec(proptest::num::u8::ANY, 0..300)), 1..40),
            flips in proptest::collection::vec((proptest::num::usize::ANY, proptest::num::u8::ANY), 0..16),
        ) {
            let cat = Catalog::builtin();
            let mut r = Run::new(&cat, Config { limits: Limits { max_flows: 8, ..Limits::default() }, ..Config::default() });
            let ch = tls::build_client_hello(Some("chatgpt.com"), &["h2"], false, 600);
            let mut valid = vec![
                tcp(C, S, 1, 443, 1, tcpflag::ACK, &ch),
                udp(S, C, 53, 9, &dns_answer("chatgpt.com", S, 60)),
                tcp(C, S, 2, 80, 1, tcpflag::ACK, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
                tcp(C, S, 3, 8080, 1, tcpflag::ACK, h2::PREFACE),
                udp(C, S, 4, 443, &crate::testutil::quic_initial(1, b"abcdefgh", 0,
                    &crate::testutil::crypto_frame(0, &ch[5..]), 1100)),
            ];
            for (i, (pos, val)) in flips.iter().enumerate() {
                let v = &mut valid[i % 5];
                let n = v.len();
                v[pos % n] ^= val | 1;
            }
            let mut t = 0;
            for f in &valid {
                t += 1;
                r.feed(t, f);
            }
            for (lt, bytes) in &frames {
                t += 1;
                r.frame += 1;
                let p = RawPacket { ts_ns: t * 1_000_000, linktype: *lt, data: bytes, orig_len: bytes.len() as u32, frame: r.frame };
                r.e.process(&p, &mut r.sink);
            }
            let total = (frames.len() + valid.len()) as u64;
            let (_, _, stats) = r.done();
            proptest::prop_assert_eq!(stats.packets, total);
        }
    }
}
