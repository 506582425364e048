//! Capture-level counters: packets, bytes, time range, undecodable packets by
//! reason, anomalies by reason. Merged across workers and files.

use std::collections::BTreeMap;

#[derive(Debug, Default, Clone)]
pub struct Stats {
    pub packets: u64,
    /// Frame bytes on the wire (original length).
    pub bytes: u64,
    /// Frames dropped as copies of a frame seen just before (live capture
    /// from overlapping mirror sessions, see [`crate::dedup`]); not in
    /// `packets` or `bytes`.
    pub duplicates: u64,
    pub first_ns: Option<i64>,
    pub last_ns: Option<i64>,
    pub flows: u64,
    pub non_ip: u64,
    pub other_ip: u64,
    pub fragments: u64,
    pub tunneled: u64,
    pub evicted_flows: u64,
    pub tls_client_hellos: u64,
    pub quic_client_hellos: u64,
    pub quic_initials_decrypted: u64,
    pub http_requests: u64,
    pub dns_messages: u64,
    pub dns_names_learned: u64,
    pub dns_cache_resets: u64,
    /// Packets that could not be decoded, by reason.
    pub undecodable: BTreeMap<&'static str, u64>,
    /// Things that did not stop decoding but are worth counting, by reason.
    pub anomalies: BTreeMap<&'static str, u64>,
}

impl Stats {
    #[inline]
    pub fn see_time(&mut self, ts: i64) {
        match self.first_ns {
            Some(f) if f <= ts => {}
            _ => self.first_ns = Some(ts),
        }
        match self.last_ns {
            Some(l) if l >= ts => {}
            _ => self.last_ns = Some(ts),
        }
    }

    pub fn undecodable(&mut self, reason: &'static str) {
        *self.undecodable.entry(reason).or_insert(0) += 1;
    }

    pub fn anomaly(&mut self, reason: &'static str) {
        *self.anomalies.entry(reason).or_insert(0) += 1;
    }

    pub fn anomaly_n(&mut self, reason: &'static str, n: u64) {
        if n > 0 {
            *self.anomalies.entry(reason).or_insert(0) += n;
        }
    }

    pub fn undecodable_total(&self) -> u64 {
        self.undecodable.values().sum()
    }

    pub fn merge(&mut self, o: &Stats) {
        self.packets += o.packets;
        self.bytes += o.bytes;
        self.duplicates += o.duplicates;
        if let Some(f) = o.first_ns {
            self.see_time(f);
        }
        if let Some(l) = o.last_ns {
            self.see_time(l);
        }
        self.flows += o.flows;
        self.non_ip += o.non_ip;
        self.other_ip += o.other_ip;
        self.fragments += o.fragments;
        self.tunneled += o.tunneled;
        self.evicted_flows += o.evicted_flows;
        self.tls_client_hellos += o.tls_client_hellos;
        self.quic_client_hellos += o.quic_client_hellos;
        self.quic_initials_decrypted += o.quic_initials_decrypted;
        self.http_requests += o.http_requests;
        self.dns_messages += o.dns_messages;
        self.dns_names_learned += o.dns_names_learned;
        self.dns_cache_resets += o.dns_cache_resets;
        for (k, v) in &o.undecodable {
            *self.undecodable.entry(k).or_insert(0) += v;
        }
        for (k, v) in &o.anomalies {
            *self.anomalies.entry(k).or_insert(0) += v;
        }
    }
}
