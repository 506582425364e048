//! Record walk over a capture with lanterne's reader or with libpcap, to choose
//! the reader by measurement (see BENCHMARKS.md).
//!
//! usage: walk (lanterne|libpcap) FILE
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 3 {
        eprintln!("usage: walk (lanterne|libpcap) FILE");
        std::process::exit(2);
    }
    let t = Instant::now();
    let (mut n, mut bytes) = (0u64, 0u64);
    match args[1].as_str() {
        "lanterne" => {
            let f = std::fs::File::open(&args[2]).expect("open");
            let mut r = lanterne::source::pcapfile::PcapReader::new(f).expect("header");
            while let Ok(Some(p)) = r.next_packet() {
                n += 1;
                bytes += p.data.len() as u64;
            }
        }
        "libpcap" => {
            let mut c = pcap::Capture::from_file(&args[2]).expect("open");
            while let Ok(p) = c.next_packet() {
                n += 1;
                bytes += p.data.len() as u64;
            }
        }
        other => panic!("unknown reader {other}"),
    }
    let s = t.elapsed().as_secs_f64();
    println!(
        "{} packets={} caplen_bytes={} seconds={:.3} Mpps={:.2}",
        args[1],
        n,
        bytes,
        s,
        n as f64 / s / 1e6
    );
}
