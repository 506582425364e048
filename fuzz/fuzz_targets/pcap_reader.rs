//! A capture file: the pcap/pcapng (and gzip) reader, then the whole
//! analysis of what it reads (decoder, tunnels, every extractor).
#![no_main]

use lanterne::engine::{Config, Engine};
use lanterne::report::{AggOptions, Aggregator};
use lanterne::signatures::Catalog;
use lanterne::source::PcapReader;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    thread_local! {
        static CATALOG: &'static Catalog = Box::leak(Box::new(Catalog::builtin()));
    }
    let cat = CATALOG.with(|c| *c);
    let Ok(mut reader) = PcapReader::new(std::io::Cursor::new(data)) else {
        return;
    };
    let mut engine = Engine::new(Config::default(), cat, Some(Box::new(std::io::sink())));
    let mut agg = Aggregator::new(AggOptions::default());
    while let Ok(Some(p)) = reader.next_packet() {
        engine.process(&p, &mut agg);
    }
    engine.flush(&mut agg);
});
