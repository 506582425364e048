//! One memory budget (`--max-memory`) split into caps on every table that
//! traffic can grow: flows, reassembly buffers, the DNS name cache, per-host
//! aggregates and the duplicate-frame window.
//!
//! A sensor on a mirror port sees whatever an attacker sends: random
//! 5-tuples, ClientHellos that never end, floods of DNS answers or QUIC
//! Initials. Each table has a cap derived from the budget, and what a cap
//! turns away is counted (summary `capture.limits`, Prometheus
//! `lanterne_limit_hits_total`), never silently lost:
//!
//! | state | share | when full |
//! |---|---|---|
//! | flow table | 35 % | a flow with the earliest deadline ends (`evicted_flows`) |
//! | reassembly buffers (TCP streams, QUIC CRYPTO) | 15 % | the flow that started buffering first stops being inspected (`reassembly_dropped`) |
//! | DNS name cache | 15 % | the older half of the names is forgotten (`dns_cache_evictions`) |
//! | per-host aggregates (and their copies in snapshots and reports) | 13 % | a new host's flows count for the services, not per host (`untracked_host_flows`) |
//! | candidates (names that look like AI services the catalog does not know) | 2 % | a new name, or a new host of a name, is not recorded (`candidates_dropped`) |
//! | read chunks in flight (`read`, several workers) | 10 % | smaller chunks (at most 1 MiB each) |
//! | duplicate window (capture `--dedup-ms`) | 5 % | the oldest frames are forgotten first |
//! | IP datagrams waiting for fragments | 5 % | the oldest are given up (`defrag_dropped`) |
//!
//! The rest, and a fixed [`RESERVE`] taken first, cover the program, the
//! catalog, I/O buffers, live capture batches and the reports. QUIC Initial decryption also has
//! a rate budget ([`QUIC_DECRYPTS_PER_SEC`], capture time): beyond it new
//! QUIC connections are not decrypted (`quic_decryptions_skipped`).
//!
//! The per-entry costs below are upper estimates of what an entry holds
//! (the table slot, its index and expiry entries, the allocator's rounding);
//! the stress test (`tests/stress.rs`) checks the whole process's peak RSS
//! against the budget under an attack mix.

use crate::flow::FlowTable;
use crate::source::pcapfile::{DEFAULT_BUFFER_SIZE, MAX_RECORD_LEN};

/// Size of the read chunks the workers share (one `read()` each; see
/// [`crate::pipeline`]), at most.
pub const CHUNK_BYTES: usize = DEFAULT_BUFFER_SIZE;

/// Default `--max-memory`.
pub const DEFAULT_MAX_MEMORY: u64 = 1 << 30;
/// Smallest `--max-memory` accepted.
pub const MIN_MAX_MEMORY: u64 = 64 << 20;
/// Taken off the budget before it is split: the program and its libraries,
/// the catalog, thread stacks, I/O buffers.
pub const RESERVE: u64 = 32 << 20;
/// What a read chunk in flight costs, in chunk bytes: the chunk, where its
/// packets lie, the decoded packets routed to each worker and the DNS names
/// they teach (a chunk of small packets or of DNS answers).
const CHUNK_COST: usize = 8;
/// Bytes a DNS cache entry costs besides its name.
pub const DNS_ENTRY_COST: usize = 112;
/// Bytes a tracked internal host costs: its aggregate with a few services,
/// its copy in a live snapshot, and its lines of the summary JSON being
/// built (measured: about 1.7 KiB in all).
pub const HOST_COST: usize = 2048;
/// Bytes a candidate name costs besides its name (its map entry, counts
/// and clue), and each host recorded for it.
pub const CANDIDATE_COST: usize = 160;
pub const CANDIDATE_HOST_COST: usize = 48;
/// Bytes a remembered frame costs in the duplicate window.
pub const DEDUP_ENTRY_COST: usize = 48;
/// New QUIC connections whose Initials are decrypted per second of capture
/// time, over all workers (burst: one second's worth). A busy office opens
/// a few hundred a second; a flood is cut here.
pub const QUIC_DECRYPTS_PER_SEC: u64 = 50_000;

/// The caps one budget gives, for the whole process; each worker gets its
/// share ([`Limits::share`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_memory: u64,
    pub max_flows: usize,
    pub reassembly_bytes: usize,
    pub dns_cache_bytes: usize,
    pub max_hosts: usize,
    /// Bytes of candidate names and their hosts ([`CANDIDATE_COST`]).
    pub candidate_bytes: usize,
    pub dedup_entries: usize,
    pub quic_decrypts_per_sec: u64,
    /// Read chunk size with several workers.
    pub chunk_bytes: usize,
    /// Bytes of IP datagrams waiting for fragments.
    pub defrag_bytes: usize,
    /// Largest record a capture file may hold: an eighth of the budget, at
    /// most 256 MiB (libpcap itself refuses records over 256 KiB for most
    /// link types); a bigger one is a bad record, not an allocation.
    pub max_record: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits::from_budget(DEFAULT_MAX_MEMORY, 1)
    }
}

impl Limits {
    /// Splits `max_memory` bytes for `threads` workers (see the module
    /// documentation).
    pub fn from_budget(max_memory: u64, threads: usize) -> Limits {
        let usable = max_memory.saturating_sub(RESERVE) as f64;
        let part = |share: f64| (usable * share) as usize;
        // At most 2n + 2 chunks are in flight (see crate::pipeline).
        let in_flight = 2 * threads.max(1) + 2;
        Limits {
            max_memory,
            max_flows: (part(0.35) / FlowTable::BYTES_PER_FLOW).max(1),
            reassembly_bytes: part(0.15),
            dns_cache_bytes: part(0.15),
            max_hosts: (part(0.13) / HOST_COST).max(1),
            candidate_bytes: part(0.02),
            dedup_entries: (part(0.05) / DEDUP_ENTRY_COST).max(1),
            quic_decrypts_per_sec: QUIC_DECRYPTS_PER_SEC,
            defrag_bytes: part(0.05),
            chunk_bytes: (part(0.10) / (CHUNK_COST * in_flight)).clamp(64 << 10, CHUNK_BYTES),
            max_record: ((max_memory / 8) as usize).clamp(64 << 10, MAX_RECORD_LEN),
        }
    }

    /// One worker's share when `n` work side by side: each has its own flow
    /// table, reassembly buffers, fragments and QUIC budget, and holds a copy
    /// of the same DNS names (every worker learns them all), so each gets
    /// `1/n` of those caps. (The pipeline divides the hosts between the
    /// workers' aggregators; the duplicate window, chunk size and record
    /// limit are not per worker.)
    pub fn share(mut self, n: usize) -> Limits {
        let n = n.max(1);
        self.max_flows = (self.max_flows / n).max(1);
        self.reassembly_bytes /= n;
        self.dns_cache_bytes /= n;
        self.defrag_bytes /= n;
        self.quic_decrypts_per_sec = (self.quic_decrypts_per_sec / n as u64).max(1);
        self
    }

    /// With at most `max_flows` flows (`--max-flows`, when lower).
    pub fn with_max_flows(mut self, max_flows: Option<usize>) -> Limits {
        if let Some(n) = max_flows {
            self.max_flows = self.max_flows.min(n.max(1));
        }
        self
    }
}

/// Parses a size: bytes, or with a K, M, G or T suffix (powers of 1024,
/// an optional `i`/`iB`/`B` after it): `512M`, `2G`, `1.5GiB`.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let digits = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(digits);
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "ki" | "kib" => 1 << 10,
        "m" | "mb" | "mi" | "mib" => 1 << 20,
        "g" | "gb" | "gi" | "gib" => 1 << 30,
        "t" | "tb" | "ti" | "tib" => 1 << 40,
        _ => return Err(format!("{s:?}: not a size (e.g. 512M, 2G)")),
    };
    let v: f64 = num
        .parse()
        .map_err(|_| format!("{s:?}: not a size (e.g. 512M, 2G)"))?;
    let bytes = v * mult as f64;
    if !bytes.is_finite() || bytes >= u64::MAX as f64 {
        return Err(format!("{s:?}: too large"));
    }
    Ok(bytes as u64)
}

/// A token bucket in capture time: `rate` tokens a second, up to `rate`
/// saved. Capture time only moves forward here (an earlier timestamp adds
/// nothing).
#[derive(Debug, Clone)]
pub struct Budget {
    rate: u64,
    tokens: u64,
    last_ns: Option<i64>,
}

impl Budget {
    pub fn new(rate: u64) -> Budget {
        Budget {
            rate,
            tokens: rate,
            last_ns: None,
        }
    }

    /// Takes a token at capture time `ts` if there is one.
    pub fn take(&mut self, ts: i64) -> bool {
        match self.last_ns {
            None => self.last_ns = Some(ts),
            // A second or more (timestamps from a file may be far apart):
            // full again.
            Some(last) if ts > last && ts.abs_diff(last) >= 1_000_000_000 => {
                self.tokens = self.rate;
                self.last_ns = Some(ts);
            }
            Some(last) if ts > last => {
                let elapsed = ts.abs_diff(last);
                let add = elapsed.saturating_mul(self.rate) / 1_000_000_000;
                if add > 0 {
                    self.tokens = self.tokens.saturating_add(add).min(self.rate);
                    // Keep the fraction of a token not added yet.
                    let used_ns = add.saturating_mul(1_000_000_000) / self.rate.max(1);
                    self.last_ns = Some(if self.tokens == self.rate {
                        ts
                    } else {
                        last + used_ns as i64
                    });
                }
            }
            _ => {}
        }
        if self.tokens > 0 {
            self.tokens -= 1;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1024").unwrap(), 1024);
        assert_eq!(parse_size("64M").unwrap(), 64 << 20);
        assert_eq!(parse_size("2G").unwrap(), 2 << 30);
        assert_eq!(parse_size("1.5GiB").unwrap(), 3 << 29);
        assert_eq!(parse_size("512 MB").unwrap(), 512 << 20);
        assert!(parse_size("12Q").is_err());
        assert!(parse_size("").is_err());
        assert!(parse_size("1e400").is_err());
        assert!(parse_size("99999999999T").is_err());
    }

    #[test]
    fn budget_split() {
        let l = Limits::from_budget(1 << 30, 2);
        let usable = (1u64 << 30) - RESERVE;
        let total = l.max_flows * FlowTable::BYTES_PER_FLOW
            + l.reassembly_bytes
            + l.dns_cache_bytes
            + l.max_hosts * HOST_COST
            + l.candidate_bytes
            + l.dedup_entries * DEDUP_ENTRY_COST
            + l.defrag_bytes
            + l.chunk_bytes * CHUNK_COST * 6;
        assert!(total as u64 <= usable, "{total} of {usable}");
        // The default keeps about 495 000 flows, 65 000 hosts, 20 MB of
        // candidates and full-size chunks.
        assert!(l.max_flows > 450_000, "{}", l.max_flows);
        assert!(l.max_hosts > 64_000, "{}", l.max_hosts);
        assert!(l.candidate_bytes > 19 << 20, "{}", l.candidate_bytes);
        assert_eq!(l.chunk_bytes, CHUNK_BYTES);
        // A small budget: smaller chunks.
        let s = Limits::from_budget(64 << 20, 2);
        assert!(s.chunk_bytes < l.chunk_bytes && s.chunk_bytes >= 64 << 10);
        let w = l.share(2);
        assert_eq!(
            (w.max_flows, w.dns_cache_bytes),
            (l.max_flows / 2, l.dns_cache_bytes / 2)
        );
        assert_eq!(w.dedup_entries, l.dedup_entries);
        assert_eq!(l.with_max_flows(Some(10)).max_flows, 10);
        assert_eq!(l.with_max_flows(Some(1 << 40)).max_flows, l.max_flows);
    }

    #[test]
    fn token_bucket_refills_with_capture_time() {
        let mut b = Budget::new(10);
        let t0 = 1_000_000_000_000;
        assert_eq!((0..15).filter(|_| b.take(t0)).count(), 10);
        // 0.35 s later: 3 tokens (and half of one kept).
        assert_eq!((0..15).filter(|_| b.take(t0 + 350_000_000)).count(), 3);
        assert_eq!((0..15).filter(|_| b.take(t0 + 400_000_000)).count(), 1);
        // Time going back adds nothing.
        assert!(!b.take(t0));
        // Never more than one second's worth.
        assert_eq!((0..50).filter(|_| b.take(t0 + 100_000_000_000)).count(), 10);
        // Timestamps at the ends of time (a crafted file) do not overflow.
        let mut b = Budget::new(50_000);
        assert!(b.take(i64::MIN));
        assert!(b.take(i64::MAX));
        assert!(b.take(0));
        assert!(b.take(i64::MAX - 1));
    }
}
