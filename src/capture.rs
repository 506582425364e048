//! Live analysis: one capture thread per interface (see [`crate::source::live`])
//! feeds one engine, so the flows of every interface meet in one flow table.
//!
//! The engine's clock is the capture time of the frames, as for files. When
//! the link is quiet the clock also follows the wall clock (less a margin for
//! frames still in flight), so idle flows end and their events are written
//! without waiting for the next packet.
//!
//! Stopping (a signal, `--duration`, `--count`, or every interface gone)
//! loses nothing: the capture threads send what they hold, the engine ends
//! the flows still open, and the caller writes the final summary.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, RecvTimeoutError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use std::sync::Arc;

use crate::engine::{Config, Engine, FlowSink};
use crate::pipeline::Analysis;
use crate::policy::Policy;
use crate::report::{AggOptions, Aggregator};
use crate::signatures::Catalog;
use crate::source::live::{self, IfaceCounters, Live};
use crate::source::RawPacket;
use crate::stats::Stats;

/// When a capture stops by itself.
#[derive(Debug, Clone, Copy, Default)]
pub struct Limits {
    /// Wall time.
    pub duration: Option<Duration>,
    /// Frames analysed (duplicates included).
    pub count: Option<u64>,
}

/// Drop counters summed over the interfaces (libpcap's `pcap_stats`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Drops {
    /// Frames libpcap received (after the BPF filter).
    pub received: u64,
    /// No room in the kernel buffer: the analysis fell behind.
    pub kernel: u64,
    /// Dropped by the interface or its driver.
    pub interface: u64,
}

impl Drops {
    /// What was counted since `base`.
    pub fn since(&self, base: &Drops) -> Drops {
        Drops {
            received: self.received.saturating_sub(base.received),
            kernel: self.kernel.saturating_sub(base.kernel),
            interface: self.interface.saturating_sub(base.interface),
        }
    }
}

/// What a periodic callback sees: the aggregates and the counters. For
/// snapshots `agg` counts every open flow as if it ended now (the open flows
/// stay open); for metrics it holds the ended flows only, so that counters
/// only grow.
pub struct Tick<'a> {
    /// The catalog in use (it changes on a reload) and the services the
    /// policy sanctions.
    pub catalog: &'a Catalog,
    pub sanctioned: &'a std::collections::BTreeSet<String>,
    pub agg: &'a Aggregator,
    pub stats: &'a Stats,
    pub drops: Drops,
    pub active_flows: usize,
    pub latency: Option<&'a hdrhistogram::Histogram<u64>>,
    /// The interfaces: name, whether they still capture, and why not.
    pub interfaces: &'a [IfaceCounters],
}

impl Tick<'_> {
    /// Why interfaces stopped capturing, one line each.
    pub fn interface_errors(&self) -> Vec<String> {
        self.interfaces
            .iter()
            .filter_map(|c| c.error.lock().ok().and_then(|e| e.clone()))
            .collect()
    }
}

/// A live run's results: as for files, plus the drops and one line per
/// interface that stopped early.
pub struct LiveAnalysis {
    pub analysis: Analysis,
    pub drops: Drops,
    /// The catalog and policy of the last reload, if there was one: the
    /// aggregates refer to this catalog.
    pub reloaded: Option<(Arc<Catalog>, Policy)>,
}

/// Loads the catalog and the policy again (SIGHUP).
pub type Reload<'f> = &'f mut dyn FnMut() -> Result<(Catalog, Policy), String>;

/// The periodic callback and its period.
pub type OnTick<'f> = (Duration, &'f mut dyn FnMut(Tick<'_>));

/// Batches waiting for the analysis thread, at most (8 MiB of frames; the
/// kernel ring of each interface is the large buffer).
pub const CHANNEL_BATCHES: usize = 32;

/// Memory a capture holds outside the analysis: the kernel ring of each
/// interface (`buffer_mb`, mapped into the process), the batch each
/// capture thread fills, the batches in the channel and the one being
/// analysed. `capture` takes it off `--max-memory` before splitting it.
pub fn capture_memory(interfaces: usize, buffer_mb: u32, snaplen: u32) -> u64 {
    let rings = (interfaces as u64 * u64::from(buffer_mb.clamp(1, 2047))) << 20;
    let batch = crate::source::live::batch_memory(snaplen) as u64;
    rings + (CHANNEL_BATCHES + interfaces + 1) as u64 * batch
}

/// Frames still in flight (in a batch or the channel) are at most this old
/// when the wall clock moves the engine's clock on.
const CLOCK_MARGIN_NS: i64 = 2_000_000_000;

fn wall_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos().min(i64::MAX as u128) as i64)
}

fn drops(counters: &[IfaceCounters]) -> Drops {
    let mut d = Drops::default();
    for c in counters {
        d.received += c.received.load(Ordering::Relaxed);
        d.kernel += c.dropped_kernel.load(Ordering::Relaxed);
        d.interface += c.dropped_interface.load(Ordering::Relaxed);
    }
    d
}

/// Periodic callbacks of a live run, and what a SIGHUP does.
#[derive(Default)]
pub struct Periodic<'f> {
    /// Snapshots (open flows counted).
    pub snapshot: Option<OnTick<'f>>,
    /// Metrics (ended flows).
    pub metrics: Option<OnTick<'f>>,
    /// Set by SIGHUP; cleared when the reload was tried.
    pub hangup: Option<&'f AtomicBool>,
    pub reload: Option<Reload<'f>>,
    /// Rotation (`--hourly`): every period of the wall clock (aligned on
    /// multiples of it since the epoch, so hours start on the hour), the
    /// flows that ended in it and the packets counted in it.
    pub rotate: Option<OnRotate<'f>>,
}

/// The rotation period in nanoseconds, and what receives each period's
/// tick with the period's start (nanoseconds since the epoch).
pub type OnRotate<'f> = (i64, &'f mut dyn FnMut(Tick<'_>, i64));

/// Sends each ended flow to the run's aggregator and, when rotating, to the
/// current period's too.
struct Tee<'a> {
    main: &'a mut Aggregator,
    period: Option<&'a mut Aggregator>,
}

impl FlowSink for Tee<'_> {
    fn flow_ended(&mut self, rec: crate::engine::FlowRecord, catalog: &Catalog) {
        if let Some(p) = self.period.as_mut() {
            p.flow_ended(rec.clone(), catalog);
        }
        self.main.flow_ended(rec, catalog);
    }
}

fn tee<'a>(main: &'a mut Aggregator, period: &'a mut Option<Period>) -> Tee<'a> {
    Tee {
        main,
        period: period.as_mut().map(|p| &mut p.agg),
    }
}

/// Hands a finished period (ending at `end`) to the rotation callback.
fn emit_period(
    p: Period,
    end: i64,
    engine: &Engine<'_>,
    sanctioned: &std::collections::BTreeSet<String>,
    counters: &[IfaceCounters],
    f: &mut dyn FnMut(Tick<'_>, i64),
) {
    let stats = engine
        .stats
        .since(&p.base, Some(p.start), Some(end.max(p.start)));
    f(
        Tick {
            catalog: engine.catalog(),
            sanctioned,
            agg: &p.agg,
            stats: &stats,
            drops: drops(counters).since(&p.base_drops),
            active_flows: engine.active_flows(),
            latency: None,
            interfaces: counters,
        },
        p.start,
    );
}

/// The period being collected.
struct Period {
    start: i64,
    agg: Aggregator,
    /// The run's counters when the period began.
    base: Stats,
    base_drops: Drops,
}

/// Captures on `lives` until `stop` is set or a limit is reached, calling
/// the periodic callbacks.
#[allow(clippy::too_many_arguments)]
pub fn run(
    lives: Vec<Live>,
    cfg: &Config,
    catalog: &Catalog,
    sanctioned: &std::collections::BTreeSet<String>,
    agg_opts: AggOptions,
    facts_out: Option<Box<dyn std::io::Write + Send>>,
    limits: Limits,
    stop: &AtomicBool,
    mut periodic: Periodic<'_>,
) -> LiveAnalysis {
    let mut reloaded: Option<(Arc<Catalog>, Policy)> = None;
    let counters: Vec<IfaceCounters> = lives
        .iter()
        .map(|l| IfaceCounters {
            name: l.name.clone(),
            ..IfaceCounters::default()
        })
        .collect();
    let cap_stop = AtomicBool::new(false);
    let mut engine = Engine::new(cfg.clone(), catalog, facts_out);
    // A period's aggregator writes no events (the run's does).
    let period_opts = AggOptions {
        events: None,
        clickhouse: None,
        distributions: false,
        ..agg_opts.clone()
    };
    let mut agg = Aggregator::new(agg_opts);
    let period_len = periodic.rotate.as_ref().map(|(len, _)| (*len).max(1));
    // The first period starts now (its file is named after this instant, so
    // a restart within the hour does not overwrite the hour's file); the next
    // ones on multiples of the period.
    let mut period = period_len.map(|_| Period {
        start: wall_ns(),
        agg: Aggregator::new(period_opts.clone()),
        base: Stats::default(),
        base_drops: Drops::default(),
    });

    std::thread::scope(|s| {
        let (tx, rx) = sync_channel(CHANNEL_BATCHES);
        for (i, live) in lives.into_iter().enumerate() {
            let tx = tx.clone();
            let c = &counters[i];
            let st = &cap_stop;
            std::thread::Builder::new()
                .name(format!("capture-{i}"))
                .spawn_scoped(s, move || live::run(live, i, tx, st, c))
                .expect("spawn a capture thread");
        }
        drop(tx);
        let started = Instant::now();
        let mut next_snapshot = periodic
            .snapshot
            .as_ref()
            .map(|(every, _)| started + *every);
        let mut next_metrics = periodic.metrics.as_ref().map(|_| started);
        let mut next_flush = started + Duration::from_secs(1);
        let mut frames = 0u64;
        let mut stopping = false;
        loop {
            let limit_hit = limits.duration.is_some_and(|d| started.elapsed() >= d)
                || limits.count.is_some_and(|c| frames >= c);
            if !stopping && (stop.load(Ordering::Relaxed) || limit_hit) {
                stopping = true;
                cap_stop.store(true, Ordering::Relaxed);
            }
            match rx.recv_timeout(Duration::from_millis(50)) {
                Ok(batch) => {
                    for f in &batch.frames {
                        if limits.count.is_some_and(|c| frames >= c) {
                            break;
                        }
                        frames += 1;
                        let raw = RawPacket {
                            ts_ns: f.ts_ns,
                            linktype: batch.linktype,
                            data: batch.data(f),
                            orig_len: f.orig_len,
                            frame: frames,
                        };
                        engine.process(&raw, &mut tee(&mut agg, &mut period));
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    if !stopping {
                        engine.advance_clock(
                            wall_ns().saturating_sub(CLOCK_MARGIN_NS),
                            &mut tee(&mut agg, &mut period),
                        );
                    }
                }
                // Every capture thread ended: stopped, or its interface is gone.
                Err(RecvTimeoutError::Disconnected) => break,
            }
            if periodic
                .hangup
                .is_some_and(|h| h.swap(false, Ordering::Relaxed))
            {
                if let Some(reload) = periodic.reload.as_mut() {
                    match reload() {
                        Ok((mut cat, policy)) => {
                            // (The current period's services are among the run's.)
                            let map = cat.reconcile(engine.catalog(), &agg.used_services());
                            agg.remap_services(&map);
                            if let Some(p) = period.as_mut() {
                                p.agg.remap_services(&map);
                            }
                            let cat = Arc::new(cat);
                            engine.set_catalog(Arc::clone(&cat));
                            eprintln!(
                                "lanterne: SIGHUP: catalog ({} services) and policy reloaded; counts kept",
                                cat.services.len()
                            );
                            reloaded = Some((cat, policy));
                        }
                        Err(e) => eprintln!(
                            "lanterne: SIGHUP: reload failed, the current catalog and policy stay: {e}"
                        ),
                    }
                }
            }
            if let (Some(len), Some((_, f))) = (period_len, periodic.rotate.as_mut()) {
                let wall = wall_ns();
                let due = period
                    .as_ref()
                    .is_some_and(|p| wall >= p.start.div_euclid(len) * len + len);
                if due {
                    let next = Period {
                        start: wall.div_euclid(len) * len,
                        agg: Aggregator::new(period_opts.clone()),
                        base: engine.stats.clone(),
                        base_drops: drops(&counters),
                    };
                    if let Some(p) = period.replace(next) {
                        let current = reloaded.as_ref().map_or(sanctioned, |(_, p)| &p.sanctioned);
                        let end = p.start.div_euclid(len) * len + len;
                        emit_period(p, end, &engine, current, &counters, &mut **f);
                    }
                }
            }
            let now = Instant::now();
            if now >= next_flush {
                // Events and facts reach their files within a second, and
                // flow rows ClickHouse.
                let _ = agg.finish_events();
                agg.flush_clickhouse(Duration::from_secs(1));
                engine.flush_facts();
                next_flush = now + Duration::from_secs(1);
            }
            let current = reloaded.as_ref().map_or(sanctioned, |(_, p)| &p.sanctioned);
            let tick = |agg: &Aggregator, f: &mut dyn FnMut(Tick<'_>)| {
                f(Tick {
                    catalog: engine.catalog(),
                    sanctioned: current,
                    agg,
                    stats: &engine.stats,
                    drops: drops(&counters),
                    active_flows: engine.active_flows(),
                    latency: engine.latency.as_ref(),
                    interfaces: &counters,
                })
            };
            if let (Some(at), Some((every, f))) = (next_snapshot, periodic.snapshot.as_mut()) {
                if now >= at {
                    let mut snap = agg.snapshot();
                    engine.snapshot(&mut snap);
                    tick(&snap, *f);
                    next_snapshot = now.checked_add(*every);
                }
            }
            if let (Some(at), Some((every, f))) = (next_metrics, periodic.metrics.as_mut()) {
                if now >= at {
                    tick(&agg, *f);
                    next_metrics = now.checked_add(*every);
                }
            }
        }
    });
    engine.flush(&mut tee(&mut agg, &mut period));
    // The last, partial period.
    if let (Some(p), Some((_, f))) = (period.take(), periodic.rotate.as_mut()) {
        let current = reloaded.as_ref().map_or(sanctioned, |(_, p)| &p.sanctioned);
        let end = wall_ns().max(p.start);
        emit_period(p, end, &engine, current, &counters, &mut **f);
    }
    let read_errors: Vec<String> = counters
        .iter()
        .filter_map(|c| c.error.lock().ok().and_then(|e| e.clone()))
        .collect();
    LiveAnalysis {
        reloaded,
        drops: drops(&counters),
        analysis: Analysis {
            stats: engine.stats.clone(),
            facts_error: engine.facts_error(),
            latency: engine.latency.take(),
            agg,
            read_errors,
            threads: 1,
            workers: Vec::new(),
        },
    }
}
