//! Mutated copies of every corpus capture (random byte flips, truncations,
//! both) go through the reader and the engine without a panic, and a cut
//! capture still yields the counts of what was read before the cut.

mod common;

use std::io::Cursor;

use common::*;
use lanterne::engine::{Config, Engine};
use lanterne::report::{AggOptions, Aggregator};
use lanterne::signatures::Catalog;
use lanterne::source::PcapReader;

/// Mutated copies of each capture.
const ROUNDS: usize = 24;

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Reads `bytes` as a capture through the whole analysis; the packets read.
fn analyse(bytes: Vec<u8>, cat: &Catalog) -> u64 {
    let Ok(mut reader) = PcapReader::new(Cursor::new(bytes)) else {
        return 0; // not a capture any more: a clear error, as `read` says
    };
    let mut engine = Engine::new(Config::default(), cat, Some(Box::new(std::io::sink())));
    let mut agg = Aggregator::new(AggOptions::default());
    while let Ok(Some(p)) = reader.next_packet() {
        engine.process(&p, &mut agg);
    }
    engine.flush(&mut agg);
    engine.stats.packets
}

#[test]
fn mutated_corpus_captures_never_panic() {
    let cat = Catalog::builtin();
    let mut files: Vec<_> = std::fs::read_dir(data("corpus/pcap"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() > 90);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut runs = 0;
    let mut total = 0;
    for f in &files {
        let orig = std::fs::read(f).unwrap();
        let whole = analyse(orig.clone(), &cat);
        total += whole;
        for round in 0..ROUNDS {
            let mut m = orig.clone();
            // Flips: about one byte in a thousand, at least one.
            if round % 3 != 1 {
                for _ in 0..(m.len() / 1000).max(1) {
                    let i = rng.below(m.len());
                    m[i] ^= 1 << rng.below(8);
                }
            }
            // Cuts anywhere, record headers and block lengths included.
            if round % 3 != 0 {
                let keep = rng.below(m.len());
                m.truncate(keep);
            }
            let n = analyse(m, &cat);
            // A cut capture never reads more than the whole one.
            if round % 3 == 1 {
                assert!(n <= whole, "{f:?}: {n} > {whole}");
            }
            runs += 1;
        }
    }
    assert_eq!(runs, files.len() * ROUNDS);
    // (The unmutated corpus is read whole: the analysis really ran.)
    assert!(total > 20_000, "{total} packets");
}
