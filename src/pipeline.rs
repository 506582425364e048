//! The offline pipeline: inputs → one or several engines → merged results.
//!
//! With one worker, one [`Engine`] reads the inputs in order. With `n`
//! workers, each worker reads every input itself (plain files only) and keeps
//! the flows its shard owns (see [`Engine::set_shard`]); the results merge
//! order-independently, so the summary does not depend on `n`.

use std::fs::File;
use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

use crate::engine::{Config, Engine};
use crate::report::{self, AggOptions, Aggregator};
use crate::signatures::Catalog;
use crate::source::{PacketSource, PcapReader};
use crate::stats::Stats;

/// What a run produced.
pub struct Analysis {
    pub stats: Stats,
    pub agg: Aggregator,
    /// One line per input that could not be read to the end.
    pub read_errors: Vec<String>,
    /// `--facts` output errors.
    pub facts_error: Option<String>,
    pub latency: Option<hdrhistogram::Histogram<u64>>,
    /// Workers actually used.
    pub threads: usize,
}

/// Analyses `files` in order with up to `threads` workers (several only
/// when every input is a plain file; stdin is read once, gzip decompressed
/// once). Read errors are printed as they happen when `print_errors`.
#[allow(clippy::too_many_arguments)]
pub fn analyse(
    files: &[String],
    threads: usize,
    cfg: &Config,
    catalog: &Catalog,
    agg_opts: AggOptions,
    facts_out: Option<Box<dyn Write + Send>>,
    progress: bool,
    print_errors: bool,
) -> Analysis {
    let threads = if threads > 1 && files.iter().all(|f| is_plain_file(f)) {
        threads.min(64)
    } else {
        1
    };
    if threads == 1 {
        let mut agg = Aggregator::new(agg_opts);
        let mut engine = Engine::new(cfg.clone(), catalog, facts_out);
        let mut read_errors: Vec<String> = Vec::new();
        for (i, path) in files.iter().enumerate() {
            engine.set_file(i as u32);
            if let Err(e) = read_one(path, &mut engine, &mut agg, progress) {
                if print_errors {
                    eprintln!("lanterne: {e}");
                }
                read_errors.push(e);
            }
        }
        engine.flush(&mut agg);
        return Analysis {
            stats: engine.stats.clone(),
            facts_error: engine.facts_error(),
            latency: engine.latency.take(),
            agg,
            read_errors,
            threads,
        };
    }
    let (stats, agg, read_errors, facts, latency) = run_workers(
        threads,
        cfg,
        catalog,
        &agg_opts,
        files,
        facts_out.is_some(),
        progress,
    );
    if print_errors {
        for e in &read_errors {
            eprintln!("lanterne: {e}");
        }
    }
    let mut facts_error = None;
    if let Some(mut out) = facts_out {
        let res = facts
            .iter()
            .try_for_each(|(_, _, l)| out.write_all(l.as_bytes()))
            .and_then(|_| out.flush());
        if let Err(e) = res {
            facts_error = Some(e.to_string());
        }
    }
    Analysis {
        stats,
        agg,
        read_errors,
        facts_error,
        latency,
        threads,
    }
}

/// A regular, uncompressed file (several workers can each read it).
fn is_plain_file(path: &str) -> bool {
    if path == "-" {
        return false;
    }
    let Ok(mut f) = File::open(path) else {
        return false;
    };
    if !f.metadata().is_ok_and(|m| m.is_file()) {
        return false;
    }
    let mut magic = [0u8; 2];
    !(f.read_exact(&mut magic).is_ok() && magic == [0x1f, 0x8b])
}

type WorkerResult = (
    crate::stats::Stats,
    Aggregator,
    Vec<String>,
    Vec<(u32, u64, String)>,
    Option<hdrhistogram::Histogram<u64>>,
);

/// Runs `n` workers over all inputs (see `Engine::set_shard`) and merges
/// their results: the summary is the same whatever `n`.
fn run_workers(
    n: usize,
    cfg: &Config,
    catalog: &Catalog,
    agg_opts: &AggOptions,
    files: &[String],
    facts: bool,
    progress: bool,
) -> WorkerResult {
    let results: Vec<WorkerResult> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..n)
            .map(|w| {
                let cfg = cfg.clone();
                let opts = agg_opts.clone();
                s.spawn(move || {
                    let mut agg = Aggregator::new(opts);
                    let sink = facts.then(crate::facts::FactSink::memory);
                    let mut engine = Engine::with_facts(cfg, catalog, sink);
                    engine.set_shard(w as u32, n as u32);
                    let mut errors = Vec::new();
                    for (i, path) in files.iter().enumerate() {
                        engine.set_file(i as u32);
                        if let Err(e) = read_one(path, &mut engine, &mut agg, progress && w == 0) {
                            errors.push(e);
                        }
                    }
                    engine.flush(&mut agg);
                    let facts = engine.take_facts();
                    (
                        engine.stats.clone(),
                        agg,
                        errors,
                        facts,
                        engine.latency.take(),
                    )
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("worker panicked"))
            .collect()
    });
    let mut it = results.into_iter();
    let (mut stats, mut agg, errors, mut facts, mut latency) =
        it.next().expect("at least one worker");
    for (s, a, _, f, l) in it {
        stats.merge(&s);
        agg.merge(a);
        facts.extend(f);
        if let (Some(h), Some(l)) = (latency.as_mut(), l) {
            let _ = h.add(&l);
        }
    }
    // Frame order, as one worker would have written them.
    facts.sort_by_key(|(file, frame, _)| (*file, *frame));
    (stats, agg, errors, facts, latency)
}

/// Reads one input into the engine. Errors are "file: offset N: reason".
fn read_one(
    path: &str,
    engine: &mut Engine<'_>,
    agg: &mut Aggregator,
    progress: bool,
) -> Result<(), String> {
    let (input, total): (Box<dyn Read + Send>, Option<u64>) = if path == "-" {
        (Box::new(io::stdin()), None)
    } else {
        let f = File::open(path).map_err(|e| format!("{path}: cannot open: {}", io_reason(&e)))?;
        let meta = f.metadata().map_err(|e| format!("{path}: {e}"))?;
        if meta.is_dir() {
            return Err(format!("{path}: is a directory"));
        }
        (Box::new(f), Some(meta.len()))
    };
    let reader = PcapReader::new(input).map_err(|e| format!("{path}: {e}"))?;
    let total = if reader.is_gzip() { None } else { total };
    let mut reader = reader;
    let mut bar = Progress::new(progress && total.is_some_and(|t| t > 64 << 20), total);
    let result = pump(&mut reader, engine, agg, &mut bar).map_err(|e| format!("{path}: {e}"));
    bar.finish();
    result
}

/// Feeds every frame of a source to the engine (generic: no dynamic dispatch per packet).
fn pump<S: PacketSource>(
    src: &mut S,
    engine: &mut Engine<'_>,
    agg: &mut Aggregator,
    bar: &mut Progress,
) -> Result<(), crate::source::ReadError> {
    let mut result = Ok(());
    loop {
        match src.next_packet() {
            Ok(Some(p)) => {
                engine.process(&p, agg);
                if bar.enabled && p.frame % 65536 == 0 {
                    bar.update(src.position(), engine.stats.packets);
                }
            }
            Ok(None) => break,
            Err(e) => {
                result = Err(e);
                break;
            }
        }
    }
    if engine.counts_packets() {
        for (reason, n) in src.anomalies() {
            engine.stats.anomaly_n(reason, n);
        }
    }
    result
}

fn io_reason(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::NotFound => "no such file".into(),
        io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

/// A one-line progress bar on stderr: bytes, packets/s, ETA.
struct Progress {
    enabled: bool,
    total: Option<u64>,
    start: Instant,
    last: Instant,
}

impl Progress {
    fn new(enabled: bool, total: Option<u64>) -> Self {
        let now = Instant::now();
        Progress {
            enabled,
            total,
            start: now,
            last: now,
        }
    }

    fn update(&mut self, done: u64, packets: u64) {
        let now = Instant::now();
        if now.duration_since(self.last) < Duration::from_millis(200) {
            return;
        }
        self.last = now;
        let secs = now.duration_since(self.start).as_secs_f64().max(1e-3);
        let rate = packets as f64 / secs;
        let (pct, eta) = match self.total {
            Some(t) if t > 0 && done > 0 => {
                let frac = (done as f64 / t as f64).min(1.0);
                (frac * 100.0, secs * (1.0 - frac) / frac)
            }
            _ => (0.0, 0.0),
        };
        let width = 30;
        let filled = ((pct / 100.0) * width as f64) as usize;
        eprint!(
            "\r[{}{}] {:5.1}%  {}  {:.2} Mpkt/s  ETA {:.0}s   ",
            "#".repeat(filled),
            " ".repeat(width - filled),
            pct,
            report::human_bytes(done),
            rate / 1e6,
            eta
        );
    }

    fn finish(&mut self) {
        if self.enabled {
            eprint!("\r{}\r", " ".repeat(80));
        }
    }
}
