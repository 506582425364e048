//! Aggregation of ended flows and the reports built from it: the summary JSON
//! (`lanterne.summary/1`), the CSV, flow events (NDJSON) and the terminal table.
//!
//! Counting rules (DESIGN.md "Terms"):
//! - `hosts` holds internal clients (see `--internal`) with at least one flow
//!   to a catalog service; their `flows`/`bytes_*` are the sums over those
//!   service flows. `all_flows`/`all_bytes_*` add their other traffic.
//! - `services` counts the flows of internal clients only; flows whose client
//!   is external are counted in `capture.flows` and `capture.flows_external`.
//! - bytes are IP-layer bytes; a flow counts in the timeline bucket where it
//!   started (flows) and where its packets fell (bytes).

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufWriter, Write};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use serde::Serialize;
use serde_json::{json, Value};

use crate::engine::{FlowRecord, FlowSink};
use crate::flow::Via;
use crate::limits::Limits;
use crate::privacy::HostView;
use crate::signatures::{Catalog, Cidr};
use crate::stats::Stats;

pub const SCHEMA: &str = "lanterne.summary/1";

/// Default internal ranges: RFC 1918, RFC 6598, fc00::/7, fe80::/10, loopback.
pub const DEFAULT_INTERNAL: &[&str] = &[
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "fc00::/7",
    "fe80::/10",
    "::1/128",
];

/// Well-known DNS-over-HTTPS resolver names (for the visibility block).
pub const DOH_NAMES: &[&str] = &[
    "dns.google",
    "dns.google.com",
    "cloudflare-dns.com",
    "mozilla.cloudflare-dns.com",
    "chrome.cloudflare-dns.com",
    "one.one.one.one",
    "1dot1dot1dot1.cloudflare-dns.com",
    "security.cloudflare-dns.com",
    "family.cloudflare-dns.com",
    "dns.quad9.net",
    "dns9.quad9.net",
    "dns10.quad9.net",
    "dns11.quad9.net",
    "doh.opendns.com",
    "dns.nextdns.io",
    "doh.cleanbrowsing.org",
    "dns.adguard.com",
    "dns.adguard-dns.com",
    "doh.mullvad.net",
    "dns.mullvad.net",
    "doh.dns.sb",
    "dns.alidns.com",
    "doh.pub",
];

#[derive(Debug, Default, Clone)]
struct Counts {
    flows: u64,
    up: u64,
    down: u64,
    first: i64,
    last: i64,
}

/// Most names kept per host and service.
const MAX_NAMES: usize = 64;

/// Keeps the alphabetically first [`MAX_NAMES`] names (a rule that does not
/// depend on the order flows end in, or on how they were split).
fn insert_name(set: &mut BTreeSet<String>, n: String) {
    set.insert(n);
    if set.len() > MAX_NAMES {
        set.pop_last();
    }
}

impl Counts {
    fn merge(&mut self, o: &Counts) {
        if o.flows == 0 {
            return;
        }
        if self.flows == 0 || o.first < self.first {
            self.first = o.first;
        }
        if self.flows == 0 || o.last > self.last {
            self.last = o.last;
        }
        self.flows += o.flows;
        self.up += o.up;
        self.down += o.down;
    }

    fn add(&mut self, r: &FlowRecord) {
        if self.flows == 0 || r.ts_start < self.first {
            self.first = r.ts_start;
        }
        if self.flows == 0 || r.ts_end > self.last {
            self.last = r.ts_end;
        }
        self.flows += 1;
        self.up += r.bytes_up;
        self.down += r.bytes_down;
    }
}

#[derive(Debug, Default, Clone)]
struct HostSvc {
    c: Counts,
    names: BTreeSet<String>,
}

#[derive(Debug, Default, Clone)]
struct SvcAgg {
    c: Counts,
    hosts: rustc_hash::FxHashSet<IpAddr>,
    via: BTreeMap<Via, u64>,
    ech: u64,
    /// bucket index → (flows, up, down)
    timeline: BTreeMap<i64, (u64, u64, u64)>,
}

/// A name that looks like an AI service the catalog does not know (see
/// [`crate::candidates`]).
#[derive(Debug, Clone)]
struct CandAgg {
    clue: &'static str,
    c: Counts,
    /// Hosts (or groups) that reached it; random keys, as its name is the
    /// sender's choice.
    hosts: std::collections::HashSet<IpAddr>,
}

/// Most candidates in the summary (the largest uploads first), and most
/// hosts listed for each.
pub const MAX_CANDIDATES: usize = 500;
pub const MAX_CANDIDATE_HOSTS_LISTED: usize = 100;

#[derive(Debug, Default, Clone)]
struct HostAgg {
    all: Counts,
    services: BTreeMap<u16, HostSvc>,
}

/// A writer several workers share (one event line at a time).
pub type SharedWriter = Arc<Mutex<BufWriter<Box<dyn Write + Send>>>>;

/// Wraps a writer for [`AggOptions::events`].
pub fn shared_writer(w: Box<dyn Write + Send>) -> SharedWriter {
    Arc::new(Mutex::new(BufWriter::with_capacity(256 * 1024, w)))
}

/// Options for what the aggregator writes besides the summary.
#[derive(Clone)]
pub struct AggOptions {
    pub internal: Vec<Cidr>,
    pub bucket_seconds: u64,
    pub events: Option<SharedWriter>,
    pub events_all: bool,
    /// Keep the flow duration and size distributions (`--stats`): two
    /// histograms of about 0.7 MiB each, written at every flow's end.
    pub distributions: bool,
    /// How internal hosts are grouped and shown (`--host-prefix`,
    /// `--pseudonymize`); the default shows each host's address.
    pub view: HostView,
    /// The caps in force (reported in the summary's `capture.limits`).
    pub limits: Limits,
    /// Internal hosts (or groups) counted one by one at most; the flows of
    /// hosts beyond count for their services only (`untracked_host_flows`).
    pub max_hosts: usize,
    /// `--clickhouse`: where AI flows go as rows (each aggregator clones it).
    pub clickhouse: Option<crate::clickhouse::ChSink>,
    /// Bytes of candidates this aggregator may keep (see
    /// [`crate::limits::CANDIDATE_COST`]).
    pub candidate_bytes: usize,
}

/// [`DEFAULT_INTERNAL`] parsed.
pub fn default_internal() -> Vec<Cidr> {
    DEFAULT_INTERNAL
        .iter()
        .map(|s| Cidr::parse(s).expect("default CIDR"))
        .collect()
}

impl Default for AggOptions {
    /// Default internal ranges, hourly buckets, no events, no distributions.
    fn default() -> Self {
        AggOptions {
            internal: default_internal(),
            bucket_seconds: 3600,
            events: None,
            events_all: false,
            distributions: false,
            view: HostView::default(),
            limits: Limits::default(),
            max_hosts: Limits::default().max_hosts,
            clickhouse: None,
            candidate_bytes: Limits::default().candidate_bytes,
        }
    }
}

/// Collects ended flows.
pub struct Aggregator {
    internal: Vec<Cidr>,
    bucket_ns: i64,
    services: BTreeMap<u16, SvcAgg>,
    hosts: rustc_hash::FxHashMap<IpAddr, HostAgg>,
    pub flows_total: u64,
    pub flows_external: u64,
    pub flows_named: u64,
    pub flows_unnamed: u64,
    pub bytes_named: u64,
    pub bytes_unnamed: u64,
    pub flows_ech: u64,
    pub flows_doh_dot: u64,
    pub flows_quic_undecryptable: u64,
    pub bytes_ech: u64,
    pub bytes_doh_dot: u64,
    pub bytes_quic_undecryptable: u64,
    pub flows_quic: u64,
    pub flows_dns: u64,
    events: Option<SharedWriter>,
    events_all: bool,
    events_error: Option<String>,
    /// Flow durations and sizes, when asked for ([`AggOptions::distributions`]).
    pub distributions: Option<Box<FlowDistributions>>,
    view: HostView,
    limits: Limits,
    max_hosts: usize,
    /// Flows of internal hosts not tracked one by one (over `max_hosts`).
    pub untracked_host_flows: u64,
    /// Hosts that had no AI use when they were first counted, oldest
    /// first: when the hosts fill their cap, these make room for a host
    /// that uses an AI service (entries of hosts gone or since using one are
    /// skipped).
    plain_hosts: std::collections::VecDeque<IpAddr>,
    clickhouse: Option<crate::clickhouse::ChSink>,
    /// Candidates by lower-cased name (random keys: names are the
    /// sender's choice).
    candidates: std::collections::HashMap<Box<str>, CandAgg>,
    /// Bytes the candidates take, and may take.
    candidate_bytes: usize,
    candidate_budget: usize,
    /// Flows of candidates not recorded, or not recorded for their host,
    /// because the candidates had taken their share of the memory budget.
    pub candidates_dropped: u64,
    /// Names recently found to have no clue (most names): a direct-mapped
    /// table of their keyed hashes, so that a popular name is not looked at
    /// again at every flow; a name an attacker chooses only misses. Cleared
    /// when the catalog changes (a reload).
    no_clue: NoClue,
}

/// See [`Aggregator::no_clue`].
#[derive(Clone)]
struct NoClue {
    slots: Box<[u64]>,
    keys: std::collections::hash_map::RandomState,
    /// The catalog the slots were filled with (its address and size).
    catalog: (usize, usize),
}

impl NoClue {
    const SLOTS: usize = 1024;

    fn new() -> Self {
        NoClue {
            slots: vec![0; Self::SLOTS].into_boxed_slice(),
            keys: Default::default(),
            catalog: (0, 0),
        }
    }

    /// The name's hash, and whether it is known to have no clue.
    fn check(&mut self, cat: &Catalog, name: &str) -> (u64, bool) {
        use std::hash::BuildHasher;
        let id = (cat as *const Catalog as usize, cat.patterns.len());
        if id != self.catalog {
            self.slots.fill(0);
            self.catalog = id;
        }
        let h = self.keys.hash_one(name) | 1;
        (h, self.slots[h as usize % Self::SLOTS] == h)
    }

    fn remember(&mut self, h: u64) {
        self.slots[h as usize % Self::SLOTS] = h;
    }
}

/// Flow durations (µs) and sizes (IP bytes, both directions), all flows.
pub struct FlowDistributions {
    pub duration_us: hdrhistogram::Histogram<u64>,
    pub bytes: hdrhistogram::Histogram<u64>,
}

impl FlowDistributions {
    fn new() -> Self {
        FlowDistributions {
            duration_us: hdrhistogram::Histogram::new_with_bounds(1, 1 << 40, 3).expect("bounds"),
            bytes: hdrhistogram::Histogram::new_with_bounds(1, 1 << 50, 3).expect("bounds"),
        }
    }
}

impl Aggregator {
    pub fn new(opts: AggOptions) -> Self {
        Aggregator {
            internal: opts.internal,
            bucket_ns: opts.bucket_seconds as i64 * 1_000_000_000,
            services: BTreeMap::new(),
            hosts: rustc_hash::FxHashMap::default(),
            flows_total: 0,
            flows_external: 0,
            flows_named: 0,
            flows_unnamed: 0,
            bytes_named: 0,
            bytes_unnamed: 0,
            flows_ech: 0,
            flows_doh_dot: 0,
            flows_quic_undecryptable: 0,
            bytes_ech: 0,
            bytes_doh_dot: 0,
            bytes_quic_undecryptable: 0,
            flows_quic: 0,
            flows_dns: 0,
            events: opts.events,
            events_all: opts.events_all,
            events_error: None,
            distributions: opts
                .distributions
                .then(|| Box::new(FlowDistributions::new())),
            view: opts.view,
            limits: opts.limits,
            max_hosts: opts.max_hosts.max(1),
            untracked_host_flows: 0,
            plain_hosts: Default::default(),
            clickhouse: opts.clickhouse,
            candidates: Default::default(),
            candidate_bytes: 0,
            candidate_budget: opts.candidate_bytes,
            candidates_dropped: 0,
            no_clue: NoClue::new(),
        }
    }

    /// A copy of the aggregates, writing no events and keeping no
    /// distributions: live snapshots add the open flows to it.
    pub fn snapshot(&self) -> Aggregator {
        Aggregator {
            internal: self.internal.clone(),
            bucket_ns: self.bucket_ns,
            services: self.services.clone(),
            hosts: self.hosts.clone(),
            events: None,
            events_error: None,
            distributions: None,
            view: self.view.clone(),
            plain_hosts: self.plain_hosts.clone(),
            clickhouse: None,
            candidates: self.candidates.clone(),
            no_clue: NoClue::new(),
            ..*self
        }
    }

    /// Hands the ClickHouse rows over if the batch is older than `age`
    /// (live capture, every second).
    pub fn flush_clickhouse(&mut self, age: std::time::Duration) {
        if let Some(c) = self.clickhouse.as_mut() {
            c.flush_older(age);
        }
    }

    /// The ClickHouse sink's counters, if there is one.
    pub fn clickhouse_stats(&self) -> Option<&crate::clickhouse::ChStats> {
        self.clickhouse.as_ref().map(|c| &*c.stats)
    }

    /// Gives up the ClickHouse handle (its last rows go out).
    pub fn close_clickhouse(&mut self) {
        self.clickhouse = None;
    }

    /// Room for one more host, if the cap allows or a host without AI use
    /// can give its place to one with (`ai`); the flows of a host that gives
    /// its place become untracked.
    fn room_for_host(&mut self, ai: bool) -> bool {
        if self.hosts.len() < self.max_hosts {
            return true;
        }
        if !ai {
            return false;
        }
        while let Some(ip) = self.plain_hosts.pop_front() {
            if self.hosts.get(&ip).is_some_and(|h| h.services.is_empty()) {
                let h = self.hosts.remove(&ip).expect("present");
                self.untracked_host_flows += h.all.flows;
                return true;
            }
        }
        false
    }

    /// Distinct candidate names tracked (see [`crate::candidates`]).
    pub fn candidate_names(&self) -> usize {
        self.candidates.len()
    }

    /// The caps in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Catalog indexes of the services with counts.
    pub fn used_services(&self) -> Vec<u16> {
        self.services.keys().copied().collect()
    }

    /// Moves every per-service count to the service's index in a reloaded
    /// catalog (`map[old]`, see [`crate::signatures::Catalog::reconcile`]).
    pub fn remap_services(&mut self, map: &[Option<u16>]) {
        let re = |k: u16| map.get(k as usize).copied().flatten().unwrap_or(k);
        self.services = std::mem::take(&mut self.services)
            .into_iter()
            .map(|(k, v)| (re(k), v))
            .collect();
        for h in self.hosts.values_mut() {
            h.services = std::mem::take(&mut h.services)
                .into_iter()
                .map(|(k, v)| (re(k), v))
                .collect();
        }
    }

    /// Flows and bytes of each service seen (catalog index, flows, bytes up,
    /// bytes down), internal hosts only, in catalog order.
    pub fn service_totals(&self) -> impl Iterator<Item = (u16, u64, u64, u64)> + '_ {
        self.services
            .iter()
            .map(|(sid, s)| (*sid, s.c.flows, s.c.up, s.c.down))
    }

    /// The same per internal host and service (host as shown, catalog
    /// index, flows, bytes up, bytes down).
    pub fn host_service_totals(&self) -> impl Iterator<Item = (String, u16, u64, u64, u64)> + '_ {
        self.hosts.iter().flat_map(|(ip, h)| {
            let host = self.view.label(*ip);
            h.services
                .iter()
                .map(move |(sid, s)| (host.clone(), *sid, s.c.flows, s.c.up, s.c.down))
        })
    }

    pub fn is_internal(&self, ip: &IpAddr) -> bool {
        self.internal.iter().any(|c| c.contains(ip))
    }

    pub fn finish_events(&mut self) -> Option<String> {
        if let Some(w) = self.events.as_ref() {
            let mut w = w.lock().unwrap_or_else(|p| p.into_inner());
            if let Err(e) = w.flush() {
                self.events_error.get_or_insert(e.to_string());
            }
        }
        self.events_error.clone()
    }

    fn write_event(&mut self, r: &FlowRecord, cat: &Catalog, internal: bool) {
        if self.events.is_none() {
            return;
        }
        if r.service.is_none() && !self.events_all {
            return;
        }
        let svc = r.service.map(|s| cat.service(s));
        let ev = Event {
            ts_start: rfc3339(r.ts_start),
            ts_end: rfc3339(r.ts_end),
            client: self.view.show(r.client),
            server: self.view.show(r.server),
            client_port: r.client_port,
            server_port: r.server_port,
            transport: transport(r.proto),
            server_name: r.server_name.as_deref().map(|n| self.view.show_name(n)),
            via: r.via.map(|v| v.as_str()),
            service: svc.map(|s| s.id.as_str()),
            vendor: svc.map(|s| s.vendor.as_str()),
            category: svc.map(|s| s.category.as_str()),
            bytes_up: r.bytes_up,
            bytes_down: r.bytes_down,
            packets_up: r.packets_up,
            packets_down: r.packets_down,
            ech: r.ech,
            ech_offered: r.ech_offered,
            alpn: &r.alpn,
            ja4: r.ja4.as_deref(),
            ja3: r.ja3.as_deref(),
            sni: r.sni.iter().map(|n| self.view.show_name(n)).collect(),
            pattern: r.pattern.map(|p| cat.patterns[p as usize].0.as_str()),
            internal,
        };
        let mut line = serde_json::to_vec(&ev).expect("events serialise");
        line.push(b'\n');
        let res = {
            let w = self.events.as_ref().expect("checked above");
            let mut w = w.lock().unwrap_or_else(|p| p.into_inner());
            w.write_all(&line)
        };
        if let Err(e) = res {
            self.events_error.get_or_insert(e.to_string());
            self.events = None;
        }
    }

    /// Counts a flow to a name no service matched, if the name looks like
    /// an AI service (a clue, see [`crate::candidates`]).
    fn note_candidate(&mut self, name: &str, host: IpAddr, r: &FlowRecord, cat: &Catalog) {
        let (h, known) = self.no_clue.check(cat, name);
        if known {
            return;
        }
        let mut buf = [0u8; crate::signatures::MAX_NAME];
        let Some(lower) = crate::signatures::lower_name(name, &mut buf) else {
            return;
        };
        let Some(clue) = crate::candidates::clue(cat, lower) else {
            self.no_clue.remember(h);
            return;
        };
        use crate::limits::{CANDIDATE_COST, CANDIDATE_HOST_COST};
        let (used, budget) = (&mut self.candidate_bytes, self.candidate_budget);
        let c = match self.candidates.get_mut(lower) {
            Some(c) => c,
            None => {
                let cost = CANDIDATE_COST + lower.len() + CANDIDATE_HOST_COST;
                if *used + cost > budget {
                    self.candidates_dropped += 1;
                    return;
                }
                *used += cost - CANDIDATE_HOST_COST;
                self.candidates.entry(lower.into()).or_insert(CandAgg {
                    clue,
                    c: Counts::default(),
                    hosts: Default::default(),
                })
            }
        };
        c.c.add(r);
        if !c.hosts.contains(&host) {
            if *used + CANDIDATE_HOST_COST > budget {
                self.candidates_dropped += 1;
            } else {
                *used += CANDIDATE_HOST_COST;
                c.hosts.insert(host);
            }
        }
    }

    /// Adds another worker's aggregates (sums, unions, minima and maxima:
    /// the result does not depend on how flows were split between workers).
    pub fn merge(&mut self, o: Aggregator) {
        match (self.distributions.as_mut(), o.distributions) {
            (Some(d), Some(od)) => {
                let _ = d.duration_us.add(&od.duration_us);
                let _ = d.bytes.add(&od.bytes);
            }
            (None, od) => self.distributions = od,
            (Some(_), None) => {}
        }
        self.flows_total += o.flows_total;
        self.untracked_host_flows += o.untracked_host_flows;
        self.flows_external += o.flows_external;
        self.flows_named += o.flows_named;
        self.flows_unnamed += o.flows_unnamed;
        self.bytes_named += o.bytes_named;
        self.bytes_unnamed += o.bytes_unnamed;
        self.flows_ech += o.flows_ech;
        self.flows_doh_dot += o.flows_doh_dot;
        self.flows_quic_undecryptable += o.flows_quic_undecryptable;
        self.bytes_ech += o.bytes_ech;
        self.bytes_doh_dot += o.bytes_doh_dot;
        self.bytes_quic_undecryptable += o.bytes_quic_undecryptable;
        self.flows_quic += o.flows_quic;
        self.flows_dns += o.flows_dns;
        if let Some(e) = o.events_error {
            self.events_error.get_or_insert(e);
        }
        for (sid, s) in o.services {
            let d = self.services.entry(sid).or_default();
            d.c.merge(&s.c);
            d.hosts.extend(s.hosts);
            for (v, n) in s.via {
                *d.via.entry(v).or_insert(0) += n;
            }
            d.ech += s.ech;
            for (b, (f, u, dn)) in s.timeline {
                let e = d.timeline.entry(b).or_insert((0, 0, 0));
                e.0 += f;
                e.1 += u;
                e.2 += dn;
            }
        }
        self.candidates_dropped += o.candidates_dropped;
        self.candidate_bytes += o.candidate_bytes;
        for (name, c) in o.candidates {
            match self.candidates.get_mut(&name) {
                Some(d) => {
                    d.c.merge(&c.c);
                    d.hosts.extend(c.hosts);
                }
                None => {
                    self.candidates.insert(name, c);
                }
            }
        }
        for (ip, h) in o.hosts {
            let d = self.hosts.entry(ip).or_default();
            d.all.merge(&h.all);
            for (sid, hs) in h.services {
                let e = d.services.entry(sid).or_default();
                e.c.merge(&hs.c);
                for n in hs.names {
                    insert_name(&mut e.names, n);
                }
            }
        }
    }
}

/// One `--events` line (DESIGN.md "Flow events"), serialised directly.
#[derive(Serialize)]
struct Event<'a> {
    ts_start: String,
    ts_end: String,
    client: String,
    server: String,
    client_port: u16,
    server_port: u16,
    transport: &'static str,
    server_name: Option<String>,
    via: Option<&'static str>,
    service: Option<&'a str>,
    vendor: Option<&'a str>,
    category: Option<&'a str>,
    bytes_up: u64,
    bytes_down: u64,
    packets_up: u64,
    packets_down: u64,
    ech: bool,
    ech_offered: bool,
    alpn: &'a [String],
    ja4: Option<&'a str>,
    ja3: Option<&'a str>,
    sni: Vec<String>,
    pattern: Option<&'a str>,
    internal: bool,
}

fn transport(p: u8) -> &'static str {
    if p == crate::decode::PROTO_TCP {
        "tcp"
    } else {
        "udp"
    }
}

fn is_doh_dot(r: &FlowRecord) -> bool {
    if r.server_port == 853 {
        return true;
    }
    r.server_name
        .as_deref()
        .is_some_and(|n| DOH_NAMES.iter().any(|d| d.eq_ignore_ascii_case(n)))
}

/// Plain DNS, mDNS and LLMNR flows.
fn is_dns_flow(r: &FlowRecord) -> bool {
    crate::engine::is_dns_port(r.server_port)
        && (r.proto == crate::decode::PROTO_UDP || r.server_port == 53)
}

impl FlowSink for Aggregator {
    fn flow_ended(&mut self, r: FlowRecord, cat: &Catalog) {
        self.flows_total += 1;
        let bytes = r.bytes_up + r.bytes_down;
        if let Some(d) = self.distributions.as_mut() {
            let dur_us = ((r.ts_end - r.ts_start).max(0) / 1000) as u64;
            d.duration_us.saturating_record(dur_us.max(1));
            d.bytes.saturating_record(bytes.max(1));
        }
        let dns = is_dns_flow(&r);
        if dns {
            // Lookups themselves are not traffic that could be named.
            self.flows_dns += 1;
        } else if r.server_name.is_some() {
            self.flows_named += 1;
            self.bytes_named += bytes;
        } else {
            self.flows_unnamed += 1;
            self.bytes_unnamed += bytes;
        }
        if r.ech {
            self.flows_ech += 1;
            self.bytes_ech += bytes;
        }
        if is_doh_dot(&r) {
            self.flows_doh_dot += 1;
            self.bytes_doh_dot += bytes;
        }
        if r.quic {
            self.flows_quic += 1;
        }
        if r.quic_undecryptable {
            self.flows_quic_undecryptable += 1;
            self.bytes_quic_undecryptable += bytes;
        }
        let internal = self.is_internal(&r.client);
        self.write_event(&r, cat, internal);
        if let (Some(ch), Some(sid)) = (self.clickhouse.as_mut(), r.service) {
            let svc = cat.service(sid);
            let (client, server) = (self.view.label(r.client), self.view.show(r.server));
            let name = r
                .server_name
                .as_deref()
                .map(|n| self.view.show_name(n))
                .unwrap_or_default();
            ch.flow(&crate::clickhouse::FlowRow {
                ts_start_ns: r.ts_start,
                ts_end_ns: r.ts_end,
                client: &client,
                server: &server,
                client_port: r.client_port,
                server_port: r.server_port,
                transport: transport(r.proto),
                server_name: &name,
                via: r.via.map_or("", |v| v.as_str()),
                service: &svc.id,
                vendor: &svc.vendor,
                category: &svc.category,
                bytes_up: r.bytes_up,
                bytes_down: r.bytes_down,
                packets_up: r.packets_up,
                packets_down: r.packets_down,
                ech: r.ech,
                alpn: &r.alpn,
                ja4: r.ja4.as_deref().unwrap_or(""),
                internal,
            });
        }
        if !internal {
            self.flows_external += 1;
            return;
        }
        // (The host, or its subnet with --host-prefix.)
        let client = self.view.group(r.client);
        if r.service.is_none() && !dns {
            if let Some(n) = r.server_name.as_deref() {
                self.note_candidate(n, client, &r, cat);
            }
        }
        let host = if self.hosts.contains_key(&client) {
            self.hosts.get_mut(&client)
        } else if self.room_for_host(r.service.is_some()) {
            if r.service.is_none() {
                self.plain_hosts.push_back(client);
            }
            Some(self.hosts.entry(client).or_default())
        } else {
            // Over the cap (a flood of spoofed internal sources): the flow
            // counts for its service, not for a host.
            self.untracked_host_flows += 1;
            None
        };
        let tracked = host.is_some();
        let Some(sid) = r.service else {
            if let Some(h) = host {
                h.all.add(&r);
            }
            return;
        };
        if let Some(h) = host {
            h.all.add(&r);
            let hs = h.services.entry(sid).or_default();
            hs.c.add(&r);
            if let Some(n) = &r.server_name {
                insert_name(&mut hs.names, self.view.show_name(&n.to_ascii_lowercase()));
            }
        }
        let s = self.services.entry(sid).or_default();
        s.c.add(&r);
        if tracked {
            s.hosts.insert(client);
        }
        if let Some(v) = r.via {
            *s.via.entry(v).or_insert(0) += 1;
        }
        if r.ech {
            s.ech += 1;
        }
        let start_bucket = r.ts_start.div_euclid(self.bucket_ns);
        s.timeline.entry(start_bucket).or_insert((0, 0, 0)).0 += 1;
        for b in r.buckets() {
            let e = s.timeline.entry(b.index).or_insert((0, 0, 0));
            e.1 += b.up;
            e.2 += b.down;
        }
    }
}

/// Everything the summary needs besides the aggregator.
pub struct SummaryInput<'a> {
    pub inputs: &'a [String],
    pub stats: &'a Stats,
    pub catalog: &'a Catalog,
    pub sanctioned: &'a BTreeSet<String>,
    /// The policy file in use, if any.
    pub policy_file: Option<&'a str>,
    pub drops_kernel: u64,
    pub drops_interface: u64,
    pub read_errors: &'a [String],
}

#[derive(Serialize)]
struct ServiceOut {
    /// Catalog index (for the timeline; not serialised).
    #[serde(skip)]
    sid: u16,
    id: String,
    name: String,
    vendor: String,
    category: String,
    country: String,
    risk: &'static str,
    sanctioned: bool,
    hosts: u64,
    flows: u64,
    bytes_up: u64,
    bytes_down: u64,
    first_seen: String,
    last_seen: String,
    via: BTreeMap<&'static str, u64>,
    ech_flows: u64,
}

#[derive(Serialize)]
struct HostServiceOut {
    id: String,
    sanctioned: bool,
    flows: u64,
    bytes_up: u64,
    bytes_down: u64,
    first_seen: String,
    last_seen: String,
    names: Vec<String>,
}

#[derive(Serialize)]
struct HostOut {
    host: String,
    flows: u64,
    bytes_up: u64,
    bytes_down: u64,
    all_flows: u64,
    all_bytes_up: u64,
    all_bytes_down: u64,
    services: Vec<HostServiceOut>,
}

impl Aggregator {
    /// Builds the `lanterne.summary/1` document.
    pub fn summary(&self, inp: &SummaryInput<'_>) -> Value {
        let cat = inp.catalog;
        let st = inp.stats;
        let mut services: Vec<ServiceOut> = self
            .services
            .iter()
            .map(|(sid, a)| {
                let s = cat.service(*sid);
                let mut via: BTreeMap<&'static str, u64> = BTreeMap::new();
                for v in Via::ALL {
                    via.insert(v.as_str(), a.via.get(&v).copied().unwrap_or(0));
                }
                ServiceOut {
                    sid: *sid,
                    id: s.id.clone(),
                    name: s.name.clone(),
                    vendor: s.vendor.clone(),
                    category: s.category.clone(),
                    country: s.country.clone(),
                    risk: crate::risk::level(s).as_str(),
                    sanctioned: inp.sanctioned.contains(&s.id),
                    hosts: a.hosts.len() as u64,
                    flows: a.c.flows,
                    bytes_up: a.c.up,
                    bytes_down: a.c.down,
                    first_seen: rfc3339(a.c.first),
                    last_seen: rfc3339(a.c.last),
                    via,
                    ech_flows: a.ech,
                }
            })
            .collect();
        services.sort_by(|a, b| b.bytes_up.cmp(&a.bytes_up).then_with(|| a.id.cmp(&b.id)));

        let mut hosts: Vec<HostOut> = self
            .hosts
            .iter()
            .filter(|(_, h)| !h.services.is_empty())
            .map(|(ip, h)| {
                let mut svcs: Vec<HostServiceOut> = h
                    .services
                    .iter()
                    .map(|(sid, hs)| HostServiceOut {
                        id: cat.service(*sid).id.clone(),
                        sanctioned: inp.sanctioned.contains(&cat.service(*sid).id),
                        flows: hs.c.flows,
                        bytes_up: hs.c.up,
                        bytes_down: hs.c.down,
                        first_seen: rfc3339(hs.c.first),
                        last_seen: rfc3339(hs.c.last),
                        names: hs.names.iter().cloned().collect(),
                    })
                    .collect();
                svcs.sort_by(|a, b| b.bytes_up.cmp(&a.bytes_up).then_with(|| a.id.cmp(&b.id)));
                HostOut {
                    host: self.view.label(*ip),
                    flows: svcs.iter().map(|s| s.flows).sum(),
                    bytes_up: svcs.iter().map(|s| s.bytes_up).sum(),
                    bytes_down: svcs.iter().map(|s| s.bytes_down).sum(),
                    all_flows: h.all.flows,
                    all_bytes_up: h.all.up,
                    all_bytes_down: h.all.down,
                    services: svcs,
                }
            })
            .collect();
        hosts.sort_by(|a, b| {
            b.bytes_up
                .cmp(&a.bytes_up)
                .then_with(|| a.host.cmp(&b.host))
        });
        // Internal hosts without AI use: their totals, so that merged
        // summaries keep every flow of a host (see crate::merge).
        // (Sorted by label before they become JSON: hundreds of thousands
        // under a flood of spoofed sources.)
        let mut other: Vec<(String, &Counts)> = self
            .hosts
            .iter()
            .filter(|(_, h)| h.services.is_empty())
            .map(|(ip, h)| (self.view.label(*ip), &h.all))
            .collect();
        other.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let other_hosts: Vec<Value> = other
            .into_iter()
            .map(|(host, c)| {
                json!({"host": host, "all_flows": c.flows,
                       "all_bytes_up": c.up, "all_bytes_down": c.down})
            })
            .collect();

        let bucket_s = self.bucket_ns / 1_000_000_000;
        let mut series: Vec<Value> = Vec::new();
        for s in &services {
            let tl = &self.services[&s.sid].timeline;
            let (Some(first), Some(last)) = (tl.keys().next(), tl.keys().next_back()) else {
                continue;
            };
            let n = (last - first + 1).clamp(0, 100_000) as usize;
            let mut flows = vec![0u64; n];
            let mut up = vec![0u64; n];
            let mut down = vec![0u64; n];
            for (k, (f, u, d)) in tl {
                let i = (k - first) as usize;
                if i < n {
                    flows[i] += f;
                    up[i] += u;
                    down[i] += d;
                }
            }
            series.push(json!({
                "service": s.id,
                "start": rfc3339(first * self.bucket_ns),
                "flows": flows, "bytes_up": up, "bytes_down": down,
            }));
        }

        let mut undecodable: BTreeMap<String, u64> = crate::decode::REASONS
            .iter()
            .map(|r| (r.to_string(), 0))
            .collect();
        for (k, v) in &st.undecodable {
            *undecodable.entry(k.to_string()).or_insert(0) += v;
        }
        let total_bytes = self.bytes_named + self.bytes_unnamed;
        let split = |sanctioned: bool| {
            let sel: Vec<&ServiceOut> = services
                .iter()
                .filter(|s| s.sanctioned == sanctioned)
                .collect();
            let mut hosts: BTreeSet<IpAddr> = BTreeSet::new();
            for (sid, a) in &self.services {
                if inp.sanctioned.contains(&cat.service(*sid).id) == sanctioned {
                    hosts.extend(a.hosts.iter().copied());
                }
            }
            json!({
                "services": sel.len(),
                "hosts": hosts.len(),
                "flows": sel.iter().map(|s| s.flows).sum::<u64>(),
                "bytes_up": sel.iter().map(|s| s.bytes_up).sum::<u64>(),
                "bytes_down": sel.iter().map(|s| s.bytes_down).sum::<u64>(),
            })
        };
        let policy = json!({
            "file": inp.policy_file,
            "sanctioned_services": services.iter().filter(|s| s.sanctioned).count(),
            "shadow_services": services.iter().filter(|s| !s.sanctioned).count(),
            "sanctioned": split(true),
            "shadow": split(false),
        });
        json!({
            "schema": SCHEMA,
            "tool": {"name": "lanterne", "version": env!("CARGO_PKG_VERSION")},
            "inputs": inp.inputs,
            "hosts_view": self.view.describe(),
            "catalog": {"version": cat.version(), "services": cat.services.len()},
            "capture": {
                "start": st.first_ns.map(rfc3339),
                "end": st.last_ns.map(rfc3339),
                "packets": st.packets,
                "bytes": st.bytes,
                "duplicates": st.duplicates,
                "flows": self.flows_total,
                "flows_external": self.flows_external,
                "non_ip_packets": st.non_ip,
                "other_ip_packets": st.other_ip,
                "fragments": st.fragments,
                "reassembled_datagrams": st.reassembled,
                "incomplete_datagrams": st.defrag_incomplete,
                "tunneled_packets": st.tunneled,
                "evicted_flows": st.evicted_flows,
                "limits": {
                    "max_memory": self.limits.max_memory,
                    "max_flows": self.limits.max_flows,
                    "max_hosts": self.limits.max_hosts,
                    "evicted_flows": st.evicted_flows,
                    "reassembly_dropped": st.reassembly_dropped,
                    "dns_cache_evictions": st.dns_cache_evictions,
                    "quic_decryptions_skipped": st.quic_decryptions_skipped,
                    "untracked_host_flows": self.untracked_host_flows,
                    "defrag_dropped": st.defrag_dropped,
                    "candidates_dropped": self.candidates_dropped,
                },
                "undecodable": undecodable,
                "anomalies": st.anomalies,
                "drops": {"kernel": inp.drops_kernel, "interface": inp.drops_interface},
                "read_errors": inp.read_errors,
            },
            "visibility": {
                "flows_named": self.flows_named,
                "flows_unnamed": self.flows_unnamed,
                "bytes_named": self.bytes_named,
                "bytes_unnamed": self.bytes_unnamed,
                "named_flow_share": ratio(self.flows_named, self.flows_named + self.flows_unnamed),
                "named_byte_share": ratio(self.bytes_named, total_bytes),
                "ech": self.flows_ech,
                "doh_dot": self.flows_doh_dot,
                "quic_undecryptable": self.flows_quic_undecryptable,
                "dns_flows": self.flows_dns,
                "quic_flows": self.flows_quic,
                "ech_bytes": self.bytes_ech,
                "doh_dot_bytes": self.bytes_doh_dot,
                "quic_undecryptable_bytes": self.bytes_quic_undecryptable,
                "ech_byte_share": ratio(self.bytes_ech, total_bytes),
                "doh_dot_byte_share": ratio(self.bytes_doh_dot, total_bytes),
                "quic_undecryptable_byte_share": ratio(self.bytes_quic_undecryptable, total_bytes),
                "candidate_names": self.candidates.len(),
            },
            "policy": policy,
            "services": services,
            "hosts": hosts,
            "other_hosts": other_hosts,
            "candidates": self.candidates_out(),
            "timeline": {"bucket_seconds": bucket_s, "series": series},
        })
    }

    /// The summary's `candidates`: the [`MAX_CANDIDATES`] largest uploads.
    fn candidates_out(&self) -> Vec<Value> {
        let mut all: Vec<(&str, &CandAgg)> =
            self.candidates.iter().map(|(n, c)| (&**n, c)).collect();
        all.sort_unstable_by(|a, b| b.1.c.up.cmp(&a.1.c.up).then_with(|| a.0.cmp(b.0)));
        all.truncate(MAX_CANDIDATES);
        all.into_iter()
            .map(|(name, c)| {
                let mut hosts: Vec<String> = c.hosts.iter().map(|h| self.view.label(*h)).collect();
                hosts.sort_unstable();
                hosts.truncate(MAX_CANDIDATE_HOSTS_LISTED);
                json!({
                    "name": self.view.show_name(name),
                    "clue": c.clue,
                    "hosts": c.hosts.len(),
                    "flows": c.c.flows,
                    "bytes_up": c.c.up,
                    "bytes_down": c.c.down,
                    "first_seen": rfc3339(c.c.first),
                    "last_seen": rfc3339(c.c.last),
                    "host_list": hosts,
                })
            })
            .collect()
    }
}

/// The CSV of a summary: one row per host × service (RFC 4180, CRLF), the
/// largest uploads first.
pub fn csv_of_summary(summary: &Value) -> String {
    let mut out = String::from(
        "host,service,service_name,vendor,category,sanctioned,flows,bytes_up,bytes_down,first_seen,last_seen,names,risk\r\n",
    );
    let services: BTreeMap<&str, &Value> = summary["services"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| Some((s["id"].as_str()?, s)))
        .collect();
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        v => v.to_string(),
    };
    let mut rows: Vec<(u64, String, String, String)> = Vec::new();
    for h in summary["hosts"].as_array().into_iter().flatten() {
        let host = text(&h["host"]);
        for hs in h["services"].as_array().into_iter().flatten() {
            let id = text(&hs["id"]);
            let s = services.get(id.as_str()).copied().unwrap_or(&Value::Null);
            let names: Vec<String> = hs["names"]
                .as_array()
                .into_iter()
                .flatten()
                .map(text)
                .collect();
            let line = [
                host.clone(),
                id.clone(),
                text(&s["name"]),
                text(&s["vendor"]),
                text(&s["category"]),
                text(&hs["sanctioned"]),
                text(&hs["flows"]),
                text(&hs["bytes_up"]),
                text(&hs["bytes_down"]),
                text(&hs["first_seen"]),
                text(&hs["last_seen"]),
                names.join(" "),
                text(&s["risk"]),
            ]
            .iter()
            .map(|f| csv_field(f))
            .collect::<Vec<_>>()
            .join(",");
            rows.push((hs["bytes_up"].as_u64().unwrap_or(0), host.clone(), id, line));
        }
    }
    rows.sort_by(|a, b| {
        b.0.cmp(&a.0)
            .then_with(|| a.1.cmp(&b.1))
            .then_with(|| a.2.cmp(&b.2))
    });
    for r in rows {
        out.push_str(&r.3);
        out.push_str("\r\n");
    }
    out
}

/// `a / b` rounded to 4 decimals, 0 when `b` is 0 (the summary's shares).
pub fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        ((a as f64 / b as f64) * 10000.0).round() / 10000.0
    }
}

/// RFC 4180 field quoting.
/// One CSV record (RFC 4180) with its CRLF.
pub fn csv_row<S: AsRef<str>>(fields: &[S]) -> String {
    let mut o = fields
        .iter()
        .map(|f| csv_field(f.as_ref()))
        .collect::<Vec<_>>()
        .join(",");
    o.push_str("\r\n");
    o
}

pub fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// RFC 3339 UTC with milliseconds, from nanoseconds since the epoch.
pub fn rfc3339(ns: i64) -> String {
    let ms = ns.div_euclid(1_000_000);
    let secs = ms.div_euclid(1000);
    let milli = ms.rem_euclid(1000);
    let days = secs.div_euclid(86400);
    let sod = secs.rem_euclid(86400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        y,
        m,
        d,
        sod / 3600,
        (sod % 3600) / 60,
        sod % 60,
        milli
    )
}

/// The inverse of [`rfc3339`] (`2025-07-01T08:00:00.123Z`, milliseconds
/// optional): nanoseconds since the epoch.
pub fn parse_rfc3339(t: &str) -> Option<i64> {
    let b = t.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || !t.ends_with('Z') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| t.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let ms = match t.get(19..t.len() - 1)? {
        "" => 0,
        f => f.strip_prefix('.')?.get(..3)?.parse::<i64>().ok()?,
    };
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    // (Nanoseconds since 1970 in an i64 reach the year 2262.)
    if !(1678..=2261).contains(&y) {
        return None;
    }
    // Days from civil (H. Hinnant).
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some((((days * 86_400 + h * 3600 + mi * 60 + se) * 1000) + ms) * 1_000_000)
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian (H. Hinnant).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// The `--stats` report: processing latency and flow distributions.
pub fn stats_report(
    latency: Option<&hdrhistogram::Histogram<u64>>,
    agg: &Aggregator,
    stats: &Stats,
    seconds: f64,
    workers: &[crate::stats::WorkerTimes],
) -> String {
    let mut o = String::from("lanterne --stats\n");
    o.push_str(&format!(
        "  {} packets, {} flows in {:.3} s wall: {:.2} M packets/s\n",
        stats.packets,
        agg.flows_total,
        seconds,
        stats.packets as f64 / seconds.max(1e-9) / 1e6
    ));
    let q = [50.0, 90.0, 99.0, 99.9];
    if let Some(h) = latency {
        o.push_str("  per-packet processing (ns):");
        for p in q {
            o.push_str(&format!(" p{p}={}", h.value_at_percentile(p)));
        }
        o.push_str(&format!(" max={} mean={:.0}\n", h.max(), h.mean()));
    }
    if let Some(dist) = agg.distributions.as_deref() {
        let d = &dist.duration_us;
        o.push_str("  flow duration (ms):");
        for p in q {
            o.push_str(&format!(
                " p{p}={:.1}",
                d.value_at_percentile(p) as f64 / 1000.0
            ));
        }
        o.push_str(&format!(" max={:.1}\n", d.max() as f64 / 1000.0));
        let b = &dist.bytes;
        o.push_str("  flow size (bytes):");
        for p in q {
            o.push_str(&format!(" p{p}={}", b.value_at_percentile(p)));
        }
        o.push_str(&format!(" max={}\n", b.max()));
    }
    if !workers.is_empty() {
        let col = |f: fn(&crate::stats::WorkerTimes) -> f64| {
            workers
                .iter()
                .map(|w| format!("{:.3}", f(w)))
                .collect::<Vec<_>>()
                .join(" / ")
        };
        o.push_str(&format!(
            "  {} workers, seconds each: reading {}, routing {}, analysing {}, waiting {}\n",
            workers.len(),
            col(|w| w.read),
            col(|w| w.route),
            col(|w| w.analyse),
            col(|w| w.wait),
        ));
    }
    o.push_str(&format!(
        "  evicted flows {}, undecodable packets {}, anomalies {:?}\n",
        stats.evicted_flows,
        stats.undecodable_total(),
        stats.anomalies
    ));
    o
}

pub use crate::i18n::human_bytes;

/// The terminal report, from a summary document.
pub fn terminal_table(summary: &Value) -> String {
    terminal_table_in(summary, crate::i18n::Lang::En)
}

/// [`terminal_table`] in a language (`--lang`).
pub fn terminal_table_in(summary: &Value, lang: crate::i18n::Lang) -> String {
    let t = lang.texts();
    let mut o = String::new();
    let cap = &summary["capture"];
    let vis = &summary["visibility"];
    o.push_str(&(t.header)(
        &cap["packets"].to_string(),
        &cap["flows"].to_string(),
        cap["start"].as_str().unwrap_or("-"),
        cap["end"].as_str().unwrap_or("-"),
    ));
    o.push('\n');
    let named = vis["flows_named"].as_u64().unwrap_or(0);
    let unnamed = vis["flows_unnamed"].as_u64().unwrap_or(0);
    let pct = |k: &str| lang.pct(vis[k].as_f64().unwrap_or(0.0) * 100.0);
    o.push_str(&(t.visibility)(
        named,
        named + unnamed,
        &pct("named_flow_share"),
        &pct("named_byte_share"),
    ));
    o.push('\n');
    o.push_str(&(t.hidden)(
        &vis["ech"].to_string(),
        &pct("ech_byte_share"),
        &vis["doh_dot"].to_string(),
        &pct("doh_dot_byte_share"),
        &vis["quic_undecryptable"].to_string(),
        &pct("quic_undecryptable_byte_share"),
    ));
    o.push_str("\n\n");
    let services = summary["services"].as_array().cloned().unwrap_or_default();
    if services.is_empty() {
        o.push_str(t.no_service);
        o.push('\n');
    } else {
        let has_policy = !summary["policy"]["file"].is_null();
        let groups: Vec<(&str, Vec<&Value>)> = if has_policy {
            vec![
                (
                    t.shadow,
                    services
                        .iter()
                        .filter(|s| s["sanctioned"] != true)
                        .collect(),
                ),
                (
                    t.sanctioned,
                    services
                        .iter()
                        .filter(|s| s["sanctioned"] == true)
                        .collect(),
                ),
            ]
        } else {
            vec![("", services.iter().collect())]
        };
        for (title, list) in groups {
            if !title.is_empty() {
                o.push_str(&(t.group)(title, list.len()));
                o.push('\n');
            }
            if list.is_empty() {
                o.push('\n');
                continue;
            }
            let c = &t.service_columns;
            o.push_str(&format!(
                "{:<22} {:<16} {:<10} {:<4} {:<6} {:>6} {:>7} {:>11} {:>11}\n",
                c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8]
            ));
            for s in list {
                o.push_str(&format!(
                    "{:<22} {:<16} {:<10} {:<4} {:<6} {:>6} {:>7} {:>11} {:>11}\n",
                    trunc(s["name"].as_str().unwrap_or(""), 22),
                    trunc(s["vendor"].as_str().unwrap_or(""), 16),
                    s["category"].as_str().unwrap_or(""),
                    s["country"].as_str().unwrap_or(""),
                    lang.risk(s["risk"].as_str().unwrap_or("")),
                    s["hosts"].to_string(),
                    s["flows"].to_string(),
                    lang.bytes(s["bytes_up"].as_u64().unwrap_or(0)),
                    lang.bytes(s["bytes_down"].as_u64().unwrap_or(0)),
                ));
            }
            o.push('\n');
        }
        let hosts = summary["hosts"].as_array().cloned().unwrap_or_default();
        let c = &t.host_columns;
        o.push_str(&format!(
            "{:<40} {:>7} {:>11}  {}\n",
            c[0], c[1], c[2], c[3]
        ));
        for h in hosts.iter().take(20) {
            let svcs: Vec<&str> = h["services"]
                .as_array()
                .map(|a| a.iter().filter_map(|s| s["id"].as_str()).collect())
                .unwrap_or_default();
            o.push_str(&format!(
                "{:<40} {:>7} {:>11}  {}\n",
                h["host"].as_str().unwrap_or(""),
                h["flows"].to_string(),
                lang.bytes(h["bytes_up"].as_u64().unwrap_or(0)),
                svcs.join(", ")
            ));
        }
        if hosts.len() > 20 {
            o.push_str(&(t.more_hosts)(hosts.len() - 20));
            o.push('\n');
        }
    }
    let cands = summary["candidates"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if !cands.is_empty() {
        let total = summary["visibility"]["candidate_names"]
            .as_u64()
            .map_or(cands.len(), |n| (n as usize).max(cands.len()));
        o.push('\n');
        o.push_str(&(t.candidates)(total));
        o.push('\n');
        o.push_str(t.candidates_note);
        o.push('\n');
        let c = &t.candidate_columns;
        o.push_str(&format!(
            "{:<40} {:<18} {:>6} {:>7} {:>11} {:>11}\n",
            c[0], c[1], c[2], c[3], c[4], c[5]
        ));
        for cd in cands.iter().take(20) {
            o.push_str(&format!(
                "{:<40} {:<18} {:>6} {:>7} {:>11} {:>11}\n",
                trunc(cd["name"].as_str().unwrap_or(""), 40),
                cd["clue"].as_str().unwrap_or(""),
                cd["hosts"].to_string(),
                cd["flows"].to_string(),
                lang.bytes(cd["bytes_up"].as_u64().unwrap_or(0)),
                lang.bytes(cd["bytes_down"].as_u64().unwrap_or(0)),
            ));
        }
        if total > 20 {
            o.push_str(&(t.more_candidates)(total - 20));
            o.push('\n');
        }
    }
    let und: u64 = cap["undecodable"]
        .as_object()
        .map(|m| m.values().filter_map(|v| v.as_u64()).sum())
        .unwrap_or(0);
    if und > 0 {
        o.push('\n');
        o.push_str(&(t.undecodable)(und));
        o.push('\n');
    }
    o
}

/// `s` cut to `n` characters, with an ellipsis.
pub(crate) fn trunc(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n - 1).collect();
        t.push('…');
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidates_summary(agg: &Aggregator, cat: &Catalog) -> Value {
        agg.summary(&SummaryInput {
            inputs: &[],
            stats: &Stats::default(),
            catalog: cat,
            sanctioned: &BTreeSet::new(),
            policy_file: None,
            drops_kernel: 0,
            drops_interface: 0,
            read_errors: &[],
        })
    }

    /// Flows to unknown names with a clue are candidates, per name, with
    /// their distinct hosts; catalog names, names without a clue and
    /// external clients are not.
    #[test]
    fn candidates_are_counted_per_name() {
        let cat = Catalog::builtin();
        let sid = cat.match_name("chatgpt.com").map(|m| m.service);
        let mut agg = Aggregator::new(AggOptions::default());
        let t = 1_751_356_800_000_000_000;
        let flows = [
            ("10.0.0.1", "NewBot.AI", None, 100, 1000),
            ("10.0.0.2", "newbot.ai.", None, 50, 500),
            ("10.0.0.1", "newbot.ai", None, 7, 70),
            ("10.0.0.3", "api.gpt-relay.example", None, 9, 90),
            ("10.0.0.3", "www.example.com", None, 1, 1),
            ("10.0.0.3", "chatgpt.com", sid, 1, 1),
            ("203.0.113.9", "other.ai", None, 1, 1),
        ];
        for (i, (c, n, s, up, down)) in flows.into_iter().enumerate() {
            let r = crate::testutil::flow_record(c, n, s, t + i as i64, up, down);
            agg.flow_ended(r, &cat);
        }
        let s = candidates_summary(&agg, &cat);
        assert_eq!(
            s["candidates"],
            json!([
                {"name": "newbot.ai", "clue": "tld-ai", "hosts": 2, "flows": 3, "bytes_up": 157,
                 "bytes_down": 1570, "first_seen": rfc3339(t), "last_seen": rfc3339(t + 2 + 1_000_000),
                 "host_list": ["10.0.0.1", "10.0.0.2"]},
                {"name": "api.gpt-relay.example", "clue": "keyword-gpt", "hosts": 1, "flows": 1,
                 "bytes_up": 9, "bytes_down": 90, "first_seen": rfc3339(t + 3),
                 "last_seen": rfc3339(t + 3 + 1_000_000), "host_list": ["10.0.0.3"]},
            ])
        );
        assert_eq!(s["visibility"]["candidate_names"], 2);
        assert_eq!(s["services"].as_array().unwrap().len(), 1);
        assert_eq!(s["capture"]["limits"]["candidates_dropped"], 0);
    }

    /// The candidates keep to their share of the budget: a flood of names
    /// is cut and counted, and the summary lists at most MAX_CANDIDATES.
    #[test]
    fn candidates_keep_to_their_budget() {
        let cat = Catalog::builtin();
        let budget = 64 << 10;
        let mut agg = Aggregator::new(AggOptions {
            candidate_bytes: budget,
            ..Default::default()
        });
        let n = 5_000;
        for i in 0..n {
            let name = format!("flood{i}.ai");
            let r = crate::testutil::flow_record("10.0.0.1", &name, None, i, 1, 1);
            agg.flow_ended(r, &cat);
        }
        let kept = agg.candidates.len();
        assert!(kept > 100 && kept < n as usize, "{kept}");
        assert!(agg.candidate_bytes <= budget);
        assert_eq!(agg.candidates_dropped, n as u64 - kept as u64);
        // New hosts of a known name are not recorded either, and counted.
        let known = agg.candidates.keys().next().unwrap().to_string();
        for i in 0..1000u32 {
            let host = std::net::Ipv4Addr::from(0x0a01_0000 + i).to_string();
            let r = crate::testutil::flow_record(&host, &known, None, 0, 1, 1);
            agg.flow_ended(r, &cat);
        }
        let hosts = agg.candidates[known.as_str()].hosts.len() as u64;
        assert!(hosts < 1000, "{hosts}");
        assert_eq!(
            agg.candidates_dropped,
            n as u64 - kept as u64 + 1001 - hosts
        );
        assert_eq!(agg.candidates[known.as_str()].c.flows, 1001);
        assert!(agg.candidate_bytes <= budget);
        let mut big = Aggregator::new(AggOptions::default());
        for i in 0..(MAX_CANDIDATES as i64 + 20) {
            let r =
                crate::testutil::flow_record("10.0.0.1", &format!("n{i}.ai"), None, i, i as u64, 1);
            big.flow_ended(r, &cat);
        }
        let s = candidates_summary(&big, &cat);
        let list = s["candidates"].as_array().unwrap();
        assert_eq!(list.len(), MAX_CANDIDATES);
        assert_eq!(list[0]["name"], format!("n{}.ai", MAX_CANDIDATES + 19));
        assert_eq!(s["visibility"]["candidate_names"], MAX_CANDIDATES + 20);
    }

    #[test]
    fn dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            rfc3339(1_751_356_800_123_000_000),
            "2025-07-01T08:00:00.123Z"
        );
        assert_eq!(rfc3339(951_782_400_000_000_000), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn csv_quoting() {
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("plain"), "plain");
    }
}
