//! The multi-worker pipeline allocates nothing per packet either: reading in
//! shared chunks, routing and analysing cost about two small allocations per
//! 1 MiB chunk (the shared chunk handle among them), 0.0027 per packet here;
//! nothing per packet (counted over all threads by a counting global
//! allocator; this file holds one test so that nothing else runs in the
//! process meanwhile).

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use lanterne::engine::Config;
use lanterne::pipeline::{self, Workers};
use lanterne::proto::tls;
use lanterne::report::AggOptions;
use lanterne::signatures::Catalog;
use lanterne::testutil::{eth_ipv4_tcp, eth_ipv4_udp};

struct Counting;
static ALLOCS: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        System.alloc(l)
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        System.dealloc(p, l)
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        System.realloc(p, l, n)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// A classic pcap: 64 TLS flows set up and named, then `rounds` rounds of one
/// data packet each way on every flow (and a DNS-port UDP pair, which every
/// worker follows).
fn write_capture(path: &Path, rounds: u32) -> u64 {
    // Classic pcap header: magic (µs), version 2.4, zone, sigfigs, snaplen, Ethernet.
    let mut out = Vec::new();
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    for v in [0u32, 0, 65535, 1] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    let mut packets = 0u64;
    let mut t = 1_700_000_000u32;
    let mut us = 0u32;
    let mut push = |out: &mut Vec<u8>, frame: &[u8]| {
        us += 20;
        if us >= 1_000_000 {
            us -= 1_000_000;
            t += 1;
        }
        for v in [t, us, frame.len() as u32, frame.len() as u32] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(frame);
        packets += 1;
    };
    let server = [104, 18, 32, 47];
    let ch = tls::build_client_hello(Some("chatgpt.com"), &["h2"], false, 0);
    for f in 0..64u8 {
        let c = [10, 0, 1, f];
        let port = 40000 + u16::from(f);
        push(&mut out, &eth_ipv4_tcp(c, server, port, 443, 99, 0x02, &[]));
        push(&mut out, &eth_ipv4_tcp(server, c, 443, port, 7, 0x12, &[]));
        push(
            &mut out,
            &eth_ipv4_tcp(c, server, port, 443, 100, 0x18, &ch),
        );
    }
    let up = [0x17u8; 1200];
    let down = [0x17u8; 1400];
    for _ in 0..rounds {
        for f in 0..64u8 {
            let c = [10, 0, 1, f];
            let port = 40000 + u16::from(f);
            push(
                &mut out,
                &eth_ipv4_tcp(c, server, port, 443, 5000, 0x18, &up),
            );
            push(
                &mut out,
                &eth_ipv4_tcp(server, c, 443, port, 9000, 0x10, &down),
            );
        }
        push(
            &mut out,
            &eth_ipv4_udp([10, 0, 2, 1], [10, 0, 0, 53], 5353, 53, &[0; 40]),
        );
    }
    std::fs::write(path, out).unwrap();
    packets
}

fn allocations_for(path: &Path, threads: usize) -> (u64, u64) {
    let cat = Catalog::builtin();
    let opts = AggOptions::default();
    let cfg = Config {
        fingerprints: false,
        ..Config::default()
    };
    let files = vec![path.to_string_lossy().to_string()];
    let before = ALLOCS.load(Ordering::Relaxed);
    let run = pipeline::analyse(
        &files,
        Workers::new(threads),
        &cfg,
        &cat,
        opts,
        None,
        false,
        false,
    );
    let used = ALLOCS.load(Ordering::Relaxed) - before;
    assert!(run.read_errors.is_empty(), "{:?}", run.read_errors);
    (used, run.stats.packets)
}

#[test]
fn workers_allocate_nothing_per_packet() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("alloc-threads-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let small = dir.join("small.pcap");
    let big = dir.join("big.pcap");
    let n_small = write_capture(&small, 200);
    let n_big = write_capture(&big, 2200);
    for threads in [1, 2, 3] {
        let (a_small, p_small) = allocations_for(&small, threads);
        let (a_big, p_big) = allocations_for(&big, threads);
        assert_eq!((p_small, p_big), (n_small, n_big));
        // Same flows, 10x the packets: what the extra packets cost.
        let extra = a_big.saturating_sub(a_small) as f64 / (p_big - p_small) as f64;
        eprintln!("{threads} threads: {extra:.5} allocations per extra packet");
        assert!(
            extra < 0.01,
            "{threads} threads: {extra:.4} allocations per packet ({a_small} for {p_small} packets, {a_big} for {p_big})"
        );
    }
}
