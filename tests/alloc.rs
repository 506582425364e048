//! The hot path allocates nothing: once a flow is set up and named, its
//! packets cost no allocation (counted by a counting global allocator, not
//! timed). Whole-capture numbers (per-flow setup included) are bounded too.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use lanterne::engine::{Config, Engine, FlowRecord, FlowSink};
use lanterne::proto::tls;
use lanterne::signatures::Catalog;
use lanterne::source::{PcapReader, RawPacket};
use lanterne::testutil::{crypto_frame, eth_ipv4_tcp, eth_ipv4_udp, quic_initial};

struct Counting;

thread_local! {
    // Per thread: the test harness runs tests on several threads at once.
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

fn count() {
    let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        count();
        System.alloc(l)
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        System.dealloc(p, l)
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        count();
        System.realloc(p, l, n)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocs() -> u64 {
    ALLOCS.with(|c| c.get())
}

struct Null(u64);
impl FlowSink for Null {
    fn flow_ended(&mut self, r: FlowRecord, _: &Catalog) {
        self.0 += r.bytes_up;
    }
}

fn feed(e: &mut Engine<'_>, sink: &mut Null, ts_us: i64, frame: &[u8]) {
    let p = RawPacket {
        ts_ns: 1_700_000_000_000_000_000 + ts_us * 1000,
        linktype: 1,
        data: frame,
        orig_len: frame.len() as u32,
        frame: 1,
    };
    e.process(&p, sink);
}

#[test]
fn established_flows_allocate_nothing_per_packet() {
    let cat = Catalog::builtin();
    let mut e = Engine::new(Config::default(), &cat, None);
    let mut sink = Null(0);
    let (c, s) = ([10, 0, 0, 5], [104, 18, 32, 47]);
    // TCP: handshake, ClientHello (named chatgpt.com), then data both ways.
    feed(
        &mut e,
        &mut sink,
        0,
        &eth_ipv4_tcp(c, s, 40000, 443, 99, 0x02, &[]),
    );
    feed(
        &mut e,
        &mut sink,
        1,
        &eth_ipv4_tcp(s, c, 443, 40000, 7, 0x12, &[]),
    );
    let ch = tls::build_client_hello(Some("chatgpt.com"), &["h2"], false, 0);
    feed(
        &mut e,
        &mut sink,
        2,
        &eth_ipv4_tcp(c, s, 40000, 443, 100, 0x18, &ch),
    );
    feed(
        &mut e,
        &mut sink,
        3,
        &eth_ipv4_tcp(
            c,
            s,
            40000,
            443,
            100 + ch.len() as u32,
            0x18,
            &[0x17, 3, 3, 0, 1, 0],
        ),
    );
    // QUIC: a client Initial with the ClientHello, then a short-header packet.
    let rec = tls::build_client_hello(Some("gemini.google.com"), &["h3"], false, 0);
    let init = quic_initial(1, &[1; 8], 0, &crypto_frame(0, &rec[5..]), 1100);
    feed(&mut e, &mut sink, 4, &eth_ipv4_udp(c, s, 50000, 443, &init));
    feed(
        &mut e,
        &mut sink,
        5,
        &eth_ipv4_udp(c, s, 50000, 443, &[0x40; 60]),
    );
    assert_eq!(e.stats.tls_client_hellos + e.stats.quic_client_hellos, 2);

    let data_up = eth_ipv4_tcp(c, s, 40000, 443, 5000, 0x18, &[0x17; 1400]);
    let data_down = eth_ipv4_tcp(s, c, 443, 40000, 9000, 0x10, &[0x17; 1400]);
    let quic_up = eth_ipv4_udp(c, s, 50000, 443, &[0x41; 1200]);
    let quic_down = eth_ipv4_udp(s, c, 443, 50000, &[0x42; 1200]);
    let before = allocs();
    let n = 50_000i64;
    for i in 0..n {
        // 10 µs apart: 0.5 s of capture time, expiry checks included.
        let t = 10 + i * 10;
        feed(&mut e, &mut sink, t, &data_up);
        feed(&mut e, &mut sink, t, &data_down);
        feed(&mut e, &mut sink, t, &quic_up);
        feed(&mut e, &mut sink, t, &quic_down);
    }
    let per_packet = (allocs() - before) as f64 / (4 * n) as f64;
    assert_eq!(
        allocs() - before,
        0,
        "{per_packet} allocations per packet on established flows"
    );
    assert_eq!(e.active_flows(), 2);
}

#[test]
fn whole_capture_allocations_are_bounded() {
    // A real browser session: per-flow setup and DNS parsing included.
    let bytes = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/corpus/pcap/ai__chatgpt-browser_frames-0001-0500.pcapng"
    ))
    .unwrap();
    let cat = Catalog::builtin();
    let mut e = Engine::new(Config::default(), &cat, None);
    let mut sink = Null(0);
    let mut r = PcapReader::new(&bytes[..]).unwrap();
    let before = allocs();
    let mut packets = 0u64;
    while let Ok(Some(p)) = r.next_packet() {
        e.process(&p, &mut sink);
        packets += 1;
    }
    let total = allocs() - before;
    let flows = e.stats.flows;
    e.flush(&mut sink);
    assert_eq!(packets, 500);
    eprintln!("{total} allocations, {packets} packets, {flows} flows");
    // Setup of 35 flows (TLS/QUIC/DNS state, names) plus 54 DNS messages: well
    // under a few allocations per packet on average.
    assert!(
        total < 6 * packets,
        "{total} allocations for {packets} packets and {flows} flows"
    );
}
