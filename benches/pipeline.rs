//! Criterion benches: the per-packet building blocks and a whole-file run.
//!
//! The whole-file bench reads a capture made by the traffic generator
//! (tests/tools/gen_bench_pcap.py, 2,000 flows) from memory, so it measures
//! parsing and analysis, not the disk. Set LANTERNE_BENCH_PCAP to use another
//! file.

use std::hint::black_box;
use std::path::PathBuf;
use std::process::Command;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

use lanterne::decode;
use lanterne::engine::{Config, Engine, FlowRecord, FlowSink};
use lanterne::proto::{dns, http, tls};
use lanterne::signatures::Catalog;
use lanterne::source::pcapfile::PcapReader;
use lanterne::testutil;

struct NullSink(u64);
impl FlowSink for NullSink {
    fn flow_ended(&mut self, r: FlowRecord, _c: &Catalog) {
        self.0 += r.bytes_up;
    }
}

fn bench_catalog(c: &mut Criterion) {
    let cat = Catalog::builtin();
    let mut g = c.benchmark_group("signatures");
    g.bench_function("load_builtin_catalog", |b| b.iter(Catalog::builtin));
    g.bench_function("match_hit_exact", |b| {
        b.iter(|| cat.match_name(black_box("chatgpt.com")))
    });
    g.bench_function("match_hit_suffix", |b| {
        b.iter(|| cat.match_name(black_box("ab.chatgpt.com")))
    });
    g.bench_function("match_miss_long", |b| {
        b.iter(|| {
            cat.match_name(black_box(
                "e1234.dsce9.akamaiedge.net.globalredir.akadns.net",
            ))
        })
    });
    g.finish();
}

fn frame() -> Vec<u8> {
    let payload = tls::build_client_hello(Some("chatgpt.com"), &["h2", "http/1.1"], false, 512);
    let ip = testutil::ipv4_tcp(
        [10, 20, 0, 5],
        [104, 18, 32, 47],
        50000,
        443,
        1,
        0x18,
        &payload,
    );
    testutil::eth(0x0800, &ip)
}

fn bench_parsers(c: &mut Criterion) {
    let f = frame();
    let mut g = c.benchmark_group("parsers");
    g.bench_function("decode_eth_ipv4_tcp", |b| {
        b.iter(|| decode::decode(1, black_box(&f)))
    });
    let ch = tls::build_client_hello(Some("chatgpt.com"), &["h2", "http/1.1"], false, 512);
    g.bench_function("tls_client_hello_512", |b| {
        b.iter(|| tls::parse_client_hello(black_box(&ch)))
    });
    let pq = tls::build_client_hello(Some("claude.ai"), &["h2"], true, 1800);
    g.bench_function("tls_client_hello_1800", |b| {
        b.iter(|| tls::parse_client_hello(black_box(&pq)))
    });
    let mut q = vec![0x12, 0x34, 0x81, 0x80, 0, 1, 0, 2, 0, 0, 0, 0];
    q.extend_from_slice(b"\x07chatgpt\x03com\x00\x00\x01\x00\x01");
    q.extend_from_slice(
        b"\xc0\x0c\x00\x05\x00\x01\x00\x00\x00\x3c\x00\x12\x03cdn\x0acloudflare\x03net\x00",
    );
    q.extend_from_slice(b"\xc0\x29\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04\x68\x12\x20\x2f");
    g.bench_function("dns_response_cname", |b| {
        b.iter(|| dns::parse_message(black_box(&q)))
    });
    let req = b"POST /v1/chat/completions HTTP/1.1\r\nHost: api.openai.com\r\nUser-Agent: x\r\nContent-Length: 10\r\n\r\n";
    g.bench_function("http_request_head", |b| {
        b.iter(|| http::parse_request_head(black_box(req)))
    });
    g.finish();
}

fn bench_path() -> Option<PathBuf> {
    bench_file()?;
    Some(match std::env::var_os("LANTERNE_BENCH_PCAP") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("bench-2000.pcap"),
    })
}

/// The whole pipeline (`lanterne read` without output files) at 1 and N
/// worker threads, throughput in bytes and packets.
fn bench_pipeline(c: &mut Criterion) {
    use lanterne::pipeline;
    use lanterne::report::AggOptions;
    let Some(path) = bench_path() else {
        return;
    };
    let files = vec![path.to_string_lossy().to_string()];
    let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    let cat = Catalog::builtin();
    // As `lanterne read` without --events: no JA4/JA3.
    let cfg = Config {
        fingerprints: false,
        ..Config::default()
    };
    let opts = AggOptions::default;
    let run = |threads: usize| {
        pipeline::analyse(
            &files,
            pipeline::Workers::new(threads),
            &cfg,
            &cat,
            opts(),
            None,
            false,
            false,
        )
        .stats
        .packets
    };
    let packets = run(1);
    let n = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .max(2);
    for (label, tp) in [
        ("bytes", Throughput::Bytes(bytes)),
        ("packets", Throughput::Elements(packets)),
    ] {
        let mut g = c.benchmark_group(format!("pipeline_{label}"));
        g.sample_size(10);
        g.throughput(tp);
        for threads in [1, n] {
            g.bench_function(format!("threads_{threads}"), |b| b.iter(|| run(threads)));
        }
        g.finish();
    }
}

fn bench_file() -> Option<Vec<u8>> {
    let path = match std::env::var_os("LANTERNE_BENCH_PCAP") {
        Some(p) => PathBuf::from(p),
        None => {
            let p = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("bench-2000.pcap");
            if !p.exists() {
                let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/tools/gen_bench_pcap.py");
                let ok = Command::new("python3")
                    .args([script, "--out"])
                    .arg(&p)
                    .args(["--flows", "2000", "--duration", "10", "--seed", "1"])
                    .status()
                    .map(|s| s.success())
                    .unwrap_or(false);
                if !ok {
                    eprintln!("whole_file bench skipped: python3 generator not available");
                    return None;
                }
            }
            p
        }
    };
    std::fs::read(path).ok()
}

fn bench_whole_file(c: &mut Criterion) {
    let Some(bytes) = bench_file() else {
        return;
    };
    let cat = Catalog::builtin();
    let mut packets = 0u64;
    {
        let mut r = PcapReader::new(&bytes[..]).unwrap();
        while let Ok(Some(_)) = r.next_packet() {
            packets += 1;
        }
    }
    let mut g = c.benchmark_group("whole_file");
    g.sample_size(10);
    g.throughput(Throughput::Elements(packets));
    g.bench_function("record_walk", |b| {
        b.iter(|| {
            let mut r = PcapReader::new(&bytes[..]).unwrap();
            let mut n = 0u64;
            while let Ok(Some(p)) = r.next_packet() {
                n += p.data.len() as u64;
            }
            n
        })
    });
    g.bench_function("read_analyse", |b| {
        b.iter(|| {
            let mut r = PcapReader::new(&bytes[..]).unwrap();
            // As `lanterne read` without --events: no JA4/JA3.
            let cfg = Config {
                fingerprints: false,
                ..Config::default()
            };
            let mut e = Engine::new(cfg, &cat, None);
            let mut sink = NullSink(0);
            while let Ok(Some(p)) = r.next_packet() {
                e.process(&p, &mut sink);
            }
            e.flush(&mut sink);
            sink.0
        })
    });
    g.finish();
}

fn bench_quic(c: &mut Criterion) {
    use lanterne::proto::quic;
    let ch = tls::build_client_hello(Some("chatgpt.com"), &["h3"], false, 1500);
    let dcid = [0x83, 0x94, 0xc8, 0xf0, 0x3e, 0x51, 0x57, 0x08];
    let pkt = testutil::quic_initial(1, &dcid, 0, &testutil::crypto_frame(0, &ch[5..]), 1162);
    let params = quic::version_params(1).unwrap();
    let keys = quic::InitialKeys::new(1, params, &dcid);
    let h = quic::parse_long_header(&pkt).unwrap();
    let mut out = Vec::with_capacity(2048);
    let mut g = c.benchmark_group("quic");
    g.bench_function("derive_initial_keys", |b| {
        b.iter(|| quic::InitialKeys::new(1, params, black_box(&dcid)))
    });
    g.bench_function("open_initial_1200", |b| {
        b.iter(|| {
            keys.open(black_box(&pkt), h.pn_offset, &mut out)
                .unwrap()
                .len()
        })
    });
    // A whole client handshake datagram through the engine: flow creation, key
    // derivation, decryption, CRYPTO reassembly, ClientHello, JA4/JA3, catalog.
    let frame = testutil::eth_ipv4_udp([10, 0, 0, 5], [104, 18, 32, 47], 50000, 443, &pkt);
    let cat = Catalog::builtin();
    g.bench_function("engine_client_initial_datagram", |b| {
        b.iter(|| {
            // As `lanterne read` without --events: no JA4/JA3.
            let cfg = Config {
                fingerprints: false,
                ..Config::default()
            };
            let mut e = Engine::new(cfg, &cat, None);
            let mut sink = NullSink(0);
            let p = lanterne::source::RawPacket {
                ts_ns: 1,
                linktype: 1,
                data: &frame,
                orig_len: frame.len() as u32,
                frame: 1,
            };
            e.process(&p, &mut sink);
            e.stats.quic_client_hellos
        })
    });
    g.finish();
}

criterion_group!(
    benches,
    bench_catalog,
    bench_parsers,
    bench_quic,
    bench_whole_file,
    bench_pipeline
);
criterion_main!(benches);
