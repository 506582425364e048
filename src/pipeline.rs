//! The offline pipeline: inputs → one or several engines → merged results.
//!
//! With one worker, one [`Engine`] reads the inputs in order. With `n`
//! workers, the input is read once, chunk by chunk, by whichever worker is
//! free; each chunk's packets are routed to the worker that owns their flow
//! (see [`Engine::set_shard`], `run_workers`); the results merge
//! order-independently, so the summary does not depend on `n` (as long as no
//! cap of the memory budget is reached: each worker has `1/n` of each, see
//! [`crate::limits`]).

use std::fs::File;
use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::engine::{Config, DnsLearn, Engine, Route, Routed};
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

pub use crate::stats::WorkerTimes;

/// How long a worker with nothing to do spins before it sleeps: about
/// 20-40 µs, the time to route a few hundred packets.
const SPINS: u32 = 1 << 13;

pub use crate::limits::CHUNK_BYTES;

/// How many workers, and how the input is cut between them.
#[derive(Debug, Clone, Copy)]
pub struct Workers {
    pub threads: usize,
    /// Read chunk size with several workers (see `run_workers`).
    pub chunk_bytes: usize,
    /// Largest record accepted in an input (see [`crate::limits`]).
    pub max_record: usize,
}

impl Workers {
    pub fn new(threads: usize) -> Self {
        Workers {
            threads,
            chunk_bytes: CHUNK_BYTES,
            max_record: MAX_RECORD_LEN,
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
            if let Err(e) = read_one(path, workers.max_record, &mut engine, &mut agg, progress) {
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
    let (stats, agg, read_errors, facts_error, latency, workers) = run_workers(
        threads,
        workers.chunk_bytes.clamp(64, MAX_RECORD_LEN),
        workers.max_record,
        cfg,
        catalog,
        &agg_opts,
        files,
        facts_out,
        progress,
    );
    if print_errors {
        for e in &read_errors {
            eprintln!("lanterne: {e}");
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
    Option<hdrhistogram::Histogram<u64>>,
    WorkerTimes,
);

/// Merged results: statistics, aggregates, read errors, the `--facts` write
/// error, latency, per-worker times.
type Merged = (
    Stats,
    Aggregator,
    Vec<String>,
    Option<String>,
    Option<hdrhistogram::Histogram<u64>>,
    Vec<WorkerTimes>,
);

/// `--facts` with several workers: each worker keeps the facts it finds,
/// tagged with their chunk, and hands them over here once it is through with
/// the chunk; when every worker is, the chunk's facts are written in frame
/// order (in worker order for the same frame, as one worker would). Only the
/// chunks in flight have facts waiting: memory stays bounded however long
/// the input.
struct FactMerge {
    out: Box<dyn Write + Send>,
    /// Per chunk not written yet: the workers through with it, and the facts
    /// of each worker.
    pending: std::collections::BTreeMap<u64, (usize, Vec<Vec<crate::facts::Kept>>)>,
    /// The next chunk to write.
    next: u64,
    n: usize,
    error: Option<String>,
}

impl FactMerge {
    fn new(out: Box<dyn Write + Send>, n: usize) -> Self {
        FactMerge {
            out: Box::new(io::BufWriter::with_capacity(256 * 1024, out)),
            pending: Default::default(),
            next: 0,
            n,
            error: None,
        }
    }

    /// Worker `w` is through with chunk `seq`; `facts` are its facts of
    /// chunks up to it.
    fn done(&mut self, w: usize, seq: u64, facts: Vec<crate::facts::Kept>) {
        let n = self.n;
        let new = || (0, vec![Vec::new(); n]);
        for k in facts {
            self.pending.entry(k.0).or_insert_with(new).1[w].push(k);
        }
        self.pending.entry(seq).or_insert_with(new).0 += 1;
        self.write_complete(false);
    }

    /// Writes the chunks every worker is through with, in order (`all`: every
    /// chunk left, at the end).
    fn write_complete(&mut self, all: bool) {
        while let Some(mut e) = self.pending.first_entry() {
            let seq = *e.key();
            let ready = all || seq < self.next || (seq == self.next && e.get().0 >= self.n);
            if !ready {
                break;
            }
            self.next = self.next.max(seq + 1);
            let mut facts: Vec<crate::facts::Kept> = std::mem::take(&mut e.get_mut().1)
                .into_iter()
                .flatten()
                .collect();
            e.remove();
            facts.sort_by_key(|k| (k.1, k.2));
            if self.error.is_none() {
                if let Err(err) = facts
                    .iter()
                    .try_for_each(|k| self.out.write_all(k.3.as_bytes()))
                {
                    self.error = Some(err.to_string());
                }
            }
        }
    }

    fn finish(mut self) -> Option<String> {
        self.write_complete(true);
        if let Err(e) = self.out.flush() {
            self.error.get_or_insert(e.to_string());
        }
        self.error
    }
}

/// The buffers of one chunk of input, recycled from chunk to chunk: the read
/// buffer, where its packets lie, the decoded packets of each worker, and the
/// names its DNS responses taught (parsed once, learned by every worker).
#[derive(Default)]
struct ChunkBufs {
    buf: Vec<u8>,
    locs: Vec<PacketLoc>,
    routes: Vec<Vec<Routed>>,
    learned: Vec<DnsLearn>,
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
    max_record: usize,
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
                match open_reader(path, self.chunk_bytes, self.max_record) {
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

/// What the workers share: the input, the chunks in flight, and a condition
/// variable signalled whenever either changes.
struct Shared<'f> {
    input: Mutex<InputState<'f>>,
    ring: Mutex<Ring>,
    changed: Condvar,
    /// Bumped (after the change, before `changed` is signalled) whenever a
    /// chunk is published or released, the input is freed or ends: a worker
    /// with nothing to do spins on it for a while before sleeping (see
    /// `next_job`).
    events: AtomicU64,
    /// Workers.
    n: usize,
    /// Chunk buffers at most (and slots in `Ring::ready`).
    max_chunks: usize,
    /// `--facts`: where the workers' facts meet.
    facts: Option<Mutex<FactMerge>>,
}

/// What a worker does next.
enum Job<'s, 'f> {
    /// Process its packets of this chunk.
    Process(Arc<Chunk>),
    /// Read the next chunk (the input is held) into these buffers.
    Read(MutexGuard<'s, InputState<'f>>, ChunkBufs),
    /// Everything is read and processed (or a worker panicked).
    Done,
}

impl<'f> Shared<'f> {
    fn slot(&self, seq: u64) -> usize {
        (seq % self.max_chunks as u64) as usize
    }

    /// Waits until chunk `next` is published, or the input is free to read
    /// (with a buffer for it), or there is nothing left.
    fn next_job(&self, next: u64) -> Job<'_, 'f> {
        let mut r = lock(&self.ring);
        loop {
            let seen = self.events.load(Ordering::Acquire);
            if r.aborted {
                return Job::Done;
            }
            let at = self.slot(next);
            if let Some(Some((seq, chunk, taken))) = r.ready.get_mut(at) {
                if *seq == next {
                    *taken += 1;
                    let chunk = Arc::clone(chunk);
                    if *taken == self.n {
                        r.ready[at] = None;
                    }
                    return Job::Process(chunk);
                }
            }
            if r.end.is_some_and(|e| next >= e) {
                return Job::Done;
            }
            if r.end.is_none() && (!r.free.is_empty() || r.allocated < self.max_chunks) {
                if let Ok(input) = self.input.try_lock() {
                    let bufs = r.free.pop().unwrap_or_else(|| {
                        r.allocated += 1;
                        ChunkBufs::default()
                    });
                    return Job::Read(input, bufs);
                }
            }
            // Nothing to do yet. The other workers usually publish or free
            // something within microseconds: spin a little (lock released)
            // rather than pay a sleep and a wake-up for every chunk.
            drop(r);
            let mut spins = 0u32;
            while self.events.load(Ordering::Acquire) == seen && spins < SPINS {
                std::hint::spin_loop();
                spins += 1;
            }
            r = lock(&self.ring);
            if self.events.load(Ordering::Acquire) == seen {
                r = self.changed.wait(r).unwrap_or_else(|e| e.into_inner());
            }
        }
    }

    /// Something changed: wakes the workers waiting for it. The ring lock is
    /// taken in between, so that a worker between its last check and its
    /// sleep (it holds the lock then) cannot miss the signal.
    fn signal(&self) {
        self.changed_under(lock(&self.ring));
    }

    /// The ring was just changed under `r`: bumps the event counter, releases
    /// the lock and wakes the waiting workers.
    fn changed_under(&self, r: MutexGuard<'_, Ring>) {
        self.events.fetch_add(1, Ordering::AcqRel);
        drop(r);
        self.changed.notify_all();
    }

    /// Makes chunk `seq` available to the workers that did not take it yet.
    fn publish(&self, seq: u64, chunk: Arc<Chunk>, taken: usize) {
        let at = self.slot(seq);
        let mut r = lock(&self.ring);
        debug_assert!(r.ready[at].is_none(), "two chunks in slot {at}");
        r.ready[at] = Some((seq, chunk, taken));
        self.changed_under(r);
    }

    /// A worker is done with a chunk; the last one returns its buffers.
    fn release(&self, chunk: Arc<Chunk>) {
        if let Some(done) = Arc::into_inner(chunk) {
            let mut r = lock(&self.ring);
            r.free.push(done.bufs);
            self.changed_under(r);
        }
    }

    /// The input is exhausted after `chunks` chunks.
    fn end(&self, chunks: u64, unused: ChunkBufs) {
        let mut r = lock(&self.ring);
        r.end = Some(chunks);
        r.free.push(unused);
        self.changed_under(r);
    }
}

/// Marks the ring aborted if the worker holding it unwinds, so that the other
/// workers never wait forever for a chunk it was reading or routing (the
/// panic then surfaces when the workers are joined).
struct AbortOnPanic<'a, 'f>(&'a Shared<'f>);

impl Drop for AbortOnPanic<'_, '_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            lock(&self.0.ring).aborted = true;
            self.0.signal();
        }
    }
}

/// One worker's state.
struct Worker<'c> {
    id: usize,
    engine: Engine<'c>,
    agg: Aggregator,
    /// The next chunk to process.
    next: u64,
    /// The input file of the chunks being processed.
    file: u32,
    times: WorkerTimes,
}

impl Worker<'_> {
    fn set_file(&mut self, file: u32) {
        if file != self.file {
            self.file = file;
            self.engine.set_file(file);
        }
    }

    /// This worker is through with chunk `seq`: hands its facts of it over.
    fn facts_done(&mut self, shared: &Shared<'_>, seq: u64) {
        if let Some(m) = shared.facts.as_ref() {
            let facts = self.engine.take_facts_upto(seq);
            lock(m).done(self.id, seq, facts);
        }
    }

    /// Processes this worker's packets of a chunk routed by any worker.
    fn process(&mut self, chunk: &Chunk) {
        self.set_file(chunk.file);
        self.engine.set_chunk(self.next);
        let bufs = &chunk.bufs;
        if let Some(mine) = bufs.routes.get(self.id) {
            for r in mine {
                self.engine
                    .process_routed(r, &bufs.buf, &bufs.learned, &mut self.agg);
            }
        }
        self.next += 1;
    }

    /// Decodes every packet of the chunk this worker just read and routes it
    /// to its owner (every worker for DNS). `inline`: this worker is up to
    /// date with every earlier chunk, so it processes its own packets now,
    /// while they are hot, instead of routing them to itself.
    fn route(&mut self, bufs: &mut ChunkBufs, seq: u64, n: usize, file: u32, inline: bool) {
        // (Also for the facts of the DNS messages parsed while routing.)
        self.set_file(file);
        self.engine.set_chunk(seq);
        let me = self.id;
        let ChunkBufs {
            buf,
            locs,
            routes,
            learned,
        } = bufs;
        routes.resize_with(n, Vec::new);
        for r in routes.iter_mut() {
            r.clear();
        }
        learned.clear();
        for loc in locs.iter() {
            let raw = loc.packet(buf);
            let Some((route, pkt, hash)) = self.engine.route(&raw, learned) else {
                continue;
            };
            let own = |o: usize| inline && o == me;
            match route {
                Route::Worker(o) if own(o as usize) => {
                    self.engine.process_decoded(
                        &pkt,
                        raw.ts_ns,
                        raw.frame,
                        hash,
                        &[],
                        &mut self.agg,
                    );
                }
                Route::Worker(o) => {
                    if let Some(r) = routes.get_mut(o as usize) {
                        r.push(Routed::new(&pkt, &raw, buf, hash));
                    }
                }
                Route::All | Route::Dns { .. } => {
                    // DNS over TCP goes to every worker. A UDP DNS message
                    // goes to its flow's owner, and to the others only if it
                    // taught names (they need nothing else from it).
                    let (routed, names, only) = match route {
                        Route::Dns { owner, start, end } => {
                            let names = &learned[start as usize..end as usize];
                            let r = Routed::new(&pkt, &raw, buf, hash).with_learned(start, end);
                            (r, names, names.is_empty().then_some(owner as usize))
                        }
                        _ => (Routed::new(&pkt, &raw, buf, hash), &[][..], None),
                    };
                    for (i, r) in routes.iter_mut().enumerate() {
                        if only.is_some_and(|o| o != i) {
                            continue;
                        }
                        if own(i) {
                            self.engine.process_decoded(
                                &pkt,
                                raw.ts_ns,
                                raw.frame,
                                hash,
                                names,
                                &mut self.agg,
                            );
                        } else {
                            r.push(routed);
                        }
                    }
                }
            }
        }
        if inline {
            self.next += 1;
        }
    }
}

/// Worker `id`: reads, routes and processes chunks until the input is done.
fn run_worker(
    id: usize,
    shared: &Shared<'_>,
    cfg: Config,
    catalog: &Catalog,
    opts: AggOptions,
    facts: bool,
) -> WorkerResult {
    let _abort = AbortOnPanic(shared);
    let mut engine = Engine::with_facts(cfg, catalog, facts.then(crate::facts::FactSink::memory));
    engine.set_shard(id as u32, shared.n as u32);
    let mut wk = Worker {
        id,
        engine,
        agg: Aggregator::new(opts),
        next: 0,
        file: u32::MAX,
        times: WorkerTimes::default(),
    };
    loop {
        let waiting = Instant::now();
        let job = shared.next_job(wk.next);
        let started = Instant::now();
        wk.times.wait += started.duration_since(waiting).as_secs_f64();
        match job {
            Job::Process(chunk) => {
                wk.process(&chunk);
                wk.facts_done(shared, wk.next - 1);
                wk.times.analyse += started.elapsed().as_secs_f64();
                shared.release(chunk);
            }
            Job::Read(mut input, mut bufs) => {
                let Some(file) = input.read_chunk(&mut bufs) else {
                    shared.end(input.seq, bufs);
                    continue;
                };
                let seq = input.seq;
                input.seq += 1;
                drop(input);
                let routing = Instant::now();
                wk.times.read += routing.duration_since(started).as_secs_f64();
                shared.signal();
                let inline = wk.next == seq;
                wk.route(&mut bufs, seq, shared.n, file, inline);
                if inline {
                    wk.facts_done(shared, seq);
                }
                wk.times.route += routing.elapsed().as_secs_f64();
                // (Several workers: the others always still need the chunk.)
                shared.publish(seq, Arc::new(Chunk { file, bufs }), usize::from(inline));
            }
            Job::Done => break,
        }
    }
    let flushing = Instant::now();
    wk.engine.flush(&mut wk.agg);
    wk.times.analyse += flushing.elapsed().as_secs_f64();
    let latency = wk.engine.latency.take();
    (wk.engine.stats.clone(), wk.agg, latency, wk.times)
}

/// Runs `n` workers over all inputs and merges their results: the summary is
/// the same whatever `n` (see `Engine::set_shard`) unless a cap of the memory
/// budget is reached.
///
/// The input is read once, in chunks (one read buffer each, `chunk_bytes`),
/// by whichever worker is free: it takes the input lock, reads the next
/// chunk, releases the lock, then decodes every packet of the chunk and
/// routes it (flow owner, or every worker for DNS) as a [`Routed`] record
/// pointing into the chunk's buffer, and publishes the chunk. A UDP DNS
/// message is parsed there, once; the names it teaches travel with the chunk
/// to every worker. Every worker
/// processes its packets of chunk 0, 1, 2, ... in order, so each flow sees
/// its packets in capture order; a worker that routes the chunk it is due to
/// process next handles its own packets right away. Reading, decoding and
/// analysis are spread over all workers; no packet is copied or decoded
/// twice, a few locks are taken per chunk, and at most `2n + 2` chunks are
/// in flight (bounded memory). A worker with nothing to do spins briefly
/// before it sleeps on the condition variable: most waits are shorter than a
/// sleep and a wake-up.
#[allow(clippy::too_many_arguments)]
fn run_workers(
    n: usize,
    chunk_bytes: usize,
    max_record: usize,
    cfg: &Config,
    catalog: &Catalog,
    agg_opts: &AggOptions,
    files: &[String],
    facts_out: Option<Box<dyn Write + Send>>,
    progress: bool,
) -> Merged {
    debug_assert!(n > 1, "one worker reads directly (see analyse)");
    let facts = facts_out.is_some();
    let max_chunks = 2 * n + 2;
    let shared = Shared {
        input: Mutex::new(InputState {
            files,
            next_file: 0,
            reader: None,
            seq: 0,
            errors: Vec::new(),
            stats: Stats::default(),
            progress,
            bar: Progress::new(false, None),
            chunk_bytes,
            max_record,
        }),
        ring: Mutex::new(Ring {
            ready: (0..max_chunks).map(|_| None).collect(),
            free: Vec::new(),
            allocated: 0,
            end: None,
            aborted: false,
        }),
        changed: Condvar::new(),
        events: AtomicU64::new(0),
        n,
        max_chunks,
        facts: facts_out.map(|out| Mutex::new(FactMerge::new(out, n))),
    };
    let results: Vec<WorkerResult> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..n)
            .map(|w| {
                let (cfg, mut opts, shared) = (cfg.clone(), agg_opts.clone(), &shared);
                // (Each worker keeps its share of the hosts.)
                opts.max_hosts = (opts.max_hosts / n).max(1);
                opts.candidate_bytes /= n;
                s.spawn(move || run_worker(w, shared, cfg, catalog, opts, facts))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("worker panicked"))
            .collect()
    });
    let input = shared.input.into_inner().unwrap_or_else(|e| e.into_inner());
    let mut stats = input.stats;
    let mut agg: Option<Aggregator> = None;
    let mut latency: Option<hdrhistogram::Histogram<u64>> = None;
    let mut workers = Vec::with_capacity(results.len());
    for (s, a, l, t) in results {
        workers.push(t);
        stats.merge(&s);
        match agg.as_mut() {
            Some(agg) => agg.merge(a),
            None => agg = Some(a),
        }
        match (latency.as_mut(), l) {
            (Some(h), Some(l)) => {
                let _ = h.add(&l);
            }
            (None, l) => latency = l,
            _ => {}
        }
    }
    let facts_error = shared
        .facts
        .and_then(|m| m.into_inner().unwrap_or_else(|e| e.into_inner()).finish());
    let agg = agg.unwrap_or_else(|| Aggregator::new(agg_opts.clone()));
    (stats, agg, input.errors, facts_error, latency, workers)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

type FileReader = PcapReader<Box<dyn Read + Send>>;

/// Opens one input: the reader and the file size (none for stdin).
fn open_reader(
    path: &str,
    buffer: usize,
    max_record: usize,
) -> Result<(FileReader, Option<u64>), String> {
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
    let reader =
        PcapReader::with_limits(input, buffer, max_record).map_err(|e| format!("{path}: {e}"))?;
    let total = if reader.is_gzip() { None } else { total };
    Ok((reader, total))
}

/// Reads one input into the engine. Errors are "file: offset N: reason".
fn read_one(
    path: &str,
    max_record: usize,
    engine: &mut Engine<'_>,
    agg: &mut Aggregator,
    progress: bool,
) -> Result<(), String> {
    let (mut reader, total) = open_reader(path, DEFAULT_BUFFER_SIZE, max_record)?;
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

/// An I/O error in a few words ("no such file", "permission denied").
pub fn io_reason(e: &io::Error) -> String {
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
