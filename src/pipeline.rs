//! The offline pipeline: inputs → one or several engines → merged results.
//!
//! With one worker, one [`Engine`] reads the inputs in order. With `n`
//! workers, the input is read once, chunk by chunk, by whichever worker is
//! free; each chunk's packets are routed to the worker that owns their flow
//! (see [`Engine::set_shard`], `run_workers`); the results merge
//! order-independently, so the summary does not depend on `n`.

use std::fs::File;
use std::io::{self, Read, Write};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::engine::{Config, Engine, Route, Routed};
use crate::report::{self, AggOptions, Aggregator};
use crate::signatures::Catalog;
use crate::source::pcapfile::{Step, DEFAULT_BUFFER_SIZE, MAX_RECORD_LEN};
use crate::source::{PacketLoc, PacketSource, PcapReader};
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
    /// Where each worker's time went (several workers only), for `--stats`.
    pub workers: Vec<WorkerTimes>,
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

/// Size of the read chunks the workers share (one `read()` each).
pub const CHUNK_BYTES: usize = DEFAULT_BUFFER_SIZE;

/// How many workers, and how the input is cut between them.
#[derive(Debug, Clone, Copy)]
pub struct Workers {
    pub threads: usize,
    /// Read chunk size with several workers (see `run_workers`).
    pub chunk_bytes: usize,
}

impl Workers {
    pub fn new(threads: usize) -> Self {
        Workers {
            threads,
            chunk_bytes: CHUNK_BYTES,
        }
    }
}

/// Analyses `files` in order with `threads` workers (any input: files,
/// gzip, stdin). Read errors are printed as they happen with one worker, at
/// the end with several, when `print_errors`.
#[allow(clippy::too_many_arguments)]
pub fn analyse(
    files: &[String],
    workers: Workers,
    cfg: &Config,
    catalog: &Catalog,
    agg_opts: AggOptions,
    facts_out: Option<Box<dyn Write + Send>>,
    progress: bool,
    print_errors: bool,
) -> Analysis {
    let threads = workers.threads.clamp(1, 64);
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
            workers: Vec::new(),
        };
    }
    let (stats, agg, read_errors, facts, latency, workers) = run_workers(
        threads,
        workers.chunk_bytes.clamp(64, MAX_RECORD_LEN),
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
        workers,
    }
}

type WorkerResult = (
    crate::stats::Stats,
    Aggregator,
    Vec<(u32, u64, String)>,
    Option<hdrhistogram::Histogram<u64>>,
    WorkerTimes,
);

/// Merged results: statistics, aggregates, read errors, facts by (file, frame),
/// latency, per-worker times.
type Merged = (
    Stats,
    Aggregator,
    Vec<String>,
    Vec<(u32, u64, String)>,
    Option<hdrhistogram::Histogram<u64>>,
    Vec<WorkerTimes>,
);

/// The buffers of one chunk of input, recycled from chunk to chunk: the read
/// buffer, where its packets lie, and the decoded packets of each worker.
#[derive(Default)]
struct ChunkBufs {
    buf: Vec<u8>,
    locs: Vec<PacketLoc>,
    routes: Vec<Vec<Routed>>,
}

struct Chunk {
    file: u32,
    bufs: ChunkBufs,
}

/// The input side, behind one lock: whoever holds it reads the next chunk.
struct InputState<'f> {
    files: &'f [String],
    next_file: usize,
    reader: Option<(u32, FileReader)>,
    /// Chunks handed out so far.
    seq: u64,
    errors: Vec<String>,
    /// Reader anomalies of the finished inputs.
    stats: Stats,
    progress: bool,
    bar: Progress,
    chunk_bytes: usize,
}

impl InputState<'_> {
    /// Reads the next chunk into `bufs`; returns its file index, or `None`
    /// when every input has been read.
    fn read_chunk(&mut self, bufs: &mut ChunkBufs) -> Option<u32> {
        bufs.locs.clear();
        loop {
            let Some((file, reader)) = self.reader.as_mut() else {
                let i = self.next_file;
                let path = self.files.get(i)?;
                self.next_file += 1;
                match open_reader(path, self.chunk_bytes) {
                    Ok((mut reader, total)) => {
                        reader.set_chunked();
                        self.bar = Progress::new(
                            self.progress && total.is_some_and(|t| t > 64 << 20),
                            total,
                        );
                        self.reader = Some((i as u32, reader));
                    }
                    Err(e) => self.errors.push(e),
                }
                continue;
            };
            let file = *file;
            reader.add_spare(std::mem::take(&mut bufs.buf));
            let end = loop {
                match reader.next_chunked() {
                    Ok(Step::Packet(loc)) => bufs.locs.push(loc),
                    Ok(Step::Cut) => {
                        bufs.buf = reader.cut();
                        if self.bar.enabled {
                            let frame = bufs.locs.last().map_or(0, |l| l.frame);
                            self.bar.update(reader.offset(), frame);
                        }
                        return Some(file);
                    }
                    Ok(Step::End) => break None,
                    Err(e) => break Some(e),
                }
            };
            // The end of this input (or a read error after its last good packet).
            if let Some(e) = end {
                self.errors
                    .push(format!("{}: {e}", self.files[file as usize]));
            }
            bufs.buf = reader.take_buffer();
            for (reason, n) in reader.anomalies() {
                self.stats.anomaly_n(reason, *n);
            }
            self.bar.finish();
            self.reader = None;
            return Some(file);
        }
    }
}

/// Chunks on their way to the workers.
struct Ring {
    /// Published chunks: (sequence number, chunk, how many workers took it),
    /// in slot `seq % len`. Chunks in flight have consecutive numbers and are
    /// at most as many as the buffers, so two never share a slot (and nothing
    /// is allocated per chunk, unlike a map's inserts and removals).
    ready: Vec<Option<(u64, Arc<Chunk>, usize)>>,
    free: Vec<ChunkBufs>,
    /// Chunk buffers in existence (bounded: memory stays flat).
    allocated: usize,
    /// Number of chunks, once the input is exhausted.
    end: Option<u64>,
    /// A worker panicked: the others stop instead of waiting for its chunks.
    aborted: bool,
}

/// Marks the ring aborted if the worker holding it unwinds, so that the other
/// workers never wait forever for a chunk it was reading or routing (the
/// panic then surfaces when the workers are joined).
struct AbortOnPanic<'a> {
    ring: &'a Mutex<Ring>,
    changed: &'a Condvar,
}

impl Drop for AbortOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            lock(self.ring).aborted = true;
            self.changed.notify_all();
        }
    }
}

/// Runs `n` workers over all inputs and merges their results: the summary is
/// the same whatever `n` (see `Engine::set_shard`).
///
/// The input is read once, in chunks (one read buffer each, `chunk_bytes`),
/// by whichever worker is free: it takes the input lock, reads the next
/// chunk, releases the lock, then decodes every packet of the chunk and
/// routes it (flow owner, or every worker for DNS) as a [`Routed`] record
/// pointing into the chunk's buffer, and publishes the chunk. Every worker
/// processes its packets of chunk 0, 1, 2, ... in order, so each flow sees
/// its packets in capture order; a worker that routes the chunk it is due to
/// process next handles its own packets right away. Reading, decoding and
/// analysis are spread over all workers; no packet is copied or decoded
/// twice, a few locks are taken per chunk, and at most `2n + 2` chunks are
/// in flight (bounded memory).
#[allow(clippy::too_many_arguments)]
fn run_workers(
    n: usize,
    chunk_bytes: usize,
    cfg: &Config,
    catalog: &Catalog,
    agg_opts: &AggOptions,
    files: &[String],
    facts: bool,
    progress: bool,
) -> Merged {
    let input = Mutex::new(InputState {
        files,
        next_file: 0,
        reader: None,
        seq: 0,
        errors: Vec::new(),
        stats: Stats::default(),
        progress,
        bar: Progress::new(false, None),
        chunk_bytes,
    });
    let max_chunks = 2 * n + 2;
    let ring = Mutex::new(Ring {
        ready: (0..max_chunks).map(|_| None).collect(),
        free: Vec::new(),
        allocated: 0,
        end: None,
        aborted: false,
    });
    let changed = Condvar::new();

    let results: Vec<WorkerResult> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..n)
            .map(|w| {
                let cfg = cfg.clone();
                let opts = agg_opts.clone();
                let (input, ring, changed) = (&input, &ring, &changed);
                s.spawn(move || {
                    let _abort = AbortOnPanic { ring, changed };
                    let mut agg = Aggregator::new(opts);
                    let sink = facts.then(crate::facts::FactSink::memory);
                    let mut engine = Engine::with_facts(cfg, catalog, sink);
                    engine.set_shard(w as u32, n as u32);
                    let mut next: u64 = 0;
                    let mut file = u32::MAX;
                    let mut times = WorkerTimes::default();
                    loop {
                        let waiting = Instant::now();
                        let mut r = lock(ring);
                        // Wait until this worker's next chunk is published, or
                        // the input is free to read (and a buffer with it).
                        let job = loop {
                            if r.aborted {
                                break Err(None);
                            }
                            let at = (next % max_chunks as u64) as usize;
                            if let Some(Some((seq, chunk, taken))) = r.ready.get_mut(at) {
                                if *seq == next {
                                    *taken += 1;
                                    let chunk = Arc::clone(chunk);
                                    if *taken == n {
                                        r.ready[at] = None;
                                    }
                                    break Ok(chunk);
                                }
                            }
                            if r.end.is_some_and(|e| next >= e) {
                                break Err(None);
                            }
                            if r.end.is_none() && (!r.free.is_empty() || r.allocated < max_chunks) {
                                if let Ok(inp) = input.try_lock() {
                                    let bufs = match r.free.pop() {
                                        Some(b) => b,
                                        None => {
                                            r.allocated += 1;
                                            ChunkBufs::default()
                                        }
                                    };
                                    break Err(Some((inp, bufs)));
                                }
                            }
                            r = changed.wait(r).unwrap_or_else(|e| e.into_inner());
                        };
                        drop(r);
                        let started = Instant::now();
                        times.wait += started.duration_since(waiting).as_secs_f64();
                        match job {
                            Ok(chunk) => {
                                if chunk.file != file {
                                    file = chunk.file;
                                    engine.set_file(file);
                                }
                                let bufs = &chunk.bufs;
                                if let Some(mine) = bufs.routes.get(w) {
                                    for r in mine {
                                        engine.process_routed(r, &bufs.buf, &mut agg);
                                    }
                                }
                                next += 1;
                                times.analyse += started.elapsed().as_secs_f64();
                                if let Some(done) = Arc::into_inner(chunk) {
                                    lock(ring).free.push(done.bufs);
                                    changed.notify_all();
                                }
                            }
                            Err(Some((mut inp, mut bufs))) => {
                                let Some(chunk_file) = inp.read_chunk(&mut bufs) else {
                                    let mut r = lock(ring);
                                    r.end = Some(inp.seq);
                                    r.free.push(bufs);
                                    drop(r);
                                    drop(inp);
                                    changed.notify_all();
                                    continue;
                                };
                                let seq = inp.seq;
                                inp.seq += 1;
                                drop(inp);
                                let routing = Instant::now();
                                times.read += routing.duration_since(started).as_secs_f64();
                                changed.notify_all();
                                // Up to date with every earlier chunk: process this
                                // worker's packets right away, while they are hot.
                                let inline = next == seq;
                                if inline && chunk_file != file {
                                    file = chunk_file;
                                    engine.set_file(file);
                                }
                                let ChunkBufs { buf, locs, routes } = &mut bufs;
                                routes.resize_with(n, Vec::new);
                                for r in routes.iter_mut() {
                                    r.clear();
                                }
                                for loc in locs.iter() {
                                    let raw = loc.packet(buf);
                                    let Some((route, pkt, hash)) = engine.route(&raw) else {
                                        continue;
                                    };
                                    match route {
                                        Route::Worker(o) if inline && o as usize == w => {
                                            engine.process_decoded(
                                                &pkt, raw.ts_ns, raw.frame, hash, &mut agg,
                                            );
                                        }
                                        Route::Worker(o) => {
                                            if let Some(r) = routes.get_mut(o as usize) {
                                                r.push(Routed::new(&pkt, &raw, buf, hash));
                                            }
                                        }
                                        Route::All => {
                                            let routed = Routed::new(&pkt, &raw, buf, hash);
                                            for (i, r) in routes.iter_mut().enumerate() {
                                                if inline && i == w {
                                                    engine.process_decoded(
                                                        &pkt, raw.ts_ns, raw.frame, hash, &mut agg,
                                                    );
                                                } else {
                                                    r.push(routed);
                                                }
                                            }
                                        }
                                    }
                                }
                                times.route += routing.elapsed().as_secs_f64();
                                let taken = usize::from(inline);
                                if inline {
                                    next += 1;
                                }
                                let chunk = Arc::new(Chunk {
                                    file: chunk_file,
                                    bufs,
                                });
                                if taken < n {
                                    let at = (seq % max_chunks as u64) as usize;
                                    let mut r = lock(ring);
                                    debug_assert!(r.ready[at].is_none(), "two chunks in slot {at}");
                                    r.ready[at] = Some((seq, chunk, taken));
                                    drop(r);
                                    changed.notify_all();
                                } else if let Some(done) = Arc::into_inner(chunk) {
                                    lock(ring).free.push(done.bufs);
                                }
                            }
                            Err(None) => break,
                        }
                    }
                    let flushing = Instant::now();
                    engine.flush(&mut agg);
                    times.analyse += flushing.elapsed().as_secs_f64();
                    let facts = engine.take_facts();
                    (
                        engine.stats.clone(),
                        agg,
                        facts,
                        engine.latency.take(),
                        times,
                    )
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("worker panicked"))
            .collect()
    });
    let input = input.into_inner().unwrap_or_else(|e| e.into_inner());
    let mut stats = input.stats;
    let mut agg: Option<Aggregator> = None;
    let mut facts = Vec::new();
    let mut latency: Option<hdrhistogram::Histogram<u64>> = None;
    let mut workers = Vec::with_capacity(results.len());
    for (s, a, f, l, t) in results {
        workers.push(t);
        stats.merge(&s);
        match agg.as_mut() {
            Some(agg) => agg.merge(a),
            None => agg = Some(a),
        }
        facts.extend(f);
        match (latency.as_mut(), l) {
            (Some(h), Some(l)) => {
                let _ = h.add(&l);
            }
            (None, l) => latency = l,
            _ => {}
        }
    }
    // Frame order, as one worker would have written them.
    facts.sort_by_key(|(file, frame, _)| (*file, *frame));
    let agg = agg.unwrap_or_else(|| Aggregator::new(agg_opts.clone()));
    (stats, agg, input.errors, facts, latency, workers)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

type FileReader = PcapReader<Box<dyn Read + Send>>;

/// Opens one input: the reader and the file size (none for stdin).
fn open_reader(path: &str, buffer: usize) -> Result<(FileReader, Option<u64>), String> {
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
    let reader = PcapReader::with_limits(input, buffer, MAX_RECORD_LEN)
        .map_err(|e| format!("{path}: {e}"))?;
    let total = if reader.is_gzip() { None } else { total };
    Ok((reader, total))
}

/// Reads one input into the engine. Errors are "file: offset N: reason".
fn read_one(
    path: &str,
    engine: &mut Engine<'_>,
    agg: &mut Aggregator,
    progress: bool,
) -> Result<(), String> {
    let (mut reader, total) = open_reader(path, DEFAULT_BUFFER_SIZE)?;
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
