//! Capture-level counters: packets, bytes, time range, undecodable packets by
//! reason, anomalies by reason. Merged across workers and files.

use std::collections::BTreeMap;

/// Calls `$m` with every plain counter of [`Stats`] (one list for
/// [`Stats::merge`] and [`Stats::since`]).
macro_rules! counters {
    ($m:ident) => {
        $m!(packets bytes duplicates flows non_ip other_ip fragments tunneled evicted_flows
            tls_client_hellos quic_client_hellos quic_initials_decrypted http_requests
            dns_messages dns_names_learned dns_cache_evictions reassembly_dropped
            quic_decryptions_skipped reassembled defrag_incomplete defrag_dropped)
    };
}

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
    /// DNS names forgotten to keep the cache within its budget.
    pub dns_cache_evictions: u64,
    /// Flows whose deep inspection stopped because all flows' reassembly
    /// buffers reached their budget.
    pub reassembly_dropped: u64,
    /// New QUIC connections not decrypted: over the decryption budget.
    pub quic_decryptions_skipped: u64,
    /// IP datagrams reassembled from fragments (see [`crate::defrag`]).
    pub reassembled: u64,
    /// Fragmented datagrams given up: not complete within the timeout or by
    /// the end of the input.
    pub defrag_incomplete: u64,
    /// Fragmented datagrams given up to stay within the defrag budget.
    pub defrag_dropped: u64,
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

    /// What was counted since `base` (an earlier copy of these counters),
    /// with the time range `first..last` given (the counters only know
    /// their whole range).
    pub fn since(&self, base: &Stats, first: Option<i64>, last: Option<i64>) -> Stats {
        let sub = |m: &BTreeMap<&'static str, u64>, b: &BTreeMap<&'static str, u64>| {
            m.iter()
                .map(|(k, v)| (*k, v.saturating_sub(b.get(k).copied().unwrap_or(0))))
                .filter(|(_, v)| *v > 0)
                .collect()
        };
        let mut d = Stats {
            first_ns: first,
            last_ns: last,
            undecodable: sub(&self.undecodable, &base.undecodable),
            anomalies: sub(&self.anomalies, &base.anomalies),
            ..Stats::default()
        };
        macro_rules! diff {
            ($($c:ident)*) => { $( d.$c = self.$c - base.$c; )* };
        }
        counters!(diff);
        d
    }

    pub fn merge(&mut self, o: &Stats) {
        macro_rules! add {
            ($($c:ident)*) => { $( self.$c += o.$c; )* };
        }
        counters!(add);
        if let Some(f) = o.first_ns {
            self.see_time(f);
        }
        if let Some(l) = o.last_ns {
            self.see_time(l);
        }
        for (k, v) in &o.undecodable {
            *self.undecodable.entry(k).or_insert(0) += v;
        }
        for (k, v) in &o.anomalies {
            *self.anomalies.entry(k).or_insert(0) += v;
        }
    }
}

/// Wall time one worker spent in each phase, in seconds.
#[derive(Debug, Clone, Copy, Default)]
pub struct WorkerTimes {
    /// Reading chunks (the kernel copy and the record walk, under the input lock).
    pub read: f64,
    /// Decoding and routing the chunks it read (and analysing its own packets
    /// of them when it was up to date).
    pub route: f64,
    /// Analysing its packets of chunks, routed by itself or by other workers.
    pub analyse: f64,
    /// Waiting for a chunk or for the input.
    pub wait: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A period's counters added to the counters at its start give the
    /// counters at its end.
    #[test]
    fn since_is_the_difference() {
        let mut base = Stats {
            packets: 10,
            bytes: 1000,
            duplicates: 1,
            flows: 3,
            ..Stats::default()
        };
        base.anomaly("a");
        base.undecodable("truncated_ip");
        let mut end = base.clone();
        end.packets += 5;
        end.bytes += 700;
        end.flows += 2;
        end.dns_messages += 4;
        end.anomaly("a");
        end.anomaly("b");
        let d = end.since(&base, Some(7), Some(9));
        assert_eq!(
            (d.packets, d.bytes, d.flows, d.dns_messages, d.duplicates),
            (5, 700, 2, 4, 0)
        );
        assert_eq!((d.first_ns, d.last_ns), (Some(7), Some(9)));
        assert!(d.undecodable.is_empty());
        let mut back = base.clone();
        back.merge(&d);
        assert_eq!(
            (back.packets, back.bytes, back.flows),
            (end.packets, end.bytes, end.flows)
        );
        assert_eq!(back.anomalies, end.anomalies);
    }
}
